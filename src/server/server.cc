// Server: the composition of the layers. Create opens the store (unless given), rebuilds the state,
// mounts every route family in the one route table (the core API and the throttling API) and binds the
// listener; each request is checked, authenticated and dispatched here, and nothing else is.
#include "allot/server.h"

#include <sched.h>
#include <yaml-cpp/yaml.h>

#include <future>
#include <thread>

#include "allot/utf8.h"
#include "server/api/api.h"
#include "server/dashboard.h"
#include "server/state.h"
#include "server/throttle_routes.h"

namespace allot {

using server::ApiError;
using server::ErrorResponse;
using server::Json;
using server::JsonResponse;

struct Server::Impl {
  server::State state;
  server::RouteTable routes;
  server::Dashboard dashboard;  // GET / and /assets/: public files, answered before authentication
  std::mutex reload_mu;         // one Reload at a time (SIGHUP and POST /v1/admin/reload)

  // Text the request line carries: the method a token, the path and every query key and value valid UTF-8
  // without control characters (so no handler, log line or error text sees bytes it cannot encode).
  static std::optional<ApiError> CheckRequestLine(const net::HttpRequest& req) {
    if (req.method.empty() || req.method.size() > 16 ||
        !std::all_of(req.method.begin(), req.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      return ApiError{400, "invalid_argument", "the method must be an HTTP method name such as GET", "method"};
    }
    if (auto e = server::CheckText(req.path, "path")) return e;
    for (const auto& [k, v] : req.query) {
      if (auto e = server::CheckText(k, "query")) return e;
      if (auto e = server::CheckText(v, "query." + k)) return e;
    }
    return std::nullopt;
  }

  // 401, with the failure counted for the audit log (never the secret).
  void Unauthenticated(const net::HttpRequest& req, const server::AuthResult& a, const net::Responder& r) {
    std::string msg, reason = server::AuthFailureName(a.failure);
    if (a.failure == server::AuthFailure::kExpired) {
      msg = "the bearer token \"" + SafeUtf8(a.token_name, 100) + "\" expired at " +
            server::FormatTime(a.expired_at_ms) + "; ask for a new one";
      reason += ": " + SafeUtf8(a.token_name, 100);
    } else if (a.failure == server::AuthFailure::kWrong) {
      // Missing and wrong tokens are told apart (nothing about which tokens exist is revealed).
      msg =
          "the bearer token is wrong: it matches none of this server's tokens (Authorization: Bearer TOKEN)";
    } else if (a.failure == server::AuthFailure::kMalformed) {
      msg = "the Authorization header is not \"Bearer TOKEN\"";
    } else if (!req.peer_subject.empty()) {
      msg = "the client certificate (" + SafeUtf8(req.peer_subject, 200) +
            ") maps to no principal (auth.client_certs) and no bearer token was sent";
      reason = "unmapped_certificate: " + SafeUtf8(req.peer_subject, 200);
    } else {
      msg = "no bearer token was sent; this server needs one (Authorization: Bearer TOKEN)";
    }
    state.auth_failures.Record(req.remote, reason, server::WallNowMs());
    state.Reject(r, {401, "unauthenticated", msg, ""}, "unauthenticated");
  }

  // 429 with Retry-After: the principal is over its request rate (auth.rate_limit).
  void Throttled(const std::string& name, const throttle::Decision& d, const net::Responder& r) {
    state.CountRejection("rate_limited");
    std::string limit = state.rate_limits.Describe(name);
    auto resp = ErrorResponse({429, "resource_exhausted",
                               "\"" + SafeUtf8(name, 100) + "\" is over its request rate (" + limit +
                                   "); retry after " + std::to_string(d.retry_after_s()) + " s",
                               "auth.rate_limit"});
    int64_t secs =
        std::max<int64_t>(1, (d.retry_after_ns + throttle::kNanosPerSecond - 1) / throttle::kNanosPerSecond);
    resp.headers.emplace_back("Retry-After", std::to_string(secs));
    r.Send(std::move(resp));
  }

  void Handle(net::HttpRequest&& req, const net::Responder& r) {
    if (auto e = CheckRequestLine(req)) return state.Invalid(r, *e);
    const std::string& p = req.path;
    if (p == "/healthz") return r.Send(JsonResponse(200, {{"status", "ok"}}));
    if (p == "/readyz") {
      bool ok = state.ready.load() && !state.stopping.load();
      Json body = {{"status", ok ? "ready" : "not ready"}};
      if (!state.replica.self_url.empty()) body["role"] = state.replica.standby ? "standby" : "leader";
      return r.Send(JsonResponse(ok ? 200 : 503, body));
    }
    if (dashboard.Serves(req)) return r.Send(dashboard.Answer(req));
    auto auth = state.Auth();
    const std::string authorization = req.Header("authorization");
    // A verified client certificate stands for its principal unless a bearer token is sent.
    auto principal = authorization.empty() && !auth->dev()
                         ? auth->AuthenticateCert(req.peer_subject, req.peer_cn)
                         : std::nullopt;
    if (!principal) {
      server::AuthResult checked = auth->Check(authorization, server::WallNowMs());
      if (!checked.principal) return Unauthenticated(req, checked, r);
      principal = std::move(checked.principal);
    }
    r.SetActor(principal->name);
    if (auto d = state.rate_limits.Acquire(principal->name, server::SteadyMicros() * 1000);
        d && !d->allowed()) {
      return Throttled(principal->name, *d, r);
    }
    server::PathParams params;
    server::RouteTable::Outcome outcome;
    const auto* route = routes.Find(req.method, p, &params, &outcome);
    if (route == nullptr) {
      if (outcome == server::RouteTable::Outcome::kMethodNotAllowed) return state.MethodNotAllowed(r);
      return state.NotFound(r, "no such endpoint: " + p);
    }
    if (state.RedirectIfStandby(req, r)) return;
    route->handler(server::Call{req, *principal, params, r});
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  if (impl_->state.timer.joinable()) {
    impl_->state.stopping = true;
    impl_->state.timer_cv.notify_all();
    impl_->state.timer.join();
  }
  if (impl_->state.store) impl_->state.store->Close();
}

namespace {

// POST /v1/admin/reload (admin): Server::Reload, audited; and the auth and TLS counters in /metrics.
void MountAdmin(Server* srv, Server::Impl* p) {
  srv->AddRoute("POST", "/v1/admin/reload", [srv, p](const ApiCall& c) {
    auto error = [](int status, const char* code, const std::string& msg, const char* field) {
      return ApiAnswer{
          status, server::Dump(Json{{"error", {{"code", code}, {"message", msg}, {"field", field}}}}), {}};
    };
    if (c.role != "admin") return error(403, "permission_denied", "only an admin token may reload", "");
    if (Status s = srv->Reload(); !s.ok())
      return error(422, "invalid_argument", SafeUtf8(s.message(), 500), "config");
    AuditEvent e;
    e.at = server::WallNowMs();
    e.type = "auth_reloaded";
    e.actor = c.actor;
    (void)srv->Audit({e});
    auto auth = p->state.Auth();
    return ApiAnswer{200,
                     server::Dump(Json{{"reloaded", true},
                                       {"tokens", auth->token_count()},
                                       {"client_certs", auth->cert_count()},
                                       {"tls", !p->state.cfg.tls.cert_file.empty()}}),
                     {}};
  });
  srv->AddMetrics([p] {
    std::string out;
    auto counter = [&](const char* name, const char* help, uint64_t v) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
             std::to_string(v) + "\n";
    };
    counter("allot_auth_failures_total",
            "Requests refused as unauthenticated (missing, wrong or expired token).",
            p->state.auth_failures.total());
    counter("allot_auth_throttled_total",
            "Requests refused because their principal was over auth.rate_limit.",
            p->state.rate_limits.throttled());
    counter("allot_tls_handshake_failures_total", "TLS connections closed before their handshake completed.",
            p->state.http->Stats().tls_handshake_failures);
    return out;
  });
}

}  // namespace

bool ServerConfig::AllocationsOnIoThreadUnderLoad() const {
  if (allocations_on_io_thread != IoThreadAllocations::kAuto)
    return allocations_on_io_thread == IoThreadAllocations::kAlways;
  cpu_set_t set;  // the CPUs this process may run on (taskset, cgroup cpusets), not the machine's
  CPU_ZERO(&set);
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0
                 ? CPU_COUNT(&set)
                 : static_cast<int>(std::thread::hardware_concurrency());
  return cpus > 0 && cpus <= 2;
}

Result<std::unique_ptr<Server>> Server::Create(const ServerConfig& config, std::unique_ptr<Store> store,
                                               const ReplicaOptions& replica) {
  auto impl = std::make_unique<Impl>();
  impl->state.cfg = config;
  impl->state.replica = replica;
  if (replica.standby) {
    impl->state.follower = dynamic_cast<StoreFollower*>(store.get());
    if (impl->state.follower == nullptr) return InvalidArgument("a standby needs a store follower");
  }
  std::string host;
  int port = 0;
  if (auto s = net::SplitHostPort(config.listen, &host, &port); !s.ok()) return Error{s.code(), "listen: " + s.message()};
  if (config.dev && host != "127.0.0.1" && host != "::1" && host != "localhost") {
    return InvalidArgument("listen: --dev serves without authentication and only on loopback (127.0.0.1 or ::1), not " + host);
  }
  if (!config.dev && config.tokens.empty() && config.client_certs.empty()) {
    return InvalidArgument("auth.tokens: the config names no token; add tokens or run with --dev (loopback only)");
  }
  if (auto s = history::ValidateOptions(config.history); !s.ok()) return s.error();
  if (!config.client_certs.empty() && config.tls.client_ca_file.empty() && !config.dev) {
    return InvalidArgument(
        "auth.client_certs: client certificates need tls.client_ca (--tls-client-ca FILE)");
  }
  auto engine = Engine::Create(config.policy);
  if (!engine.ok()) return Error{engine.error().code, "policy: " + engine.error().message};
  impl->state.engine = std::move(engine.value());
  if (!store) {
    if (config.store.kind == "etcd") {
      return InvalidArgument("store etcd: the leader election opens it (ServeLoop), not Server::Create");
    }
    StoreConfig sc = config.store;
    sc.data_dir = config.data_dir;
    sc.sync_full = config.sync_full;
    auto opened = store::Open(sc);
    if (!opened.ok()) return opened.error();
    store = std::move(opened->store);
  }
  impl->state.store = std::move(store);
  impl->state.auth = std::make_shared<server::Authenticator>(config.tokens, config.dev, config.client_certs,
                                                             config.rate_limit);
  impl->state.rate_limits.Configure(impl->state.auth->Limits(), server::SteadyMicros() * 1000);
  auto dashboard = server::Dashboard::Load({config.dashboard, config.dashboard_dir});
  if (!dashboard.ok()) return dashboard.error();
  impl->dashboard = std::move(*dashboard);
  throttle::AimdOptions admission;
  if (!config.throttling_yaml.empty()) {
    // Only the sections the server applies; the rest belongs to the rate-limit routes.
    try {
      YAML::Node t = YAML::Load(config.throttling_yaml);
      if (t.IsMap() && t["degradation"]) {
        auto d = throttle::ParseDegradationNode(t["degradation"], "throttling.degradation");
        if (!d.ok()) return d.error();
        impl->state.degradation_options = std::move(*d);
      }
      if (t.IsMap() && t["admission"]) {
        auto a = throttle::ParseAimdNode(t["admission"], "throttling.admission");
        if (!a.ok()) return a.error();
        admission = *a;
      }
    } catch (const YAML::Exception& e) {
      return InvalidArgument("throttling: " + std::string(e.what()));
    }
  }
  if (auto s = throttle::ValidateDegradationOptions(impl->state.degradation_options); !s.ok()) {
    return InvalidArgument("throttling.degradation: " + s.message());
  }
  if (auto s = throttle::ValidateAimdOptions(admission); !s.ok()) return InvalidArgument("throttling.admission: " + s.message());
  impl->state.degradation = std::make_unique<throttle::DegradationMonitor>(impl->state.degradation_options);
  impl->state.admission = std::make_unique<throttle::AimdLimiter>(admission);
  for (const auto& pc : config.pools) {
    if (pc.max_nodes < pc.min_nodes || !(pc.target_utilization > 0 && pc.target_utilization <= 1)) {
      return InvalidArgument("pools: " + pc.name + ": need min_nodes <= max_nodes and target_utilization in (0, 1]");
    }
    server::State::PoolRuntime p;
    p.cfg = pc;
    impl->state.pools.push_back(std::move(p));
  }
  if (auto s = impl->state.Restore(); !s.ok()) return s.error();
  impl->state.read_revision = impl->state.store->Revision();
  for (auto mount : {server::MountNodes, server::MountAllocations, server::MountReservations,
                     server::MountQuotas, server::MountNodePools, server::MountObserve, server::MountQueue,
                     server::MountHistory, server::MountAnalytics, server::MountCluster}) {
    mount(impl->routes, impl->state);
  }
  net::HttpServerOptions ho;
  ho.host = host;
  ho.port = port;
  ho.max_body_bytes = config.max_body_bytes;
  ho.max_queue = config.max_queue;
  ho.max_connections = config.max_connections;
  ho.workers = config.workers;
  ho.request_timeout_ms = config.request_timeout_ms;
  ho.idle_timeout_ms = config.idle_timeout_ms;
  ho.write_timeout_ms = config.write_timeout_ms;
  ho.max_connections_per_address = config.max_connections_per_address;
  ho.max_pending_output_bytes = config.max_pending_output_bytes;
  ho.send_buffer_bytes = config.send_buffer_bytes;
  ho.tls = {config.tls.cert_file, config.tls.key_file, config.tls.client_ca_file};
  Impl* p = impl.get();
  ho.on_response = [p](const net::AccessRecord& rec) { p->state.OnResponse(rec); };
  if (!replica.self_url.empty()) {
    // Every answer of a replica says which revision of the store its state is as of.
    // (CommitThen gives a change's answer the revision that made it durable.)
    ho.decorate = [p](net::HttpResponse* resp) {
      for (const auto& [k, v] : resp->headers) {
        if (k == "X-Allot-Revision") return;
      }
      resp->headers.emplace_back("X-Allot-Revision", std::to_string(p->state.Revision()));
    };
  }
  // A single rate-limit acquire is one in-memory decision: it skips the worker hand-off. (The batch form
  // stays with the workers, which share its JSON work between cores.)
  ho.run_inline = [](const net::HttpRequest& req) {
    const std::string& path = req.path;
    constexpr std::string_view kPrefix = "/v1/ratelimits/", kSuffix = "/acquire";
    return req.method == "POST" && path.size() > kPrefix.size() + kSuffix.size() &&
           path.compare(0, kPrefix.size(), kPrefix) == 0 &&
           path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
  };
  // The allocation hot path (submit, renew, release) when the server is otherwise idle: a lone client's
  // request is handled on the I/O thread and answered when its batch is durable, one thread hand-off
  // fewer per request. The handlers decide from memory and hand the batch to the store's committer. Where
  // the process has at most 2 CPUs (or limits.allocations_on_io_thread says always) also under load: the
  // I/O thread and the committer already have the cores, and a worker would only add wake-ups.
  ho.run_inline_when_busy = config.AllocationsOnIoThreadUnderLoad();
  ho.run_inline_when_idle = [](const net::HttpRequest& req) {
    constexpr std::string_view kAllocs = "/v1/allocations";
    std::string_view path = req.path;
    if (path.size() < kAllocs.size() || path.compare(0, kAllocs.size(), kAllocs) != 0) return false;
    std::string_view rest = path.substr(kAllocs.size());
    if (req.method == "POST")
      return rest.empty() || (rest.size() > 7 && rest.substr(rest.size() - 6) == "/renew");
    return req.method == "DELETE" && rest.size() > 1 && rest.find('/', 1) == std::string_view::npos;
  };
  auto http = net::HttpServer::Create(ho, [p](net::HttpRequest&& req, const net::Responder& r) {
    // The last resort: a handler that throws answers 500 and is logged; the server keeps serving. (Input is
    // validated before use, so reaching this is a bug; the first Send wins, so an answer already sent stays.)
    try {
      p->Handle(std::move(req), r);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"request handler failed\",\"error\":%s}\n",
                   server::Dump(Json(SafeUtf8(e.what(), 300))).c_str());
      r.Send(ErrorResponse({500, "internal", "the server failed on this request; it was logged", ""}));
    }
  });
  if (!http.ok()) return http.error();
  impl->state.http = std::move(http.value());
  std::unique_ptr<Server> server(new Server(std::move(impl)));
  // The throttling API (/v1/ratelimits, /v1/pools, /v1/breakers) registers its routes in the same table.
  if (Status t = server::MountThrottleRoutes(*server, config); !t.ok()) return t.error();
  if (!replica.self_url.empty()) server->AddMetrics([p] { return p->state.ReplicaMetrics(); });
  MountAdmin(server.get(), p);
  return server;
}

void Server::AddRoute(std::string method, std::string pattern, std::function<ApiAnswer(const ApiCall&)> fn) {
  impl_->routes.Add(std::move(method), std::move(pattern), [fn = std::move(fn)](const server::Call& c) {
    ApiCall call{c.req.method, c.req.path, c.req.body, {}, c.who.name, c.who.role, c.who.tenant, {}};
    for (const auto& [k, v] : c.req.query) call.query.emplace_back(k, v);
    call.params = c.params.values();
    ApiAnswer a = fn(call);
    net::HttpResponse resp;
    resp.status = a.status;
    resp.body = std::move(a.body);
    for (auto& [k, v] : a.headers) {
      if (k == "Content-Type") resp.content_type = v;
      else resp.headers.emplace_back(std::move(k), std::move(v));
    }
    c.r.Send(std::move(resp));
  });
}

void Server::AddMetrics(std::function<std::string()> fn) { impl_->state.metric_sources.push_back(std::move(fn)); }

Status Server::Audit(std::vector<AuditEvent> events) {
  if (events.empty()) return Status::Ok();
  Batch b;
  b.events = std::move(events);
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> durable = done->get_future();
  impl_->state.store->Commit(std::move(b), [done](const Status& s) { done->set_value(s); });
  Status s = durable.get();
  if (!s.ok()) {
    std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"audit commit failed\",\"error\":%s}\n",
                 server::Dump(Json(s.message())).c_str());
  }
  return s;
}

