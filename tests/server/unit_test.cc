// Unit tests of the server module's pieces: config, auth, JSON validation, durations, records, metrics.
#include <gtest/gtest.h>
#include <sched.h>

#include "allot/server.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/records.h"
#include "server/util.h"

namespace allot::server {
namespace {

TEST(ConfigTest, ReadsEveryKnownSection) {
  auto c = ParseServerConfig(R"(
listen: 127.0.0.1:9000
data: /tmp/x
auth: {tokens: [{name: a, role: admin, token: secret-admin}, {name: w, role: writer, tenant: org/a, token: writer-secret}]}
policy: {scoring: most-allocated, fair_share: drf, preemption: true, backfill: true, quota_mode: strict}
limits: {max_allocations_per_tenant: 5, max_concurrent_allocations: 10, max_lease: 1h}
heartbeat_timeout: 45s
tenants: [{path: org/a, weight: 2, quota: {max: {cpu: "4"}, burst: 1.5, grace: 5m}}]
nodes: [{name: n1, capacity: {cpu: "8", memory: 16Gi}, labels: {zone: a}}]
throttling: {anything: [1, 2]}
)", "t.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->listen, "127.0.0.1:9000");
  EXPECT_EQ(c->policy.scoring, "most-allocated");
  EXPECT_EQ(c->policy.quota_mode, QuotaMode::kStrict);
  EXPECT_EQ(c->max_allocations_per_tenant, 5u);
  EXPECT_EQ(c->max_lease_ms, 3600 * 1000);
  EXPECT_EQ(c->heartbeat_timeout_ms, 45000);
  ASSERT_EQ(c->tokens.size(), 2u);
  EXPECT_EQ(c->tokens[0].sha256_hex, HashToken("secret-admin"));
  EXPECT_EQ(c->tokens[1].tenant, "org/a");
  ASSERT_EQ(c->tenants.size(), 1u);
  EXPECT_EQ(c->tenants[0].max.at("cpu"), 4000);  // 4 cores = 4000 millicores
  EXPECT_EQ(c->tenants[0].grace, 5 * 60 * 1000);
  ASSERT_EQ(c->nodes.size(), 1u);
  EXPECT_EQ(c->nodes[0].capacity.at("memory"), int64_t{16} << 30);
  EXPECT_NE(c->throttling_yaml.find("anything"), std::string::npos);
}

TEST(ConfigTest, EveryEngineScoringStrategyIsAccepted) {
  for (std::string name : {"least-allocated", "most-allocated", "requested-to-capacity-ratio", "balanced-allocation",
                           "gpu-fragmentation"}) {
    auto c = ParseServerConfig("listen: a:1\npolicy:\n  scoring: " + name + "\n", "c.yaml");
    ASSERT_TRUE(c.ok()) << name << ": " << c.error().message;
    EXPECT_EQ(c->policy.scoring, name);
  }
}

TEST(ConfigTest, UnknownKeysAndBadValuesNameTheKeyAndLine) {
  auto c = ParseServerConfig("listen: a:1\npolicy:\n  scoring: fastest\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("c.yaml:3"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("policy.scoring"), std::string::npos);
  c = ParseServerConfig("limits: {max_queue: 5, turbo: true}\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("limits.turbo: unknown key"), std::string::npos) << c.error().message;
  c = ParseServerConfig("auth: {tokens: [{name: w, role: writer, token: abcdefgh}]}\n", "c.yaml");
  ASSERT_FALSE(c.ok());  // a writer needs its tenant subtree
  c = ParseServerConfig("auth: {tokens: [{name: w, role: admin, sha256: nothex}]}\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  c = ParseServerConfig("nodes: [{name: n, capacity: {cpu: lots}}]\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("nodes[0].capacity.cpu"), std::string::npos) << c.error().message;
}

// limits.allocations_on_io_thread: always and when_idle say it outright; auto (the default) follows the
// CPUs this process may use (at most 2: always); anything else is refused by key and line.
TEST(ConfigTest, AllocationsOnTheIoThreadFollowTheSettingOrTheCpus) {
  using W = ServerConfig::IoThreadAllocations;
  auto c = ParseServerConfig("limits:\n  allocations_on_io_thread: always\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->allocations_on_io_thread, W::kAlways);
  EXPECT_TRUE(c->AllocationsOnIoThreadUnderLoad());
  c = ParseServerConfig("limits: {allocations_on_io_thread: when_idle}\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->AllocationsOnIoThreadUnderLoad());
  c = ParseServerConfig("limits: {allocations_on_io_thread: auto}\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->allocations_on_io_thread, W::kAuto);
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(c->AllocationsOnIoThreadUnderLoad(), CPU_COUNT(&set) <= 2) << CPU_COUNT(&set) << " CPUs";
  EXPECT_EQ(ServerConfig{}.allocations_on_io_thread, W::kAuto);
  c = ParseServerConfig("limits:\n  allocations_on_io_thread: sometimes\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("c.yaml:2"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("limits.allocations_on_io_thread: must be auto, always or when_idle, not "
                                   "\"sometimes\""),
            std::string::npos)
      << c.error().message;
}

TEST(ConfigTest, StoreSectionAsTheFlagsSpellIt) {
  auto c = ParseServerConfig(R"(
store:
  kind: etcd
  etcd_endpoints: [http://127.0.0.1:2379, 127.0.0.1:2479]
  etcd_prefix: /prod
  etcd_lease_ttl: 3
  etcd_max_txn_ops: 256
)", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->store.kind, "etcd");
  EXPECT_EQ(c->store.etcd_endpoints, (std::vector<std::string>{"http://127.0.0.1:2379", "http://127.0.0.1:2479"}));
  EXPECT_EQ(c->store.etcd_prefix, "/prod");
  EXPECT_EQ(c->store.etcd_lease_ttl_s, 3);
  EXPECT_EQ(c->store.etcd_max_txn_ops, 256u);
  c = ParseServerConfig("store: {etcd_endpoints: \"http://a:1,http://b:2\"}\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->store.etcd_endpoints.size(), 2u);
  EXPECT_EQ(c->store.kind, "sqlite");  // the default stays
  struct {
    const char* yaml;
    const char* names;
  } bad[] = {{"store: {kind: redis}\n", "store.kind"},
             {"store:\n  etcd_lease_ttl: 0\n", "c.yaml:2: store.etcd_lease_ttl"},
             {"store: {etcd_max_txn_ops: 4}\n", "store.etcd_max_txn_ops"},
             {"store: {etcd_prefix: allot}\n", "store.etcd_prefix"},
             {"store: {etcd_endpoints: [\"https://a:1\"]}\n", "store.etcd_endpoints"},
             {"store: {backend: etcd}\n", "store.backend: unknown key"}};
  for (const auto& b : bad) {
    auto r = ParseServerConfig(b.yaml, "c.yaml");
    ASSERT_FALSE(r.ok()) << b.yaml;
    EXPECT_NE(r.error().message.find(b.names), std::string::npos) << r.error().message;
  }
}

TEST(ConfigTest, UnitsWarnOrStrict) {
  EXPECT_FALSE(ParseServerConfig("listen: a:1\n", "c.yaml")->strict_units);
  EXPECT_TRUE(ParseServerConfig("units: strict\n", "c.yaml")->strict_units);
  EXPECT_FALSE(ParseServerConfig("units: warn\n", "c.yaml")->strict_units);
  auto c = ParseServerConfig("listen: a:1\nunits: loose\n", "c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("c.yaml:2: units: must be warn or strict"), std::string::npos) << c.error().message;
}

TEST(AuthTest, MatchesOnlyTheHashedSecretAndKeepsRoles) {
  std::vector<TokenConfig> toks = {{"ops", "admin", "", HashToken("s3cret-ops")},
                                   {"bot", "writer", "org/a", HashToken("s3cret-bot")}};
  Authenticator a(toks, false);
  EXPECT_FALSE(a.Authenticate("").has_value());
  EXPECT_FALSE(a.Authenticate("Bearer wrong").has_value());
  EXPECT_FALSE(a.Authenticate("s3cret-ops").has_value());  // no "Bearer "
  auto ops = a.Authenticate("Bearer s3cret-ops");
  ASSERT_TRUE(ops.has_value());
  EXPECT_EQ(ops->name, "ops");
  EXPECT_TRUE(ops->CoversTenant("anything/at/all"));
  auto bot = a.Authenticate("Bearer s3cret-bot");
  ASSERT_TRUE(bot.has_value());
  EXPECT_TRUE(bot->CoversTenant("org/a"));
  EXPECT_TRUE(bot->CoversTenant("org/a/x"));
  EXPECT_FALSE(bot->CoversTenant("org/ab"));  // a sibling that merely shares the prefix
  EXPECT_FALSE(bot->CoversTenant("org"));
  Authenticator dev({}, true);
  EXPECT_EQ(dev.Authenticate("")->role, "admin");
}

TEST(AuthTest, HashTokenIsSha256Hex) {
  // sha256("abc") is the FIPS 180-2 test vector.
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(UtilTest, Durations) {
  EXPECT_EQ(ParseDurationMs("90s"), 90000);
  EXPECT_EQ(ParseDurationMs("1h30m"), 5400000);  // 3600 s + 1800 s
  EXPECT_EQ(ParseDurationMs("500ms"), 500);
  EXPECT_EQ(ParseDurationMs("1.5"), 1500);  // plain seconds
  EXPECT_EQ(ParseDurationMs("2d"), 2 * 86400000);
  EXPECT_FALSE(ParseDurationMs("-5s").has_value());
  EXPECT_FALSE(ParseDurationMs("5 parsecs").has_value());
  EXPECT_FALSE(ParseDurationMs("").has_value());
}

TEST(UtilTest, Times) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTime(1500), "1970-01-01T00:00:01.500Z");
  EXPECT_EQ(ParseTime("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(ParseTime("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_FALSE(ParseTime("yesterday").has_value());
}

TEST(UtilTest, BodyValidationNamesTheField) {
  Json j;
  EXPECT_EQ(ParseBody("{", 16, &j)->status, 400);
  EXPECT_EQ(ParseBody("[1]", 16, &j)->status, 400);
  EXPECT_EQ(ParseBody(std::string(40, '[') + std::string(40, ']'), 16, &j)->status, 400);
  EXPECT_EQ(JsonDepth(R"({"a":"[[[[","b":{"c":[1]}})"), 3);  // brackets inside strings do not count
  ASSERT_FALSE(ParseBody(R"({"requests":{"cpu":"2"}})", 16, &j).has_value());
  ResourceMap m;
  EXPECT_FALSE(GetResources(j["requests"], "requests", &m).has_value());
  EXPECT_EQ(m.at("cpu"), 2000);
  m.clear();
  auto e = GetResources(Json{{"cpu", "-1"}}, "requests", &m);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 422);
  EXPECT_EQ(e->field, "requests.cpu");
  // Bytes may use all of int64 (issue 15): 20Pi and 7Ei are accepted exactly, 10E (10^19) is past 2^63-1.
  e = GetResources(Json{{"memory", "20Pi"}, {"ephemeral-storage", "7Ei"}}, "requests", &m);
  EXPECT_FALSE(e.has_value());
  EXPECT_EQ(m.at("memory"), 20LL << 50);
  EXPECT_EQ(m.at("ephemeral-storage"), 7LL << 60);
  m.clear();
  e = GetResources(Json{{"memory", "10E"}}, "requests", &m);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 422);
  EXPECT_NE(e->message.find("must fit in 64 bits"), std::string::npos) << e->message;
  m.clear();
  // cpu (milli-units) keeps the 2^50 cap: 1125899906842624m is the largest accepted amount.
  EXPECT_FALSE(GetResources(Json{{"cpu", "1125899906842624m"}}, "requests", &m).has_value());
  m.clear();
  e = GetResources(Json{{"cpu", "1125899906842625m"}}, "requests", &m);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 422);
  e = GetResources(Json{{"cpu", true}}, "requests", &m);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 400);
  e = CheckKeys(Json{{"tenant", "a"}, {"tennant", "b"}}, "", {"tenant"});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->field, "tennant");
  EXPECT_TRUE(ValidateTenant("org//a", "tenant").has_value());
  EXPECT_FALSE(ValidateTenant("org/a-1/b_2", "tenant").has_value());
}

TEST(UtilTest, OutputUnits) {
  Json j = ResourcesJson({{"cpu", 1500}, {"gpu", 500}, {"memory", 1024}});
  EXPECT_EQ(j["cpu"], 1500);      // millicores
  EXPECT_EQ(j["gpu"], 1);         // half a device rounds up to 1 device
  EXPECT_EQ(j["gpu_milli"], 500);
  EXPECT_EQ(j["memory"], 1024);
}

TEST(RecordsTest, AllocationRoundTrip) {
  AllocRecord r;
  r.info.id = "a-1";
  r.info.tenant = "org/a";
  r.info.priority = -3;
  r.info.state = AllocState::kPlaced;
  r.info.nodes = {"n1", "n2"};
  r.info.count = 2;
  r.info.requests = {{"cpu", 1500}, {"memory", int64_t{1} << 40}};
  r.info.submitted = 1700000000000;
  r.info.started = 1700000000001;
  r.info.expires = 1700000060001;
  r.spec.selector = {{"zone", "a"}};
  r.spec.tolerations = {{"k", "v", "Equal", "NoSchedule"}};
  r.spec.wait = 5000;
  r.spec.duration = 60000;
  r.spec.ttl = true;
  r.idem = "key-1";
  r.actor = "bot";
  r.lease_ms = 60000;
  auto d = DecodeAlloc(EncodeAlloc(r));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->info.id, "a-1");
  EXPECT_EQ(d->info.priority, -3);
  EXPECT_EQ(d->info.nodes, r.info.nodes);
  EXPECT_EQ(d->info.requests, r.info.requests);
  EXPECT_EQ(d->info.expires, r.info.expires);
  EXPECT_EQ(d->spec.selector, r.spec.selector);
  EXPECT_EQ(d->spec.tolerations.size(), 1u);
  EXPECT_EQ(d->spec.wait, 5000);
  EXPECT_EQ(d->idem, "key-1");
  EXPECT_EQ(d->lease_ms, 60000);
  std::string bytes = EncodeAlloc(r);
  EXPECT_FALSE(DecodeAlloc(bytes.substr(0, bytes.size() / 2)).has_value());  // truncated
}

// A restart decodes each record into the storage of one decoded before it: whatever that one held
// (more nodes, other resources, a selector, fields an older record lacks), the result is exactly what a
// fresh decode gives.
TEST(RecordsTest, DecodingIntoAUsedRecordGivesWhatAFreshDecodeGives) {
  AllocRecord full;
  full.info.id = "a-full";
  full.info.tenant = "org/team-with-a-long-name";
  full.info.workflow = "wf";
  full.info.state = AllocState::kPreempted;
  full.info.nodes = {"node-a", "node-b", "node-c"};
  full.info.count = 3;
  full.info.requests = {{"cpu", 1500}, {"gpu", 1000}, {"memory", int64_t{1} << 30}};
  full.info.limits = {{"cpu", 3000}, {"memory", int64_t{1} << 30}};
  full.info.reason = "preempted by urgent-1";
  full.info.reason_code = ReasonCode::kPreempted;
  full.info.reservation = "r1";
  full.info.ended = 1700000000500;
  full.info.preempted_by = "urgent-1";
  full.spec.selector = {{"zone", "a"}};
  full.spec.tolerations = {{"k", "v", "Equal", "NoSchedule"}};
  full.spec.wait = 5000;
  full.spec.duration = 60000;
  full.spec.ttl = true;
  full.spec.spread = true;
  full.idem = "key-1";
  full.actor = "bot";
  full.agent = "agent-7";
  full.lease_ms = 60000;
  AllocRecord small;
  small.info.id = "a-small";
  small.info.state = AllocState::kPlaced;
  small.info.nodes = {"node-z"};
  small.info.requests = {{"cpu", 250}, {"memory", 1 << 20}};
  small.info.limits = small.info.requests;
  AllocRecord other = small;  // same count of resources as `small`, other names
  other.info.id = "a-other";
  other.info.requests = {{"cpu", 100}, {"example.com/foo", 3}};
  other.info.limits = {};
  std::string old_small = EncodeAlloc(small);
  // Before the end, the preemptor, the reason code and the agent were added: 8 bytes for this record
  // (-1, "", "none", ""), which an older server did not write.
  ASSERT_EQ(old_small.substr(old_small.size() - 8), std::string("\x01\x00\x04none\x00", 8));
  old_small.resize(old_small.size() - 8);
  std::vector<std::string> encoded = {EncodeAlloc(full), EncodeAlloc(small), old_small, EncodeAlloc(other)};
  for (const auto& first : encoded) {
    for (const auto& second : encoded) {
      AllocRecord used;
      ASSERT_TRUE(DecodeAllocInto(first, &used));
      used.info.ttl = true;                 // set by a caller, never stored
      used.info.devices = {"node-a/gpu0"};  // likewise
      ASSERT_TRUE(DecodeAllocInto(second, &used));
      auto fresh = DecodeAlloc(second);
      ASSERT_TRUE(fresh.has_value());
      EXPECT_EQ(EncodeAlloc(used), EncodeAlloc(*fresh));
      EXPECT_EQ(used.info.requests, fresh->info.requests);
      EXPECT_EQ(used.info.limits, fresh->info.limits);
      EXPECT_EQ(used.info.nodes, fresh->info.nodes);
      EXPECT_EQ(used.info.ended, fresh->info.ended);
      EXPECT_EQ(used.agent, fresh->agent);
      EXPECT_EQ(used.spec.selector, fresh->spec.selector);
      EXPECT_EQ(used.spec.tolerations.size(), fresh->spec.tolerations.size());
      EXPECT_EQ(used.spec.wait, fresh->spec.wait);
      EXPECT_EQ(used.spec.duration, fresh->spec.duration);
      EXPECT_FALSE(used.info.ttl);
      EXPECT_TRUE(used.info.devices.empty());
    }
  }
  EXPECT_EQ(DecodeAlloc(old_small)->info.ended, -1);
  EXPECT_EQ(DecodeAlloc(encoded[0])->info.requests, full.info.requests);
}

TEST(RecordsTest, FinishedAllocationKeepsItsEndAndPreemptor) {
  AllocRecord r;
  r.info.id = "a-2";
  r.info.state = AllocState::kPreempted;
  r.info.ended = 1700000000500;
  r.info.preempted_by = "urgent-1";
  auto d = DecodeAlloc(EncodeAlloc(r));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->info.state, AllocState::kPreempted);
  EXPECT_EQ(d->info.ended, 1700000000500);
  EXPECT_EQ(d->info.preempted_by, "urgent-1");
}

TEST(RecordsTest, ReasonCodeSurvivesARestart) {
  AllocRecord r;
  r.info.id = "a-3";
  r.info.state = AllocState::kQueued;
  r.info.reason_code = ReasonCode::kQuota;
  r.info.reason = "tenant org/a: cpu over its quota";
  auto d = DecodeAlloc(EncodeAlloc(r));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->info.reason_code, ReasonCode::kQuota);
  EXPECT_EQ(d->info.reason, r.info.reason);
}

TEST(RecordsTest, NodeTenantReservationRoundTrip) {
  NodeRecord n;
  n.spec.name = "n1";
  n.spec.capacity = {{"cpu", 8000}};
  n.spec.taints = {{"dedicated", "x", "NoSchedule"}};
  n.draining = true;
  n.agent = true;
  auto dn = DecodeNode(EncodeNode(n));
  ASSERT_TRUE(dn.has_value());
  EXPECT_EQ(dn->spec.capacity, n.spec.capacity);
  EXPECT_TRUE(dn->draining);
  EXPECT_TRUE(dn->agent);
  EXPECT_EQ(dn->spec.taints.size(), 1u);
  TenantSpec t;
  t.path = "org/a";
  t.max = {{"cpu", 4000}};
  t.burst = 1.5;
  auto dt = DecodeTenant(EncodeTenant(t));
  ASSERT_TRUE(dt.has_value());
  EXPECT_EQ(dt->max, t.max);
  EXPECT_EQ(dt->burst, 1.5);
  ReservationSpec rs;
  rs.id = "r1";
  rs.start = 10;
  rs.end = 20;
  rs.nodes = {"n1"};
  auto dr = DecodeReservation(EncodeReservation(rs));
  ASSERT_TRUE(dr.has_value());
  EXPECT_EQ(dr->end, 20);
  EXPECT_EQ(dr->nodes, rs.nodes);
}

TEST(MetricsTest, WriterAndHistogram) {
  MetricsWriter w;
  w.Family("x_total", "counter", "Things.");
  w.SampleInt("x_total", {{"a", "q\"uote"}}, 3);
  Histogram h({0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  h.Write(w, "lat_seconds", "Latency.");
  const std::string& t = w.text();
  EXPECT_NE(t.find("x_total{a=\"q\\\"uote\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);   // 0.05 and 0.5
  EXPECT_NE(t.find("lat_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_count 3\n"), std::string::npos);
}

}  // namespace
}  // namespace allot::server
