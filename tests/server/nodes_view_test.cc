// GET /v1/nodes: the node objects are written as text (State::WriteNode) and must say exactly what the
// Json objects said before; ?view=usage says the same amounts as columns.
#include <gtest/gtest.h>

#include <random>

#include "server/state.h"
#include "server/util.h"
#include "server_process.h"

namespace allot::server {
namespace {

// A node's JSON as the Json object of the previous server built it, key by key.
Json ReferenceNode(const State& s, const NodeInfo& n) {
  Json taints = Json::array();
  for (const auto& t : n.taints) taints.push_back({{"key", t.key}, {"value", t.value}, {"effect", t.effect}});
  Json j = {{"name", n.name},
            {"state", !n.up        ? "down"
                      : n.draining ? "draining"
                                   : "up"},
            {"up", n.up},
            {"draining", n.draining},
            {"capacity", ResourcesJson(n.capacity)},
            {"allocated", ResourcesJson(n.allocated)},
            {"free", ResourcesJson(n.free)},
            {"observed", ResourcesJson(n.observed)},
            {"labels", n.labels},
            {"taints", taints},
            {"pool", n.pool},
            {"allocations", n.allocations}};
  auto m = s.node_meta.find(n.name);
  if (m != s.node_meta.end() && m->second.last_heartbeat > 0) {
    j["last_heartbeat"] = FormatTime(m->second.last_heartbeat);
  }
  if (m != s.node_meta.end()) {
    j["agent"] = m->second.agent;
    if (!m->second.gpus.empty()) j["gpus"] = m->second.gpus;
  }
  return j;
}

// A cluster as the dashboard benchmark builds one (four node sizes, a GPU node in ten, zones, racks,
// pools), with what else a node may carry: unmanaged usage, taints, an agent with GPUs and heartbeats,
// resources whose names sort around gpu_milli, escaped label text; some nodes drained or down; work placed.
TEST(NodesJsonTest, EveryNodeIsWhatTheJsonObjectWas) {
  State s;
  auto engine = Engine::Create(EngineOptions{});
  ASSERT_TRUE(engine.ok());
  s.engine = std::move(engine.value());
  std::mt19937_64 rng(18);
  const int64_t gib = int64_t{1} << 30;
  for (int i = 0; i < 300; i++) {
    NodeSpec spec;
    spec.name = "node-" + std::to_string(10000 + i).substr(1);
    int64_t size = 1 + i % 4;
    spec.capacity = {{"cpu", 16'000 * size}, {"memory", 64 * gib * size}};
    if (i % 10 == 0) spec.capacity = {{"cpu", 64'000}, {"memory", 512 * gib}, {"gpu", 8'000}};
    if (i % 17 == 0) spec.capacity["gpu-memory"] = 80 * gib;  // sorts between gpu and gpu_milli
    if (i % 19 == 0) spec.capacity["gpu_partition"] = 7;      // and after it
    if (i % 7 == 0) spec.allocated = {{"cpu", 1'500}, {"memory", 3 * gib}};
    spec.labels = {{"zone", "z" + std::to_string(i % 3)}, {"rack", "r" + std::to_string(i / 40)}};
    if (i % 11 == 0) spec.labels["note"] = "caf\xc3\xa9 \"quoted\" back\\slash";
    if (i % 13 == 0) spec.taints = {{"dedicated", "ml", "NoSchedule"}, {"spot", "", "PreferNoSchedule"}};
    spec.pool = "pool-" + std::to_string(i % 8);
    ASSERT_TRUE(s.engine->AddNode(spec, 1'000).ok()) << spec.name;
    State::NodeMeta& meta = s.node_meta[spec.name];
    meta.pool = spec.pool;
    if (i % 5 == 0) {
      meta.agent = true;
      meta.owner = "agent-" + std::to_string(i);
      meta.last_heartbeat = 1'700'000'000'000 + static_cast<int64_t>(rng() % 1'000'000);
    }
    if (i % 10 == 0 && i % 20 == 0) {
      meta.gpus = Json::array({{{"index", 0}, {"model", "NVIDIA H100 80GB HBM3"}, {"memory", 80 * gib}},
                               {{"index", 1}, {"model", "NVIDIA H100 80GB HBM3"}, {"utilization", 37}}});
    }
  }
  for (int k = 0; k < 600; k++) {
    RequestSpec req;
    req.tenant = "org/team-" + std::to_string(k % 5);
    req.requests = {{"cpu", 1'000 * (1 + k % 16)}, {"memory", gib * (2 + k % 30)}};
    if (k % 9 == 0) req.requests["gpu"] = 250 * (1 + k % 3);  // shares of one device
    auto submitted = s.engine->Submit(req, 2'000);
    ASSERT_TRUE(submitted.ok()) << submitted.error().message;
  }
  s.engine->Schedule(2'000);
  ASSERT_TRUE(s.engine->DrainNode("node-0003", 3'000).ok());
  ASSERT_TRUE(s.engine->SetNodeDown("node-0004", 3'000).ok());

  std::vector<NodeInfo> nodes = s.engine->Nodes();
  ASSERT_EQ(nodes.size(), 300u);
  size_t busy = 0;
  Json reference = Json::array();
  JsonWriter all;
  all.BeginArray();
  for (const auto& n : nodes) {
    busy += n.allocations > 0;
    JsonWriter w;
    s.WriteNode(w, n);
    all.Raw(w.out());
    Json want = ReferenceNode(s, n);
    // Same text as Dump wrote for the object (keys in the same order), and the same values.
    ASSERT_EQ(w.out(), Dump(want)) << n.name;
    EXPECT_EQ(s.NodeJson(n), want) << n.name;
    reference.push_back(std::move(want));
  }
  all.EndArray();
  EXPECT_EQ(all.out(), Dump(reference));
  EXPECT_GT(busy, 100u);  // the comparison saw nodes with work on them
}

}  // namespace
}  // namespace allot::server

namespace allot::testing {
namespace {

using nlohmann::json;

class NodesUsageView : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", std::vector<std::string>{"--dev"});
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }
  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

// Each column's i-th entry is what the i-th whole node says (its units too: gpu in devices, gpu_milli
// in milli-GPUs, memory in bytes); a resource or label a node lacks is 0 or null.
TEST_F(NodesUsageView, ColumnsSayWhatTheNodesSay) {
  Api api(server_->url());
  for (int i = 0; i < 24; i++) {
    json capacity = i % 6 == 0 ? json{{"cpu", "64"}, {"memory", "512Gi"}, {"gpu", "8"}}
                               : json{{"cpu", std::to_string(16 * (1 + i % 4))}, {"memory", "64Gi"}};
    json labels = {{"zone", "z" + std::to_string(i % 3)}};
    if (i % 4 == 0) labels["rack"] = "r" + std::to_string(i / 4);
    json node = {{"name", "node-" + std::to_string(i)}, {"capacity", capacity}, {"labels", labels}};
    if (i % 2 == 0) node["pool"] = "pool-" + std::to_string(i % 4);
    ASSERT_EQ(api.Call("POST", "/v1/nodes", node).status, 201);
  }
  for (int k = 0; k < 30; k++) {
    json req = {{"tenant", "org/t" + std::to_string(k % 3)},
                {"requests", {{"cpu", std::to_string(1 + k % 5)}, {"memory", "3Gi"}}}};
    if (k % 4 == 0) req["requests"]["gpu"] = "0.5";
    auto a = api.Call("POST", "/v1/allocations", req);
    ASSERT_LT(a.status, 300) << a.body.dump();
  }
  ASSERT_EQ(api.Call("POST", "/v1/nodes/node-5/drain").status, 200);

  auto whole = api.Call("GET", "/v1/nodes");
  auto usage = api.Call("GET", "/v1/nodes?view=usage");
  ASSERT_EQ(whole.status, 200);
  ASSERT_EQ(usage.status, 200) << usage.body.dump();
  const json& nodes = whole.body["nodes"];
  const json& u = usage.body;
  ASSERT_EQ(nodes.size(), 24u);
  EXPECT_EQ(u["count"], 24);
  EXPECT_EQ(u["resources"], json({"cpu", "gpu", "gpu_milli", "memory"}));
  EXPECT_EQ(u["labels"].size(), 2u);  // rack, zone
  int64_t gpu_milli_allocated = 0;
  for (size_t i = 0; i < nodes.size(); i++) {
    const json& n = nodes[i];
    EXPECT_EQ(u["name"][i], n["name"]) << i;
    EXPECT_EQ(u["state"][i], n["state"]) << i;
    EXPECT_EQ(u["pool"][i], n["pool"]) << i;
    EXPECT_EQ(u["allocations"][i], n["allocations"]) << i;
    for (const auto& res : u["resources"]) {
      const std::string r = res;
      EXPECT_EQ(u["capacity"][r][i], n["capacity"].value(r, json(0))) << r << " " << i;
      EXPECT_EQ(u["allocated"][r][i], n["allocated"].value(r, json(0))) << r << " " << i;
    }
    for (const auto& [key, column] : u["labels"].items()) {
      EXPECT_EQ(column[i], n["labels"].contains(key) ? n["labels"][key] : json(nullptr)) << key << " " << i;
    }
    gpu_milli_allocated += u["allocated"]["gpu_milli"][i].get<int64_t>();
  }
  // 8 of the 30 requests ask for half a GPU (k = 0, 4, ..., 28): 4,000 milli-GPUs placed, as whole GPUs
  // rounded up per node in `gpu`; and node-5 drains.
  EXPECT_EQ(gpu_milli_allocated, 4'000);
  EXPECT_EQ(u["state"][5], "draining");
  EXPECT_EQ(u["labels"]["rack"][1], nullptr);
  EXPECT_EQ(u["labels"]["rack"][4], "r1");

  auto bad = api.Call("GET", "/v1/nodes?view=everything");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["error"]["field"], "view");
  EXPECT_NE(bad.body["error"]["message"].get<std::string>().find("everything"), std::string::npos);
}

// No nodes: empty columns, not a missing key.
TEST_F(NodesUsageView, AnEmptyClusterHasEmptyColumns) {
  auto usage = Api(server_->url()).Call("GET", "/v1/nodes?view=usage");
  ASSERT_EQ(usage.status, 200);
  EXPECT_EQ(usage.body,
            json::parse(R"({"count":0,"resources":[],"name":[],"state":[],"pool":[],"allocations":[],
                                       "capacity":{},"allocated":{},"labels":{}})"));
}

}  // namespace
}  // namespace allot::testing
