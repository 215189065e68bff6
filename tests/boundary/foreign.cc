// Built like a file of src/server: another module's private header must not resolve.
#include "engine/engine_impl.h"

namespace allot::server {
int BoundaryProbeForeign() { return 0; }
}  // namespace allot::server
