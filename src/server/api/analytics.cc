// /v1/analytics: efficiency and forecast from the amount history, the bottleneck from the queue and the
// nodes now, cost from the allocations the server tracks (allot/analytics.h does the arithmetic;
// docs/http-api.md#analytics the shapes).
#include "allot/analytics.h"

#include <cmath>

#include "server/api/api.h"
#include "server/api/history_params.h"

namespace allot::server {
namespace {

Json Nullable(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }
Json NullableAmount(const std::string& res, const std::optional<double>& v) {
  return v ? Json(ApiAmount(res, *v)) : Json(nullptr);
}
double Round6(double v) { return std::round(v * 1e6) / 1e6; }

std::optional<ApiError> Window(const net::HttpRequest& req, const State& srv, int64_t* window) {
  *window = 86400;
  if (!req.HasQuery("window")) return std::nullopt;
  return ParseSeconds(req.Query("window"), "window", 1, LongestKeep(srv.cfg.history), window);
}

void Efficiency(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  int64_t window = 0;
  if (auto e = Window(req, srv, &window)) return srv.Invalid(r, *e);
  const int64_t now = WallNowMs() / 1000, from = now - window;
  Json cluster = Json::object(), pools = Json::object(), tenants = Json::object();
  int64_t resolution = 0;
  {
    std::lock_guard<std::mutex> l(srv.history_mu);
    if (!srv.history) return r.Send(ErrorResponse(HistoryOff()));
    auto full = [](const std::string& res, const analytics::Efficiency& e) {
      return Json{{"capacity", NullableAmount(res, e.capacity)},
                  {"allocated", NullableAmount(res, e.allocated)},
                  {"used", NullableAmount(res, e.used)},
                  {"allocation_ratio", Nullable(e.allocation_ratio)},
                  {"usage_ratio", Nullable(e.usage_ratio)}};
    };
    resolution =
        srv.history->Summarize(history::Scope::kCluster, from, now, now,
                               [&](const std::string&, const std::string& res, const history::Totals& t) {
                                 cluster[res] = full(res, analytics::EfficiencyOf(t));
                               });
    srv.history->Summarize(history::Scope::kPool, from, now, now,
                           [&](const std::string& name, const std::string& res, const history::Totals& t) {
                             pools[name][res] = full(res, analytics::EfficiencyOf(t));
                           });
    srv.history->Summarize(history::Scope::kTenant, from, now, now,
                           [&](const std::string& name, const std::string& res, const history::Totals& t) {
                             if (!who.CoversTenant(name)) return;
                             analytics::Efficiency e = analytics::EfficiencyOf(t);
                             tenants[name][res] = {{"allocated", NullableAmount(res, e.allocated)},
                                                   {"used", NullableAmount(res, e.used)},
                                                   {"usage_ratio", Nullable(e.usage_ratio)}};
                           });
  }
  r.Send(JsonResponse(200, {{"window", window},
                            {"from", from},
                            {"to", now},
                            {"resolution", resolution},
                            {"cluster", cluster},
                            {"pools", pools},
                            {"tenants", tenants}}));
}

Json ApiResources(const ResourceMap& m) {
  Json j = Json::object();
  for (const auto& [k, v] : m) j[k] = ToOutputUnits(k, v);
  return j;
}

void FindBottleneck(State& srv, const Principal& who, const net::Responder& r) {
  std::vector<analytics::NodeView> nodes;
  std::vector<analytics::QueuedRequest> queue;
  ResourceMap capacity;
  {
    std::lock_guard<std::mutex> l(srv.mu);
    for (const NodeInfo& n : srv.engine->Nodes()) {
      analytics::NodeView v;
      v.name = n.name;
      v.pool = n.pool;
      if (auto m = srv.node_meta.find(n.name); v.pool.empty() && m != srv.node_meta.end())
        v.pool = m->second.pool;
      v.labels = n.labels;
      v.taints = n.taints;
      v.capacity = n.capacity;
      v.free = n.free;
      v.schedulable = n.up && !n.draining;
      nodes.push_back(std::move(v));
    }
    for (const auto& [id, m] : srv.active) {
      if (!m.spec || !who.CoversTenant(m.tenant)) continue;
      auto info = srv.engine->Get(id);
      if (!info.ok() || info->state != AllocState::kQueued) continue;
      analytics::QueuedRequest q;
      q.requests = m.spec->requests;
      q.count = m.spec->count;
      q.selector = m.spec->selector;
      q.tolerations = m.spec->tolerations;
      q.gpu_model = m.spec->gpu_model;
      q.quota_held =
          info->reason_code == ReasonCode::kQuota || info->reason_code == ReasonCode::kQuotaBorrowing;
      queue.push_back(std::move(q));
    }
    capacity = srv.engine->TotalCapacity();
  }
  analytics::Bottleneck b = analytics::FindBottleneck(nodes, queue, capacity);
  Json blocked = Json::array();
  for (const auto& x : b.blocked_by) {
    blocked.push_back({{"resource", x.resource},
                       {"requests", x.requests},
                       {"demand", ToOutputUnits(x.resource, x.demand)},
                       {"share", x.share},
                       {"pools", x.pools}});
  }
  r.Send(JsonResponse(200, {{"resource", b.resource ? Json(*b.resource) : Json(nullptr)},
                            {"queued", b.queued},
                            {"infeasible", b.infeasible},
                            {"held_by_quota", b.held_by_quota},
                            {"demand", ApiResources(b.demand)},
                            {"blocked_by", blocked}}));
}

void CostReport(State& srv, const net::HttpRequest& req, const Principal& who, const net::Responder& r) {
  int64_t window = 86400;
  if (req.HasQuery("window")) {
    if (auto e = ParseSeconds(req.Query("window"), "window", 1, 366 * 86400, &window))
      return srv.Invalid(r, *e);
  }
  std::string by = req.Query("by", "tenant");
  if (by != "tenant" && by != "workflow")
    return srv.Invalid(r, BadRequest("by", "by: \"" + by + "\" is not tenant or workflow"));
  const int64_t now = WallNowMs();
  std::vector<analytics::Held> held;
  {
    std::lock_guard<std::mutex> l(srv.mu);
    auto add = [&](const AllocationInfo& i) {
      if (i.started < 0 || !who.CoversTenant(i.tenant)) return;
      held.push_back({i.tenant, i.workflow, i.requests, i.count, i.started,
                      i.state == AllocState::kPlaced ? -1 : i.ended});
    };
    srv.engine->ForEachAllocation([&](const AllocationInfo& i) {
      if (i.state == AllocState::kPlaced) add(i);
    });
    for (const auto& [id, f] : srv.finished) add(f.info);
  }
  analytics::Cost c = analytics::CostOf(held, srv.cfg.prices, now - window * 1000, now, by == "workflow");
  Json items = Json::array();
  for (const auto& item : c.items) {
    Json res = Json::object();
    for (const auto& [k, v] : item.resources) res[k] = Round6(v);
    items.push_back({{"name", item.name}, {"cost", Round6(item.cost)}, {"resources", res}});
  }
  r.Send(JsonResponse(200, {{"window", window},
                            {"currency", srv.cfg.currency},
                            {"by", by},
                            {"items", items},
                            {"total", Round6(c.total)}}));
}

void Forecast(State& srv, const net::HttpRequest& req, const net::Responder& r) {
  history::Query q;
  q.resource = "cpu";
  if (req.HasQuery("resource")) {
    if (auto e = ParseResourceParam(req.Query("resource"), &q.resource)) return srv.Invalid(r, *e);
  }
  std::string scope = req.Query("scope", "cluster");
  if (scope != "cluster" && scope != "pool")
    return srv.Invalid(r, BadRequest("scope", "scope: \"" + scope + "\" is not cluster or pool"));
  q.scope = scope == "pool" ? history::Scope::kPool : history::Scope::kCluster;
  q.name = req.Query("name");
  if (q.scope == history::Scope::kCluster && !q.name.empty())
    return srv.Invalid(r, Unprocessable("name", "name: the cluster scope takes no name"));
  if (q.scope == history::Scope::kPool && q.name.empty())
    return srv.Invalid(r, Unprocessable("name", "name: scope pool needs the pool's name"));
  int64_t horizon = 3600, window = 86400;
  q.step = 300;
  const int64_t keep = LongestKeep(srv.cfg.history);
  if (req.HasQuery("step")) {
    if (auto e = ParseSeconds(req.Query("step"), "step", 1, keep, &q.step)) return srv.Invalid(r, *e);
  }
  if (req.HasQuery("horizon")) {
    if (auto e = ParseSeconds(req.Query("horizon"), "horizon", 1, 1000 * q.step, &horizon))
      return srv.Invalid(r, *e);
  }
  if (req.HasQuery("window")) {
    if (auto e = ParseSeconds(req.Query("window"), "window", q.step, keep, &window))
      return srv.Invalid(r, *e);
  }
  const int64_t now = WallNowMs() / 1000;
  q.from = now - window;
  q.to = now;
  auto a = ReadHistory(srv, q, now, r);
  if (!a) return;
  history::SeriesData series = std::move(a->series.front());
  std::vector<int64_t> t;
  std::vector<double> values;
  for (size_t k = 0; k < series.t.size(); k++) {
    int64_t v = series.values[history::kAllocated][k];
    if (v == history::kNull) continue;
    t.push_back(series.t[k]);
    values.push_back(static_cast<double>(v));
  }
  const int steps = static_cast<int>((horizon + q.step - 1) / q.step);
  auto f = analytics::ForecastOf(values, srv.cfg.forecast_alpha, srv.cfg.forecast_beta, steps);
  if (!f.ok()) return r.Send(ErrorResponse(FromError(f.error())));
  const std::string& res = q.resource;
  Json hist_v = Json::array(), fc_t = Json::array(), fc_v = Json::array();
  for (double v : values) hist_v.push_back(ApiAmount(res, v));
  for (size_t k = 0; k < f->forecast.size(); k++) {
    fc_t.push_back(t.back() + static_cast<int64_t>(k + 1) * q.step);
    fc_v.push_back(ApiAmount(res, std::max(0.0, f->forecast[k])));
  }
  auto err = [&](const std::optional<double>& v, bool amount) -> Json {
    if (!v) return nullptr;
    return Round6(amount ? ApiAmountExact(res, *v) : *v);
  };
  r.Send(JsonResponse(
      200, {{"resource", res},
            {"scope", scope},
            {"name", q.name},
            {"step", q.step},
            {"alpha", srv.cfg.forecast_alpha},
            {"beta", srv.cfg.forecast_beta},
            {"history", {{"t", t}, {"value", hist_v}}},
            {"forecast", {{"t", fc_t}, {"value", fc_v}}},
            {"error", {{"mae", err(f->mae, true)}, {"mape", err(f->mape, false)}, {"points", f->points}}}}));
}

}  // namespace

void MountAnalytics(RouteTable& t, State& s) {
  auto readers = [&s](void (*fn)(State&, const Call&)) {
    return [&s, fn](const Call& c) {
      if (c.who.role == "agent") return s.Reject(c.r, Forbidden("agents cannot read analytics"), "forbidden");
      fn(s, c);
    };
  };
  t.Add("GET", "/v1/analytics/efficiency",
        readers([](State& st, const Call& c) { Efficiency(st, c.req, c.who, c.r); }));
  t.Add("GET", "/v1/analytics/bottleneck",
        readers([](State& st, const Call& c) { FindBottleneck(st, c.who, c.r); }));
  t.Add("GET", "/v1/analytics/cost",
        readers([](State& st, const Call& c) { CostReport(st, c.req, c.who, c.r); }));
  t.Add("GET", "/v1/analytics/forecast", readers([](State& st, const Call& c) { Forecast(st, c.req, c.r); }));
}

}  // namespace allot::server
