// GET /v1/history: amounts over time from the history Db (allot/history.h; docs/http-api.md#history), and
// the history's own metric families.
#include <charconv>

#include "server/api/api.h"
#include "server/api/history_params.h"

namespace allot::server {
namespace {

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, end);
}

// The answer, written directly (a week of minutes is 50,000 numbers per resource).
std::string AnswerJson(const history::Query& q, const history::Answer& a) {
  std::string out;
  size_t points = 0;
  for (const auto& s : a.series) points += s.t.size();
  out.reserve(256 + points * 5 * 12);
  out += "{\"scope\":\"";
  out += history::ScopeName(q.scope);
  out += "\",\"name\":" + Dump(Json(q.name)) + ",\"from\":";
  AppendInt(&out, a.from);
  out += ",\"to\":";
  AppendInt(&out, a.to);
  out += ",\"step\":";
  AppendInt(&out, a.step);
  out += ",\"resolution\":";
  AppendInt(&out, a.resolution);
  out += ",\"series\":[";
  for (size_t i = 0; i < a.series.size(); i++) {
    const history::SeriesData& s = a.series[i];
    out += i ? ",{\"resource\":" : "{\"resource\":";
    out += Dump(Json(s.resource));
    out += ",\"unit\":\"";
    out += history::UnitOf(s.resource);
    out += "\",\"t\":[";
    for (size_t k = 0; k < s.t.size(); k++) {
      if (k) out += ',';
      AppendInt(&out, s.t[k]);
    }
    out += ']';
    for (int f = 0; f < history::kNumFields; f++) {
      out += ",\"";
      out += history::FieldName(f);
      out += "\":[";
      const auto& vals = s.values[static_cast<size_t>(f)];
      for (size_t k = 0; k < vals.size(); k++) {
        if (k) out += ',';
        if (vals[k] == history::kNull)
          out += "null";
        else
          AppendInt(&out, ToOutputUnits(s.resource, vals[k]));
      }
      out += ']';
    }
    out += '}';
  }
  out += "]}";
  return out;
}

void History(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  if (who.role == "agent") return srv.Reject(r, Forbidden("agents cannot read the history"), "forbidden");
  history::Query q;
  std::string scope = req.Query("scope", "cluster");
  auto sc = history::ParseScope(scope);
  if (!sc)
    return srv.Invalid(r,
                       BadRequest("scope", "scope: \"" + scope + "\" is not cluster, pool, node or tenant"));
  q.scope = *sc;
  q.name = req.Query("name");
  if (q.scope == history::Scope::kCluster && !q.name.empty()) {
    return srv.Invalid(r, Unprocessable("name", "name: the cluster scope takes no name"));
  }
  if (q.scope != history::Scope::kCluster && q.name.empty()) {
    return srv.Invalid(
        r, Unprocessable("name", std::string("name: scope ") + scope + " needs the " + scope + "'s name"));
  }
  if (q.scope == history::Scope::kTenant && !who.CoversTenant(q.name)) {
    if (!InScope(who, q.name)) {
      return srv.Reject(r, Forbidden("tenant " + q.name + " is outside this token's subtree " + who.tenant),
                        "forbidden");
    }
    q.name = who.tenant;  // a tenant above the writer's subtree: its subtree root
  }
  if (req.HasQuery("resource")) {
    if (auto e = ParseResourceParam(req.Query("resource"), &q.resource)) return srv.Invalid(r, *e);
  }
  const int64_t now = WallNowMs() / 1000;
  q.from = now - 3600;
  q.to = now;
  if (req.HasQuery("from")) {
    if (auto e = ParseWhen(req.Query("from"), "from", now, &q.from)) return srv.Invalid(r, *e);
  }
  if (req.HasQuery("to")) {
    if (auto e = ParseWhen(req.Query("to"), "to", now, &q.to)) return srv.Invalid(r, *e);
  }
  if (req.HasQuery("step")) {
    if (auto e = ParseSeconds(req.Query("step"), "step", 1, 366 * 86400, &q.step)) return srv.Invalid(r, *e);
  }
  auto a = ReadHistory(srv, q, now, r);
  if (!a) return;
  net::HttpResponse resp;
  resp.body = AnswerJson(q, *a);
  r.Send(std::move(resp));
}

}  // namespace

std::optional<history::Answer> ReadHistory(State& srv, const history::Query& q, int64_t now,
                                           const net::Responder& r) {
  std::lock_guard<std::mutex> l(srv.history_mu);
  if (!srv.history) {
    r.Send(ErrorResponse(HistoryOff()));
    return std::nullopt;
  }
  history::ReadError err;
  auto a = srv.history->Read(q, now, &err);
  if (a.ok()) return std::move(*a);
  if (a.error().code == ErrorCode::kNotFound) {
    r.Send(ErrorResponse({404, "not_found", a.error().message, err.field}));
  } else {
    srv.Invalid(r, Unprocessable(err.field, err.field + ": " + a.error().message));
  }
  return std::nullopt;
}

namespace {

std::string HistoryMetrics(State& srv) {
  MetricsWriter w;
  history::Stats st;
  {
    std::lock_guard<std::mutex> l(srv.history_mu);
    if (!srv.history) return "";
    st = srv.history->stats();
  }
  w.Family("allot_history_samples_total", "counter", "History samples taken.");
  w.SampleInt("allot_history_samples_total", {}, static_cast<int64_t>(srv.history_samples.load()));
  w.Family("allot_history_sample_cpu_seconds_total", "counter",
           "CPU time of the timer thread's sampling passes (the node scan they share with the pressure "
           "monitors included).");
  w.Sample("allot_history_sample_cpu_seconds_total", {},
           static_cast<double>(srv.history_cpu_ns.load()) / 1e9);
  w.Family("allot_history_commit_failures_total", "counter",
           "History writes the store refused (the next rows are full).");
  w.SampleInt("allot_history_commit_failures_total", {}, static_cast<int64_t>(srv.history_failures.load()));
  w.Family("allot_history_series", "gauge", "Series (scope, name, resource) the history holds.");
  w.SampleInt("allot_history_series", {}, static_cast<int64_t>(st.series));
  w.Family("allot_history_stored_bytes", "gauge", "Bytes of history records in the store (keys and values).");
  w.SampleInt("allot_history_stored_bytes", {}, static_cast<int64_t>(st.stored_bytes));
  w.Family("allot_history_memory_bytes", "gauge", "Estimated heap the history holds in memory.");
  w.SampleInt("allot_history_memory_bytes", {}, static_cast<int64_t>(st.memory_bytes));
  return std::move(w.text());
}

}  // namespace

void MountHistory(RouteTable& t, State& s) {
  t.Add("GET", "/v1/history", [&s](const Call& c) { History(s, c.req, c.who, c.r); });
  s.metric_sources.push_back([&s] { return HistoryMetrics(s); });
}

}  // namespace allot::server
