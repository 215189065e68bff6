// UTF-8 at the boundaries: every byte string that came from outside (an HTTP path, a header, a JSON or
// YAML string, a file name) is checked with ValidUtf8 before it is used as text, and anything echoed into a
// log line, an audit record or an error message goes through SafeUtf8 so that no JSON encoder downstream
// ever sees an invalid sequence. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace allot {

// True when `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
bool ValidUtf8(std::string_view s);

// Byte offset of the first byte of the first ill-formed sequence in `s`, or std::string_view::npos.
size_t InvalidUtf8Offset(std::string_view s);

// `s` with every ill-formed sequence replaced by U+FFFD, and at most `max_bytes` bytes long, cut only
// between characters (then "..." is appended, and counts against max_bytes). max_bytes 0: no limit.
std::string SafeUtf8(std::string_view s, size_t max_bytes = 0);

// `s` quoted for an error message: control bytes and ill-formed sequences as \xNN, the rest as is, cut
// (between characters) at `max_bytes` with "...". The result is always valid UTF-8.
std::string QuoteForError(std::string_view s, size_t max_bytes = 120);

}  // namespace allot
