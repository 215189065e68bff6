#include "server/util.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "allot/resources.h"
#include "allot/utf8.h"

namespace allot::server {

ApiError BadRequest(std::string field, std::string message) {
  return {400, "invalid_argument", (field.empty() ? "" : field + ": ") + message, field};
}
ApiError Unprocessable(std::string field, std::string message) {
  return {422, "invalid_value", (field.empty() ? "" : field + ": ") + message, field};
}
ApiError FromError(const Error& e) {
  int status = HttpStatusFor(e.code);
  if (e.code == ErrorCode::kInvalidArgument) status = 422;
  return {status, ErrorCodeName(e.code), e.message, ""};
}
std::string ErrorBody(const ApiError& e) {
  Json err = {{"code", e.code}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  return Dump(Json{{"error", err}});
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

JsonWriter& JsonWriter::Open(char c) {
  Comma();
  out_.push_back(c);
  comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::Close(char c) {
  out_.push_back(c);
  comma_ = true;
  return *this;
}

void JsonWriter::Append(std::string_view s) {
  bool plain = true;
  for (unsigned char c : s) plain &= c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  if (!plain) {
    out_ += Dump(Json(std::string(s)));  // escapes, and U+FFFD for bytes that are not UTF-8
    return;
  }
  out_.push_back('"');
  out_.append(s);
  out_.push_back('"');
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  Comma();
  Append(key);
  out_.push_back(':');
  comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view s) {
  Comma();
  Append(s);
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t v) {
  Comma();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, end);
  comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  Comma();
  out_.append(json);
  comma_ = true;
  return *this;
}


std::optional<ApiError> CheckText(std::string_view text, const std::string& field) {
  if (size_t bad = InvalidUtf8Offset(text); bad != std::string_view::npos) {
    return BadRequest(field, "is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  for (size_t i = 0; i < text.size(); i++) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) return BadRequest(field, "contains a control character (byte " + std::to_string(i) + ")");
  }
  return std::nullopt;
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatTime(int64_t ms) {
  // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar in 400-year eras of 146,097
  // days, counted from 0000-03-01 so that the leap day ends a year), without gmtime or printf: answers
  // carry several times each.
  int64_t days = ms >= 0 ? ms / 86'400'000 : -((-ms + 86'399'999) / 86'400'000);
  int64_t in_day = ms - days * 86'400'000;
  int64_t z = days + 719'468;
  int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
  int64_t doe = z - era * 146'097;                                         // day of the era, 0..146096
  int64_t yoe = (doe - doe / 1'460 + doe / 36'524 - doe / 146'096) / 365;  // year of the era, 0..399
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                   // day of the year from March 1
  int64_t mp = (5 * doy + 2) / 153;                                        // month from March, 0..11
  int64_t day = doy - (153 * mp + 2) / 5 + 1;
  int64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) {  // outside four digits: as printf writes it
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ",
                  static_cast<long long>(year), static_cast<long long>(month), static_cast<long long>(day),
                  static_cast<long long>(in_day / 3'600'000), static_cast<long long>(in_day / 60'000 % 60),
                  static_cast<long long>(in_day / 1000 % 60), static_cast<long long>(in_day % 1000));
    return buf;
  }
  char out[24];
  auto put = [&out](int at, int64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--, v /= 10) out[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  out[4] = '-';
  put(5, month, 2);
  out[7] = '-';
  put(8, day, 2);
  out[10] = 'T';
  put(11, in_day / 3'600'000, 2);
  out[13] = ':';
  put(14, in_day / 60'000 % 60, 2);
  out[16] = ':';
  put(17, in_day / 1000 % 60, 2);
  out[19] = '.';
  put(20, in_day % 1000, 3);
  out[23] = 'Z';
  return std::string(out, 24);
}

std::optional<int64_t> ParseTime(std::string_view t) {
  int y, mo, d, h, mi, s;
  if (t.size() < 19 || std::sscanf(std::string(t.substr(0, 19)).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d,
                                   &h, &mi, &s) != 6) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  std::string_view rest = t.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    int64_t frac = 0, scale = 100;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) {
      frac += (rest[i] - '0') * scale;
      scale /= 10;
      i++;
    }
    ms += frac;
    rest = rest.substr(i);
  }
  if (rest == "Z" || rest == "z" || rest.empty()) return ms;
  if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = (rest[1] - '0') * 10 + (rest[2] - '0');
    int om = (rest[4] - '0') * 10 + (rest[5] - '0');
    int64_t off = (oh * 60 + om) * 60000LL;
    return rest[0] == '+' ? ms - off : ms + off;
  }
  return std::nullopt;
}

std::optional<ApiError> JsonDurationMs(const Json& v, const std::string& field, int64_t max_ms, int64_t* out) {
  std::optional<int64_t> ms;
  if (v.is_number()) {
    double d = v.get<double>();
    if (!(d >= 0)) return Unprocessable(field, "must not be negative");
    if (d * 1000 > static_cast<double>(max_ms)) return Unprocessable(field, "is too long");
    ms = static_cast<int64_t>(std::llround(d * 1000));
  } else if (v.is_string()) {
    ms = ParseDurationMs(v.get<std::string>());
    if (!ms) {
      return Unprocessable(field, "invalid duration \"" + v.get<std::string>() + "\" (use seconds or 90s, 5m, 1h30m)");
    }
  } else {
    return BadRequest(field, "must be a number of seconds or a duration string");
  }
  if (*ms > max_ms) return Unprocessable(field, "is too long (at most " + std::to_string(max_ms / 1000) + "s)");
  *out = *ms;
  return std::nullopt;
}

int JsonDepth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); i++) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') i++;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
  return max_depth;
}

std::optional<ApiError> ParseBody(const std::string& body, int max_depth, Json* out) {
  if (body.empty()) return BadRequest("", "the request needs a JSON object body");
  if (JsonDepth(body) > max_depth) {
    return BadRequest("", "JSON nesting is deeper than " + std::to_string(max_depth) + " levels");
  }
  *out = Json::parse(body, nullptr, false);
  if (out->is_discarded()) return BadRequest("", "malformed JSON");
  if (!out->is_object()) return BadRequest("", "the body must be a JSON object");
  return std::nullopt;
}

std::optional<ApiError> ParseCount(std::string_view text, const std::string& field, int64_t min, int64_t max,
                                   int64_t* out) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return BadRequest(field, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  if (v < min || v > max) {
    return BadRequest(field, "must be from " + std::to_string(min) + " to " + std::to_string(max));
  }
  *out = v;
  return std::nullopt;
}

std::string FieldPath(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

std::optional<ApiError> CheckKeys(const Json& obj, const std::string& where, std::initializer_list<const char*> allowed) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok |= it.key() == a;
    if (!ok) return BadRequest(FieldPath(where, it.key()), "unknown field");
  }
  return std::nullopt;
}

