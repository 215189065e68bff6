// Built like a file of src/server: its own module's private header resolves.
#include "server/state.h"

namespace allot::server {
int BoundaryProbeOwn() { return 0; }
}  // namespace allot::server
