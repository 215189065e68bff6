// UTF-8 checks and repairs for text that crosses a boundary (see include/allot/utf8.h).
#include "allot/utf8.h"

#include <cstdint>

namespace allot {
namespace {

// Length of the well-formed sequence at s[i], or 0 when the bytes there are not one (RFC 3629, table 3-7
// of the Unicode standard: the second byte's range depends on the first to exclude overlongs and surrogates).
size_t SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; k++) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

size_t InvalidUtf8Offset(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      i++;
      continue;
    }
    size_t n = SequenceLength(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool ValidUtf8(std::string_view s) { return InvalidUtf8Offset(s) == std::string_view::npos; }

std::string SafeUtf8(std::string_view s, size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t n = SequenceLength(s, i);
    if (n == 0) {
      out += kReplacement;
      i++;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  if (max_bytes == 0 || out.size() <= max_bytes) return out;
  size_t cut = max_bytes > 3 ? max_bytes - 3 : 0;
  // `out` is well-formed, so backing up over continuation bytes lands on a character's first byte.
  while (cut > 0 && (static_cast<uint8_t>(out[cut]) & 0xC0) == 0x80) cut--;
  out.resize(cut);
  out += "...";
  return out;
}

std::string QuoteForError(std::string_view s, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = SequenceLength(s, i);
    auto c = static_cast<uint8_t>(s[i]);
    std::string piece;
    if (n == 0 || c < 0x20 || c == 0x7F) {
      piece = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
      n = 1;
    } else {
      piece.assign(s.substr(i, n));
    }
    if (max_bytes && out.size() + piece.size() > max_bytes) {
      out += "...";
      return out;
    }
    out += piece;
    i += n;
  }
  return out;
}

}  // namespace allot