std::optional<ApiError> GetString(const Json& obj, const std::string& where, const char* key, std::string* out,
                                  size_t max_len) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return BadRequest(FieldPath(where, key), "must be a string");
  *out = it->get<std::string>();
  if (out->size() > max_len) return Unprocessable(FieldPath(where, key), "is longer than " + std::to_string(max_len));
  return CheckText(*out, FieldPath(where, key));
}

std::optional<ApiError> GetBool(const Json& obj, const std::string& where, const char* key, bool* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return BadRequest(FieldPath(where, key), "must be true or false");
  *out = it->get<bool>();
  return std::nullopt;
}

namespace {

// The warning for a memory or disk amount written without a unit that is most likely not meant as bytes.
std::optional<std::string> BareByteAmount(const std::string& name, const std::string& text, int64_t amount,
                                          const std::string& field) {
  if (name != "memory" && name != "ephemeral-storage") return std::nullopt;
  if (amount <= 0 || amount >= (int64_t{1} << 20)) return std::nullopt;
  if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos) return std::nullopt;
  return field + ": " + text + " has no unit and means " + text + " bytes; write \"" + text + "Gi\" or \"" + text +
         "G\" for gigabytes";
}

}  // namespace

std::string AgentType(const std::string& agent_id) {
  size_t end = agent_id.size();
  while (end > 0 && agent_id[end - 1] >= '0' && agent_id[end - 1] <= '9') end--;
  if (end == agent_id.size() || end < 2 || (agent_id[end - 1] != '_' && agent_id[end - 1] != '-')) return agent_id;
  return agent_id.substr(0, end - 1);
}

