#include "trace/line_reader.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace allot::trace {

LineReader::~LineReader() {
  if (file_ != nullptr) gzclose(file_);
}

Status LineReader::Open(const std::string& path) {
  path_ = path;
  errno = 0;
  file_ = gzopen(path.c_str(), "rb");
  if (file_ == nullptr) {
    return InvalidArgument(path + ": cannot open: " + (errno != 0 ? std::strerror(errno) : "out of memory"));
  }
  gzbuffer(file_, 1 << 17);
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  size_ = ec ? 0 : static_cast<int64_t>(size);
  return Status::Ok();
}

bool LineReader::Next(std::string* line) {
  line->clear();
  if (file_ == nullptr) return false;
  bool got = false;
  while (gzgets(file_, buf_.data(), static_cast<int>(buf_.size())) != nullptr) {
    got = true;
    size_t n = std::strlen(buf_.data());
    line->append(buf_.data(), n);
    if (n > 0 && buf_[n - 1] == '\n') break;  // else: a longer line, keep reading
  }
  if (!got) {
    int err = 0;
    const char* msg = gzerror(file_, &err);
    if (err != Z_OK && err != Z_BUF_ERROR) error_ = path_ + ": read error: " + msg;
    if (err == Z_BUF_ERROR) error_ = path_ + ": truncated gzip stream after line " + std::to_string(line_);
    return false;
  }
  if (!line->empty() && line->back() == '\n') line->pop_back();
  if (!line->empty() && line->back() == '\r') line->pop_back();
  line_++;
  return true;
}

void SplitFields(std::string_view line, char sep, std::vector<std::string_view>* out) {
  out->clear();
  size_t start = 0;
  while (true) {
    size_t pos = line.find(sep, start);
    if (pos == std::string_view::npos) {
      out->push_back(line.substr(start));
      return;
    }
    out->push_back(line.substr(start, pos - start));
    start = pos + 1;
  }
}

void SplitWhitespace(std::string_view line, std::vector<std::string_view>* out) {
  out->clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) i++;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') i++;
    if (i > start) out->push_back(line.substr(start, i - start));
  }
}

std::optional<int64_t> ParseInt(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace allot::trace
