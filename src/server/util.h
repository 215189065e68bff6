// Helpers of the server module: wall-clock time, durations, strict JSON field access with field paths,
// API errors, and the compact binary record encoding used for allocations in the store.
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "allot/clock.h"
#include "allot/engine.h"
#include "allot/result.h"

namespace allot::server {

using Json = nlohmann::json;

// An error for an HTTP answer: status, stable code, message that names the field.
struct ApiError {
  int status = 400;
  std::string code = "invalid_argument";
  std::string message;
  std::string field;
};
ApiError BadRequest(std::string field, std::string message);    // 400 invalid_argument (types, unknown keys)
ApiError Unprocessable(std::string field, std::string message); // 422 invalid_value (values out of range)
ApiError FromError(const Error& e);
std::string ErrorBody(const ApiError& e);
// JSON text that never throws: an invalid UTF-8 sequence that slipped through is written as U+FFFD.
// Every answer, log line and record the server writes goes through it.
std::string Dump(const Json& j);
// Writes JSON text straight into a string, for the answers on the request path (an allocation costs a
// fifth of building a Json and Dump-ing it). Strings are escaped exactly as Dump escapes them; no spaces,
// as Dump writes; keys come in the order written. The caller keeps objects and arrays balanced.
class JsonWriter {
 public:
  // An allocation's answer (~450 bytes) fits. Kept under 1,000 bytes: glibc serves a request of 1,024 or
  // more from its large bins, which first consolidates the fast bins (malloc_consolidate was 2 % of the
  // server's CPU under durable pairs, the answers being freed on another thread than the one making them).
  JsonWriter() { out_.reserve(600); }
  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& Bool(bool v) { return Raw(v ? "true" : "false"); }
  JsonWriter& Null() { return Raw("null"); }
  JsonWriter& Value(const Json& j) { return Raw(Dump(j)); }
  // A value that is JSON text already.
  JsonWriter& Raw(std::string_view json);
  std::string& out() { return out_; }

 private:
  JsonWriter& Open(char c);
  JsonWriter& Close(char c);
  void Comma() {
    if (comma_) out_.push_back(',');
  }
  void Append(std::string_view s);
  std::string out_;
  bool comma_ = false;  // a value came last: the next key or value needs a comma
};

// Text from outside (a string field, a label, a path parameter): valid UTF-8 without control characters.
std::optional<ApiError> CheckText(std::string_view text, const std::string& field);

// WallNowMs, FormatTime, ParseTime and ParseDurationMs are in allot/clock.h.
// A duration from JSON: a number of seconds or a duration string. Errors name `field`.
std::optional<ApiError> JsonDurationMs(const Json& v, const std::string& field, int64_t max_ms, int64_t* out);

// Largest cpu or gpu amount accepted in a request or on a node, in milli-units (2^50: a trillion
// millicores); anything larger is "absurd". Other resources go up to 2^63-1 base units.
inline constexpr int64_t kMaxAmount = int64_t{1} << 50;

// Nesting depth of a JSON text (brackets outside strings); cheap pre-check before parsing.
int JsonDepth(std::string_view text);
// Parses a request body: must be an object; depth at most `max_depth`.
std::optional<ApiError> ParseBody(const std::string& body, int max_depth, Json* out);

// A query parameter that is a count or cursor: decimal digits only, within [min, max]. Errors name `field`.
std::optional<ApiError> ParseCount(std::string_view text, const std::string& field, int64_t min, int64_t max,
                                   int64_t* out);

// Strict object access: every key of `obj` must be in `allowed`.
std::optional<ApiError> CheckKeys(const Json& obj, const std::string& where, std::initializer_list<const char*> allowed);
std::string FieldPath(const std::string& where, const std::string& key);
std::optional<ApiError> GetString(const Json& obj, const std::string& where, const char* key, std::string* out,
                                  size_t max_len = 253);
std::optional<ApiError> GetBool(const Json& obj, const std::string& where, const char* key, bool* out);
// {name: "quantity"} (numbers accepted too) -> canonical name -> internal units.
// A mapping of resource quantities. A memory or disk amount written as a bare number below 1 MiB (most
// likely meant as GB or GiB) adds a warning to `warnings` (when given), or is refused when `strict_units`.
std::optional<ApiError> GetResources(const Json& v, const std::string& field, ResourceMap* out,
                                     std::vector<std::string>* warnings = nullptr, bool strict_units = false);
// Seed 001's agent type of an agent id: the id without a trailing `_<digits>` or `-<digits>`
// ("policy_analyzer_01" -> "policy_analyzer"); the id itself otherwise.
std::string AgentType(const std::string& agent_id);
// Adds each warning as a `Warning: 299 - "text"` header (as Kubernetes answers admission warnings).
void AddWarningHeaders(const std::vector<std::string>& warnings,
                       std::vector<std::pair<std::string, std::string>>* headers);
std::optional<ApiError> GetLabels(const Json& v, const std::string& field, Labels* out);
// Priorities: a name (background=0 ... critical=4) or an integer 0..kMaxPriority.
inline constexpr int kMaxPriority = 1'000'000;
std::optional<ApiError> GetPriority(const Json& v, const std::string& field, int* out);

// Log levels: debug 0, info 1, warn 2; -1 for any other name.
int LogLevelRank(const std::string& level);

// Tenant paths: segments of [A-Za-z0-9._-] (not "." or "..") separated by '/', at most 253 characters.
std::optional<ApiError> ValidateTenant(const std::string& tenant, const std::string& field);
bool InSubtree(const std::string& tenant, const std::string& root);

// Resource amounts as JSON outputs report them (DESIGN.md units; `gpu_milli` beside `gpu`).
Json ResourcesJson(const ResourceMap& m);
void WriteResources(JsonWriter& w, const ResourceMap& m);  // the same, as an object written to `w`
// Internal units, for records in the store.
Json RawResources(const ResourceMap& m);
ResourceMap RawResourcesFrom(const Json& j);

// A minimal binary encoder: varints and length-prefixed strings, for the hot allocation records.
class Encoder {
 public:
  void U(uint64_t v);
  void I(int64_t v) { U((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)); }
  void S(std::string_view s);
  void Map(const ResourceMap& m);
  void Labels(const allot::Labels& m);
  std::string& out() { return out_; }

 private:
  std::string out_;
};
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  uint64_t U();
  int64_t I() {
    uint64_t v = U();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  std::string S() { return std::string(SV()); }
  std::string_view SV();  // a string, as a view into the input
  ResourceMap Map();
  // A map into `out`, reusing its entries where the keys are the same and in the same order (a record
  // decoded into the last one's storage allocates nothing when the resources are the same names).
  void MapInto(ResourceMap* out);
  allot::Labels Labels();
  bool ok() const { return ok_; }
  bool done() const { return pos_ >= in_.size(); }  // no bytes left (fields added later are optional)

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace allot::server