void AddWarningHeaders(const std::vector<std::string>& warnings,
                       std::vector<std::pair<std::string, std::string>>* headers) {
  for (const auto& w : warnings) {
    std::string quoted;
    for (char c : w) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    headers->push_back({"Warning", "299 - \"" + quoted + "\""});
  }
}

std::optional<ApiError> GetResources(const Json& v, const std::string& field, ResourceMap* out,
                                     std::vector<std::string>* warnings, bool strict_units) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_object()) return BadRequest(field, "must be an object of resource quantities");
  if (v.size() > 64) return Unprocessable(field, "has too many resources");
  for (auto it = v.begin(); it != v.end(); ++it) {
    std::string f = field + "." + it.key();
    if (auto s = ValidateResourceName(it.key()); !s.ok()) return Unprocessable(f, s.message());
    std::string name = CanonicalResourceName(it.key());
    std::string text;
    if (it->is_string()) {
      text = it->get<std::string>();
    } else if (it->is_number_integer() || it->is_number_unsigned()) {
      text = it->dump();
    } else if (it->is_number_float()) {
      text = it->dump();
    } else {
      return BadRequest(f, "must be a quantity string such as \"500m\" or \"2Gi\"");
    }
    auto amount = ParseResourceAmount(name, text);
    if (!amount.ok()) return Unprocessable(f, amount.error().message);
    // Bytes and counts may use all of int64 (20Pi disks, as Kubernetes holds them); only milli-units are
    // held to kMaxAmount.
    if (IsMilliResource(name) && *amount > kMaxAmount) {
      return Unprocessable(f, "quantity \"" + text + "\" is absurdly large");
    }
    if (out->count(name)) return BadRequest(f, "resource given twice (an alias names the same resource)");
    if (auto w = BareByteAmount(name, text, *amount, f)) {
      if (strict_units) return Unprocessable(f, *w + " (units: strict)");
      if (warnings != nullptr) warnings->push_back(*w);
    }
    (*out)[name] = *amount;
  }
  return std::nullopt;
}

std::optional<ApiError> GetLabels(const Json& v, const std::string& field, Labels* out) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_object()) return BadRequest(field, "must be an object of strings");
  if (v.size() > 256) return Unprocessable(field, "has too many entries");
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->is_string()) return BadRequest(field + "." + it.key(), "must be a string");
    if (auto e = CheckText(it.key(), field)) return e;
    if (auto e = CheckText(it->get_ref<const std::string&>(), field + "." + it.key())) return e;
    if (it.key().empty() || it.key().size() > 317 || it->get<std::string>().size() > 1024) {
      return Unprocessable(field + "." + it.key(), "label key or value has an invalid length");
    }
    (*out)[it.key()] = it->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> GetPriority(const Json& v, const std::string& field, int* out) {
  if (v.is_null()) return std::nullopt;
  if (v.is_number_integer()) {
    int64_t p = v.get<int64_t>();
    if (p < 0 || p > kMaxPriority) {
      return Unprocessable(field, "must be 0 (background) to " + std::to_string(kMaxPriority) + " or a priority name");
    }
    *out = static_cast<int>(p);
    return std::nullopt;
  }
  if (v.is_number()) return BadRequest(field, "must be an integer or a priority name");
  if (!v.is_string()) return BadRequest(field, "must be a priority name or an integer");
  auto p = ParsePriority(v.get<std::string>());
  if (!p.ok()) return Unprocessable(field, p.error().message);
  if (*p < 0 || *p > kMaxPriority) {
    return Unprocessable(field, "must be 0 (background) to " + std::to_string(kMaxPriority) + " or a priority name");
  }
  *out = *p;
  return std::nullopt;
}

