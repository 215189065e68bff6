// Line-by-line reading of plain or gzip files (zlib's gzopen reads both), for the trace readers.
//
// Memory is one line at a time: a gzip shard of hundreds of thousands of rows is never held whole.
// Also: splitting a CSV line (no quoting: the traces have none) and strict integer/float parsing.
// Thread-safety: a LineReader is used by one thread.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "allot/result.h"

namespace allot::trace {

class LineReader {
 public:
  LineReader() = default;
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Opens `path` (gzip or plain). Errors name the path.
  Status Open(const std::string& path);
  // Reads the next line without its '\n' (and '\r'); false at end of file. Check error() after false.
  bool Next(std::string* line);
  // Non-empty after a read error.
  const std::string& error() const { return error_; }
  size_t line_number() const { return line_; }  // 1-based number of the last line read
  // How far into the file reading is, and its size, in bytes as stored (compressed for gzip): progress.
  int64_t offset() const { return file_ == nullptr ? 0 : static_cast<int64_t>(gzoffset(file_)); }
  int64_t size() const { return size_; }

 private:
  gzFile file_ = nullptr;
  std::string path_, error_;
  std::vector<char> buf_ = std::vector<char>(1 << 16);
  size_t line_ = 0;
  int64_t size_ = 0;
};

// Splits on `sep`, keeping empty fields.
void SplitFields(std::string_view line, char sep, std::vector<std::string_view>* out);
// Splits on runs of spaces and tabs.
void SplitWhitespace(std::string_view line, std::vector<std::string_view>* out);
// Strict whole-field parses; nullopt on anything else (empty, junk, overflow).
std::optional<int64_t> ParseInt(std::string_view s);
std::optional<double> ParseDouble(std::string_view s);

}  // namespace allot::trace
