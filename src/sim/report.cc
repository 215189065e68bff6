// Rendering of `allot sim` results as JSON (DESIGN.md contract) and as text.
#include <cmath>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "allot/resources.h"
#include "allot/sim.h"

namespace allot::sim {
namespace {

using json = nlohmann::ordered_json;

json Seconds(TimeMs t) {
  if (t < 0) return nullptr;
  if (t % 1000 == 0) return t / 1000;
  return static_cast<double>(t) / 1000.0;
}

double Round4(double v) { return std::round(v * 10000.0) / 10000.0; }

json Amounts(const ResourceMap& m) {
  json o = json::object();
  for (const auto& [k, v] : m) {
    o[k] = ToOutputUnits(k, v);
    if (k == "gpu" && v % 1000 != 0) o["gpu_milli"] = v;
  }
  return o;
}

// JSON text that never throws: a string that is not valid UTF-8 (none should get this far: loaders check
// their input) is written with U+FFFD in place of the bad bytes.
std::string Dump(const json& j, int indent) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

// Writes `"key": [items...]` as dump(2) writes it at the top level of an object, rendering one item at a
// time, so a run's 100k requests never exist as one JSON tree (nor, with a stream, as one text).
template <typename T, typename Fn>
void WriteArray(std::ostream& out, const char* key, const std::vector<T>& items, Fn render) {
  out << "  \"" << key << "\": ";
  if (items.empty()) {
    out << "[]";
    return;
  }
  out << "[\n";
  std::string text, indented;
  for (size_t i = 0; i < items.size(); i++) {
    text = Dump(render(items[i]), 2);
    indented.assign("    ");
    for (char c : text) {  // nested two levels deep: four more spaces on every line (strings hold no raw newline)
      indented.push_back(c);
      if (c == '\n') indented.append("    ");
    }
    indented.append(i + 1 < items.size() ? ",\n" : "\n");
    out << indented;
  }
  out << "  ]";
}

// Requests are most of a run's output: written directly, byte for byte as the ordered_json of
// {id, state, node, [nodes], submitted, started, ended, reason, tenant, priority, [preempted_by],
// [devices], [wait]} gives with dump(2) nested in the requests array (tests/sim/report_test.cc holds
// the two together).
void AppendString(std::string* out, std::string_view v) {
  bool plain = true;
  for (unsigned char c : v) plain &= c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  if (plain) {
    out->push_back('"');
    out->append(v);
    out->push_back('"');
  } else {
    out->append(Dump(json(std::string(v)), -1));  // escapes, and U+FFFD for bytes that are not UTF-8
  }
}

// Seconds(t) as dump writes it: an integer when whole, else the shortest decimal of t / 1000.0, which
// below 10^12 ms is t's own three decimals less trailing zeros (doubles there are far finer than 0.001).
void AppendSeconds(std::string* out, TimeMs t) {
  if (t < 0) {
    out->append("null");
    return;
  }
  if (t >= 1'000'000'000'000) {
    out->append(Dump(Seconds(t), -1));
    return;
  }
  out->append(std::to_string(t / 1000));
  if (int64_t frac = t % 1000; frac != 0) {
    char digits[4] = {static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                      static_cast<char>('0' + frac % 10), 0};
    size_t n = 3;
    while (digits[n - 1] == '0') n--;
    out->push_back('.');
    out->append(digits, n);
  }
}

void AppendStrings(std::string* out, const std::vector<std::string>& v) {
  if (v.empty()) {
    out->append("[]");
    return;
  }
  out->append("[\n");
  for (size_t i = 0; i < v.size(); i++) {
    out->append("        ");
    AppendString(out, v[i]);
    out->append(i + 1 < v.size() ? ",\n" : "\n");
  }
  out->append("      ]");
}

void AppendRequest(std::string* out, const RequestOutcome& a) {
  auto key = [&](const char* k) {
    out->append(",\n      \"");
    out->append(k);
    out->append("\": ");
  };
  out->append("    {\n      \"id\": ");
  AppendString(out, a.id);
  key("state");
  AppendString(out, AllocStateName(a.state));
  key("node");
  if (a.nodes.empty()) out->append("null");
  else AppendString(out, a.nodes.front());
  if (a.count > 1) {
    key("nodes");
    AppendStrings(out, a.nodes);
  }
  key("submitted");
  AppendSeconds(out, a.submitted);
  key("started");
  AppendSeconds(out, a.started);
  key("ended");
  AppendSeconds(out, a.ended);
  key("reason");
  AppendString(out, a.reason);
  key("tenant");
  AppendString(out, a.tenant);
  key("priority");
  out->append(std::to_string(a.priority));
  if (!a.preempted_by.empty()) {
    key("preempted_by");
    AppendString(out, a.preempted_by);
  }
  if (!a.devices.empty()) {
    key("devices");
    AppendStrings(out, a.devices);
  }
  if (a.started >= 0) {
    key("wait");
    AppendSeconds(out, a.started - a.submitted);
  }
  out->append("\n    }");
}

void WriteRequests(std::ostream& os, const std::vector<RequestOutcome>& items) {
  os << "  \"requests\": ";
  if (items.empty()) {
    os << "[]";
    return;
  }
  os << "[\n";
  std::string text;
  for (size_t i = 0; i < items.size(); i++) {
    AppendRequest(&text, items[i]);
    text.append(i + 1 < items.size() ? ",\n" : "\n");
    if (text.size() >= (1 << 16)) {
      os.write(text.data(), static_cast<std::streamsize>(text.size()));
      text.clear();
    }
  }
  os.write(text.data(), static_cast<std::streamsize>(text.size()));
  os << "  ]";
}

json ExplainJson(const Explanation& e) {
  json j;
  j["id"] = e.id;
  j["at"] = Seconds(e.at);
  json sc = json::object();
  for (const auto& [n, v] : e.scores) sc[n] = v;
  j["scores"] = std::move(sc);
  // Per node, the resources behind its score, in DESIGN's output units (cpu in millicores, bytes, ...).
  json terms = json::object();
  for (const auto& [n, list] : e.score_terms) {
    json arr = json::array();
    for (const auto& t : list) {
      json one = {{"resource", t.resource},
                  {"requested", ToOutputUnits(t.resource, t.requested)},
                  {"allocatable", ToOutputUnits(t.resource, t.allocatable)}};
      one["score"] = t.score >= 0 ? json(t.score) : json(nullptr);
      arr.push_back(std::move(one));
    }
    terms[n] = std::move(arr);
  }
  j["score_terms"] = std::move(terms);
  json fl = json::object();
  for (const auto& [n, why] : e.filtered) fl[n] = why;
  j["filtered"] = std::move(fl);
  j["chosen"] = e.chosen.empty() ? json(nullptr) : json(e.chosen);
  j["outcome"] = e.outcome;
  j["detail"] = e.detail;
  return j;
}

// "cpu 2/8 -> 25, memory 4Gi/16Gi -> 25": what the node would hold of what it has, and each resource's score.
std::string ScoreTermsText(const std::vector<ScoreTerm>& terms) {
  std::string out;
  for (const auto& t : terms) {
    if (!out.empty()) out += ", ";
    out += t.resource + " " + FormatResourceAmount(t.resource, t.requested) + "/" +
           FormatResourceAmount(t.resource, t.allocatable);
    if (t.score >= 0) out += " -> " + std::to_string(t.score);
  }
  return out;
}

}  // namespace

std::string ToJson(const SimResult& r, bool explain) {
  std::ostringstream o;
  WriteJson(o, r, explain);
  return o.str();
}

// Byte for byte what one ordered_json of {requests, summary, notes, explain} gives with dump(2), written
// piecewise.
void WriteJson(std::ostream& os, const SimResult& r, bool explain) {
  os << "{\n";
  WriteRequests(os, r.requests);
  json out;
  const Summary& s = r.summary;
  json sum;
  sum["requests"] = r.requests.size();
  for (const char* st : {"placed", "queued", "completed", "released", "expired", "preempted", "rejected"}) {
    auto it = s.states.find(st);
    sum[st] = it == s.states.end() ? 0 : it->second;
  }
  json util = json::object();
  for (const auto& [k, v] : s.utilization) util[k] = Round4(v);
  sum["utilization"] = util;
  sum["mean_wait"] = Round4(s.mean_wait_s);
  sum["p99_wait"] = Round4(s.p99_wait_s);
  sum["nodes_used"] = s.nodes_used;
  sum["preemptions"] = s.preemptions;
  sum["end_time"] = Round4(s.end_time_s);
  sum["jain_index"] = Round4(s.jain_index);
  json shares = json::object();
  for (const auto& [k, v] : s.mean_dominant_share) shares[k] = Round4(v);
  sum["mean_dominant_share"] = shares;
  json tenants = json::array();
  for (const auto& t : s.tenants) {
    json tj;
    tj["path"] = t.path;
    tj["used"] = Amounts(t.used);
    tj["guaranteed"] = Amounts(t.guaranteed);
    tj["max"] = Amounts(t.max);
    tj["borrowed"] = Amounts(t.borrowed);
    tj["dominant_share"] = Round4(t.dominant_share);
    tj["running"] = t.running;
    tj["queued"] = t.queued;
    tenants.push_back(std::move(tj));
  }
  sum["tenants"] = std::move(tenants);
  if (s.load_seconds >= 0) sum["load_seconds"] = Round4(s.load_seconds);
  out["summary"] = std::move(sum);
  if (!r.notes.empty()) {
    json notes = json::array();
    for (const auto& [id, what] : r.notes) notes.push_back({{"id", id}, {"outcome", what}});
    out["notes"] = std::move(notes);
  }
  // `out` holds summary (and notes): its text without the outer braces is the middle of the object.
  std::string middle = Dump(out, 2);
  os << ",\n" << std::string_view(middle).substr(2, middle.size() - 4);
  if (explain) {
    os << ",\n";
    WriteArray(os, "explain", r.explain, ExplainJson);
  }
  os << "\n}\n";
}

std::string ToText(const SimResult& r, bool explain) {
  std::ostringstream o;
  auto secs = [](TimeMs t) -> std::string {
    if (t < 0) return "-";
    if (t % 1000 == 0) return std::to_string(t / 1000);
    std::ostringstream s;
    s << std::fixed << std::setprecision(3) << static_cast<double>(t) / 1000.0;
    return s.str();
  };
  o << std::left << std::setw(16) << "ID" << std::setw(11) << "STATE" << std::setw(14) << "NODE" << std::setw(10)
    << "SUBMIT" << std::setw(10) << "START" << std::setw(10) << "END" << "REASON\n";
  for (const auto& a : r.requests) {
    std::string node;
    for (const auto& n : a.nodes) node += (node.empty() ? "" : ",") + n;
    o << std::setw(16) << a.id << std::setw(11) << AllocStateName(a.state) << std::setw(14) << (node.empty() ? "-" : node)
      << std::setw(10) << secs(a.submitted) << std::setw(10) << secs(a.started) << std::setw(10) << secs(a.ended)
      << a.reason << "\n";
  }
  const Summary& s = r.summary;
  o << "\nsummary: " << r.requests.size() << " requests";
  for (const auto& [k, v] : s.states) o << ", " << v << " " << k;
  o << "\nutilization (time-weighted):";
  for (const auto& [k, v] : s.utilization) o << " " << k << " " << std::fixed << std::setprecision(1) << v * 100 << "%";
  o << std::setprecision(6) << std::defaultfloat << "\nwait: mean " << s.mean_wait_s << "s, p99 " << s.p99_wait_s << "s; nodes used "
    << s.nodes_used << "; preemptions " << s.preemptions << "; end " << s.end_time_s << "s; Jain index "
    << s.jain_index << "\n";
  for (const auto& [id, what] : r.notes) o << "note: " << id << ": " << what << "\n";
  if (explain) {
    o << "\nexplain:\n";
    for (const auto& e : r.explain) {
      o << "  t=" << secs(e.at) << " " << e.id << " -> " << (e.chosen.empty() ? "(none)" : e.chosen) << " ["
        << e.outcome << "] " << e.detail << "\n";
      for (size_t i = 0; i < e.scores.size(); i++) {
        o << "      score " << e.scores[i].first << " = " << e.scores[i].second;
        if (i < e.score_terms.size() && !e.score_terms[i].second.empty())
          o << " (" << ScoreTermsText(e.score_terms[i].second) << ")";
        o << "\n";
      }
      for (const auto& [n, why] : e.filtered) o << "      filtered " << n << ": " << why << "\n";
    }
  }
  return o.str();
}

}  // namespace allot::sim