std::optional<ApiError> ValidateTenant(const std::string& t, const std::string& field) {
  if (t.empty()) return Unprocessable(field, "tenant is empty");
  if (t.size() > 253) return Unprocessable(field, "tenant is longer than 253 characters");
  size_t start = 0;
  for (size_t i = 0; i <= t.size(); i++) {
    if (i < t.size() && t[i] != '/') {
      auto c = static_cast<unsigned char>(t[i]);
      if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') {
        return Unprocessable(field, "tenant \"" + QuoteForError(t) + "\" has an invalid character at byte " +
                                        std::to_string(i) + " (segments are letters, digits, '-', '_', '.')");
      }
      continue;
    }
    std::string_view seg(t.data() + start, i - start);
    if (seg.empty()) return Unprocessable(field, "tenant \"" + QuoteForError(t) + "\" has an empty path segment");
    if (seg == "." || seg == "..") {
      return Unprocessable(field, "tenant \"" + QuoteForError(t) + "\" has a '.' or '..' path segment");
    }
    start = i + 1;
  }
  return std::nullopt;
}

int LogLevelRank(const std::string& level) {
  if (level == "debug") return 0;
  if (level == "info") return 1;
  if (level == "warn") return 2;
  return -1;
}

bool InSubtree(const std::string& tenant, const std::string& root) {
  if (root.empty()) return true;
  return tenant == root || (tenant.size() > root.size() && tenant.compare(0, root.size(), root) == 0 &&
                            tenant[root.size()] == '/');
}

Json ResourcesJson(const ResourceMap& m) {
  Json j = Json::object();
  for (const auto& [k, v] : m) {
    j[k] = ToOutputUnits(k, v);
    if (k == "gpu") j["gpu_milli"] = v;
  }
  return j;
}

void WriteResources(JsonWriter& w, const ResourceMap& m) {
  // Keys sorted, as ResourcesJson's object has them: gpu_milli goes where it sorts (after gpu-memory, say),
  // and a resource of that name itself wins over gpu's milli-units there too.
  auto gpu = m.find("gpu");
  bool milli = gpu != m.end() && !m.contains("gpu_milli");
  w.BeginObject();
  for (const auto& [k, v] : m) {
    if (milli && k > "gpu_milli") {
      w.Key("gpu_milli").Int(gpu->second);
      milli = false;
    }
    w.Key(k).Int(ToOutputUnits(k, v));
  }
  if (milli) w.Key("gpu_milli").Int(gpu->second);
  w.EndObject();
}

Json RawResources(const ResourceMap& m) {
  Json j = Json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

ResourceMap RawResourcesFrom(const Json& j) {
  ResourceMap m;
  if (!j.is_object()) return m;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_number_integer()) m[it.key()] = it->get<int64_t>();
  }
  return m;
}

void Encoder::U(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}
void Encoder::S(std::string_view s) {
  U(s.size());
  out_.append(s);
}
void Encoder::Map(const ResourceMap& m) {
  U(m.size());
  for (const auto& [k, v] : m) {
    S(k);
    I(v);
  }
}
void Encoder::Labels(const allot::Labels& m) {
  U(m.size());
  for (const auto& [k, v] : m) {
    S(k);
    S(v);
  }
}

uint64_t Decoder::U() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= in_.size()) {
      ok_ = false;
      return 0;
    }
    uint8_t b = static_cast<uint8_t>(in_[pos_++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  ok_ = false;
  return 0;
}
std::string_view Decoder::SV() {
  uint64_t n = U();
  if (!ok_ || n > in_.size() - pos_) {
    ok_ = false;
    return {};
  }
  std::string_view s = in_.substr(pos_, n);
  pos_ += n;
  return s;
}
ResourceMap Decoder::Map() {
  ResourceMap m;
  MapInto(&m);
  return m;
}
void Decoder::MapInto(ResourceMap* out) {
  uint64_t n = U();
  auto same = out->begin();  // the entries so far matched the old map's, key for key; `same` is next
  for (uint64_t i = 0; ok_ && i < n; i++) {
    std::string_view k = SV();
    int64_t v = I();
    if (!ok_) break;
    if (same != out->end() && same->first == k) {
      (same++)->second = v;
      continue;
    }
    out->erase(same, out->end());
    same = out->end();
    // Written from a map, so in key order: each goes at the end (one out of order still lands right, and
    // a key given twice keeps the last amount, as before).
    out->emplace_hint(out->end(), k, v)->second = v;
  }
  out->erase(same, out->end());
}
allot::Labels Decoder::Labels() {
  allot::Labels m;
  uint64_t n = U();
  for (uint64_t i = 0; ok_ && i < n; i++) {
    std::string k = S();
    m[std::move(k)] = S();
  }
  return m;
}

}  // namespace allot::server
