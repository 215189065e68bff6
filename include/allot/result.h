// Errors as values at module boundaries.
//
// Every fallible function of the public API returns a Status or a Result<T>; no exception crosses it.
// An Error carries a closed ErrorCode (mapped in one place to exit codes and HTTP statuses, see
// ExitCodeFor / HttpStatusFor) and a message that says what was wrong and where.
// Thread-safety: plain values; safe to copy between threads.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace allot {

enum class ErrorCode {
  kInvalidArgument,    // bad input: parse errors, unknown keys, out-of-range values (exit 2, HTTP 400/422)
  kNotFound,           // unknown id or name (exit 2, HTTP 404)
  kAlreadyExists,      // duplicate id (exit 2, HTTP 409)
  kConflict,           // a state conflict: overlapping reservation, version mismatch (HTTP 409)
  kFailedPrecondition, // valid input that the current state refuses (exit 1, HTTP 409)
  kResourceExhausted,  // over a limit: rate, admission queue, size (exit 1, HTTP 429/413)
  kUnauthenticated,    // HTTP 401
  kPermissionDenied,   // HTTP 403
  kUnavailable,        // a dependency is down; retry later (exit 1, HTTP 503)
  kInternal,           // a bug or I/O failure (exit 1, HTTP 500)
};

// Short stable name of a code ("invalid_argument", ...), used in JSON error bodies.
const char* ErrorCodeName(ErrorCode code);
// The CLI exit code for an error: 2 for bad input, 1 otherwise.
int ExitCodeFor(ErrorCode code);
// The HTTP status for an error.
int HttpStatusFor(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

inline Error InvalidArgument(std::string msg) { return {ErrorCode::kInvalidArgument, std::move(msg)}; }
inline Error NotFound(std::string msg) { return {ErrorCode::kNotFound, std::move(msg)}; }
inline Error AlreadyExists(std::string msg) { return {ErrorCode::kAlreadyExists, std::move(msg)}; }
inline Error Conflict(std::string msg) { return {ErrorCode::kConflict, std::move(msg)}; }
inline Error FailedPrecondition(std::string msg) { return {ErrorCode::kFailedPrecondition, std::move(msg)}; }
inline Error ResourceExhausted(std::string msg) { return {ErrorCode::kResourceExhausted, std::move(msg)}; }
inline Error Internal(std::string msg) { return {ErrorCode::kInternal, std::move(msg)}; }

// Status: success, or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), ok_(false) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }
  bool ok() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }
  const std::string& message() const { return error_.message; }
  ErrorCode code() const { return error_.code; }

 private:
  Error error_;
  bool ok_ = true;
};

// Result<T>: a T, or an Error. REQUIRES: value() only when ok(), error() only when !ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : v_(std::move(e)) {}      // NOLINT: implicit by design
  Result(Status s) : v_(s.error()) { assert(!s.ok()); }  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  Status status() const { return ok() ? Status() : Status(error()); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace allot