int Server::port() const { return impl_->state.http->port(); }
int64_t Server::Revision() const { return impl_->state.Revision(); }
double Server::LagSeconds() const { return impl_->state.LagSeconds(); }
Result<Snapshot> Server::FollowedRecords() {
  if (impl_->state.follower == nullptr) return Error{ErrorCode::kFailedPrecondition, "not a standby"};
  return impl_->state.follower->Load();
}

Status Server::Reload() {
  std::lock_guard<std::mutex> reloading(impl_->reload_mu);
  server::State& st = impl_->state;
  std::optional<ServerConfig> fresh;
  if (!st.cfg.config_files.empty()) {
    auto c = LoadServerConfigs(st.cfg.config_files);
    if (!c.ok()) return c.error();
    if (!st.cfg.dev && c->tokens.empty() && c->client_certs.empty()) {
      return InvalidArgument("auth.tokens: the config names no token; the old tokens stay in force");
    }
    fresh = std::move(*c);
  }
  if (!st.cfg.tls.cert_file.empty()) {
    if (Status s = st.http->ReloadTls(); !s.ok()) return s;
  }
  if (fresh) {
    auto auth = std::make_shared<server::Authenticator>(fresh->tokens, st.cfg.dev, fresh->client_certs,
                                                        fresh->rate_limit);
    st.rate_limits.Configure(auth->Limits(), server::SteadyMicros() * 1000);
    std::lock_guard<std::mutex> l(st.auth_mu);
    st.auth = std::move(auth);
  }
  return Status::Ok();
}

Status Server::Run() {
  // A standby follows the leader's commits instead of scheduling.
  impl_->state.timer = std::thread([p = impl_.get()] {
    if (p->state.replica.standby)
      p->state.FollowLoop();
    else
      p->state.TimerLoop();
  });
  impl_->state.ready = true;
  impl_->state.http->Run();  // returns after the drain
  impl_->state.stopping = true;
  impl_->state.timer_cv.notify_all();
  impl_->state.timer.join();
  {
    // Long-polls still open get their current answer.
    std::lock_guard<std::mutex> l(impl_->state.mu);
    impl_->state.watches.clear();
  }
  std::vector<AuditEvent> failures;  // the auth failures of the last window
  impl_->state.auth_failures.Drain(server::WallNowMs(), true, &failures);
  (void)Audit(std::move(failures));
  Status s = impl_->state.store->Flush();
  impl_->state.store->Close();
  return s;
}

void Server::Shutdown() {
  impl_->state.stopping = true;
  impl_->state.http->Shutdown();
}
void Server::RequestShutdown() { impl_->state.http->RequestShutdown(); }

}  // namespace allot
