// The queue through the real server: GET /v1/queue's positions and estimated starts, the same fields on a
// queued allocation, `allot queue`, and allot_queue_oldest_age_seconds.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <thread>

#include "allot/clock.h"
#include "server_process.h"

namespace allot::testing {
namespace {

using nlohmann::json;

double OldestAge(Api& api) {
  auto m = api.Call("GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  std::string text = m.body.get<std::string>();
  std::smatch match;
  if (!std::regex_search(text, match, std::regex("\nallot_queue_oldest_age_seconds ([0-9.e+-]+)\n"))) {
    ADD_FAILURE() << "no allot_queue_oldest_age_seconds sample in\n" << text.substr(0, 2000);
    return -1;
  }
  return std::stod(match[1]);
}

TEST(QueueAgeTest, OldestQueuedRequestsAgeAndZeroWhenNoneWaits) {
  TempDir dir;
  ServerProcess server(dir.path() + "/data", {"--dev"});
  ASSERT_TRUE(server.Start()) << server.Log();
  Api api(server.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "4"}, {"memory", "16Gi"}}}}).status, 201);
  EXPECT_EQ(OldestAge(api), 0);  // nothing queued
  auto a = api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "4"}}}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  // The node is full: the first of two requests waits longest.
  ASSERT_EQ(api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "2"}}}}).status, 202);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_EQ(api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "2"}}}, {"priority", "high"}}).status,
            202);
  double age = OldestAge(api);
  EXPECT_GE(age, 1.2);  // the first queued one, not the younger high-priority one at the queue's head
  EXPECT_LT(age, 60);
  // Releasing the 4-core one places both waiting requests: nothing waits any more.
  ASSERT_EQ(api.Call("DELETE", "/v1/allocations/" + a.body["id"].get<std::string>()).status, 200);
  EXPECT_EQ(OldestAge(api), 0);
}

int64_t Ms(const json& rfc3339) {
  auto t = server::ParseTime(rfc3339.get<std::string>());
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t.value_or(0);
}

TEST(QueueTest, PositionsAndEstimatedStartsFromTheLeasesThatEnd) {
  TempDir dir;
  ServerProcess server(dir.path() + "/data", {"--dev"});
  ASSERT_TRUE(server.Start()) << server.Log();
  Api api(server.url());
  ASSERT_EQ(api.Call("POST", "/v1/nodes", json{{"name", "n1"}, {"capacity", {{"cpu", "4"}, {"memory", "16Gi"}}}}).status, 201);
  auto a = api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "4"}}}, {"duration", "1h"}});
  ASSERT_EQ(a.status, 201) << a.body.dump();
  const int64_t a_ends = Ms(a.body["expires"]);
  auto b = api.Call("POST", "/v1/allocations", json{{"tenant", "org/a"}, {"requests", {{"cpu", "2"}}}, {"duration", "10m"}});
  ASSERT_EQ(b.status, 202);
  auto c = api.Call("POST", "/v1/allocations", json{{"tenant", "org/b"}, {"requests", {{"cpu", "4"}}}, {"duration", "5m"}});
  ASSERT_EQ(c.status, 202);
  auto d = api.Call("POST", "/v1/allocations", json{{"tenant", "org/b"}, {"requests", {{"cpu", "1"}}}});  // no lease
  ASSERT_EQ(d.status, 202);
  auto e = api.Call("POST", "/v1/allocations", json{{"tenant", "org/b"}, {"requests", {{"cpu", "4"}}}});
  ASSERT_EQ(e.status, 202);
  auto q = api.Call("GET", "/v1/queue");
  ASSERT_EQ(q.status, 200) << q.body.dump();
  ASSERT_EQ(q.body["count"], 4);
  const json& items = q.body["queue"];
  ASSERT_EQ(items.size(), 4u);
  // Strict FCFS (no backfill): b starts when a's lease ends; c needs all 4 cpu, so b's end (10 min later);
  // d (1 cpu) fits beside nobody earlier than c ends and holds its core for good; e (4 cpu) then never fits.
  EXPECT_EQ(items[0]["id"], b.body["id"]);
  EXPECT_EQ(items[0]["position"], 1);
  EXPECT_EQ(items[0]["tenant_position"], 1);
  EXPECT_EQ(Ms(items[0]["estimated_start"]), a_ends);
  EXPECT_EQ(items[1]["id"], c.body["id"]);
  EXPECT_EQ(items[1]["tenant_position"], 1);
  EXPECT_EQ(Ms(items[1]["estimated_start"]), a_ends + 10 * 60 * 1000);
  EXPECT_EQ(Ms(items[2]["estimated_start"]), a_ends + 15 * 60 * 1000);
  EXPECT_EQ(items[2]["tenant_position"], 2);
  EXPECT_TRUE(items[3]["estimated_start"].is_null());
  EXPECT_EQ(items[3]["state"], "queued");
  // The allocation's own document carries the same place.
  auto one = api.Call("GET", "/v1/allocations/" + c.body["id"].get<std::string>());
  EXPECT_EQ(one.body["position"], 2);
  EXPECT_EQ(one.body["estimated_start"], items[1]["estimated_start"]);
  EXPECT_FALSE(api.Call("GET", "/v1/allocations/" + a.body["id"].get<std::string>()).body.contains("position"));
  // Filters and paging.
  auto only_b = api.Call("GET", "/v1/queue?tenant=org/b&offset=1&limit=1");
  ASSERT_EQ(only_b.status, 200);
  EXPECT_EQ(only_b.body["count"], 3);
  ASSERT_EQ(only_b.body["queue"].size(), 1u);
  EXPECT_EQ(only_b.body["queue"][0]["id"], d.body["id"]);
  EXPECT_EQ(api.Call("GET", "/v1/queue?limit=x").status, 400);
  // The CLI's table.
  auto cli = RunAllot({"queue", "--server", server.url(), "--tenant", "org/a"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("START"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find(b.body["id"].get<std::string>()), std::string::npos) << cli.out;
  // a's hour, less the milliseconds gone by, rounded up to whole seconds
  EXPECT_TRUE(cli.out.find("in 1h ") != std::string::npos || cli.out.find("in 59m") != std::string::npos) << cli.out;
  auto cli_json = RunAllot({"queue", "--server", server.url(), "--json"});
  ASSERT_EQ(cli_json.exit_code, 0);
  EXPECT_EQ(json::parse(cli_json.out)["count"], 4);
}

}  // namespace
}  // namespace allot::testing
