// The DRF order's tournament (drf_order.cc) against a plain recursive reference. Random tenant trees,
// some with requests of their own at inner tenants, random weights and earlier usage; then one pass over
// a queue of random requests on a cluster where everything fits, so every request starts in the order's
// sequence and moves its tenants' shares. At every step the reference recomputes, from the usage so far,
// the subtree winner at each tenant (its own next request at its own share, each child's winner at the
// child's share; higher priority first, then the smaller share, then the older request) and must name
// the request the engine took.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "allot/engine.h"

namespace allot {
namespace {

struct Req {
  std::string id, tenant;
  int priority;
  int64_t cpu, mem;
  uint64_t seq;
};

class Reference {
 public:
  Reference(std::map<std::string, double> weights, int64_t cap_cpu, int64_t cap_mem)
      : weights_(std::move(weights)), cap_cpu_(cap_cpu), cap_mem_(cap_mem) {}

  void Use(const Req& r) {
    for (std::string p = r.tenant;; p = p.substr(0, p.rfind('/'))) {
      used_[p].first += r.cpu;
      used_[p].second += r.mem;
      if (p.find('/') == std::string::npos) break;
    }
  }

  double Share(const std::string& t) const {
    auto it = used_.find(t);
    if (it == used_.end()) return 0;
    double s = std::max(static_cast<double>(it->second.first) / static_cast<double>(cap_cpu_),
                        static_cast<double>(it->second.second) / static_cast<double>(cap_mem_));
    auto w = weights_.find(t);
    return s / (w == weights_.end() ? 1.0 : w->second);
  }

  // The index in `queue` of the request to take next.
  size_t Next(const std::vector<Req>& queue, const std::vector<bool>& done) const {
    return Best("", queue, done);
  }

 private:
  using Key = std::tuple<int, double, uint64_t>;
  static bool Below(const std::string& t, const std::string& parent) {
    return parent.empty() ? true
                          : t.size() > parent.size() && t.compare(0, parent.size(), parent) == 0 &&
                                t[parent.size()] == '/';
  }
  static std::string ChildOn(const std::string& t, const std::string& parent) {
    size_t from = parent.empty() ? 0 : parent.size() + 1;
    size_t slash = t.find('/', from);
    return t.substr(0, slash);
  }
  // The winner among the requests of `node`'s subtree (SIZE_MAX: none).
  size_t Best(const std::string& node, const std::vector<Req>& queue, const std::vector<bool>& done) const {
    size_t best = SIZE_MAX;
    Key best_key;
    std::map<std::string, bool> children;
    for (size_t i = 0; i < queue.size(); i++) {
      if (done[i]) continue;
      const Req& r = queue[i];
      if (r.tenant == node) {
        Key k{-r.priority, Share(node), r.seq};
        if (best == SIZE_MAX || k < best_key) best = i, best_key = k;
      } else if (Below(r.tenant, node)) {
        children[ChildOn(r.tenant, node)] = true;
      }
    }
    for (const auto& [child, unused] : children) {
      size_t c = Best(child, queue, done);
      Key k{-queue[c].priority, Share(child), queue[c].seq};
      if (best == SIZE_MAX || k < best_key) best = c, best_key = k;
    }
    return best;
  }

  std::map<std::string, double> weights_;
  std::map<std::string, std::pair<int64_t, int64_t>> used_;
  int64_t cap_cpu_, cap_mem_;
};

TEST(DrfOrderTest, TournamentTakesWhatTheRecursiveReferenceTakes) {
  const int64_t kCpu = 1'000'000'000, kMem = int64_t{1} << 50;
  for (uint64_t seed = 1; seed <= 12; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
    EngineOptions o;
    o.fair_share = "drf";
    auto made = Engine::Create(o);
    ASSERT_TRUE(made.ok());
    Engine& eng = *made.value();
    NodeSpec big;
    big.name = "big";
    big.capacity = {{"cpu", kCpu}, {"memory", kMem}};
    ASSERT_TRUE(eng.AddNode(big, 0).ok());
    // Tenants: orgs / teams / agents; requests also at teams and orgs.
    std::vector<std::string> paths;
    std::map<std::string, double> weights;
    std::vector<TenantSpec> specs;
    for (int org = 0, orgs = 1 + pick(4); org < orgs; org++) {
      std::string o_path = "o" + std::to_string(org);
      paths.push_back(o_path);
      for (int team = 0, teams = 1 + pick(4); team < teams; team++) {
        std::string t_path = o_path + "/t" + std::to_string(team);
        paths.push_back(t_path);
        for (int agent = 0, agents = 1 + pick(5); agent < agents; agent++)
          paths.push_back(t_path + "/a" + std::to_string(agent));
      }
    }
    for (const auto& p : paths) {
      TenantSpec t;
      t.path = p;
      t.weight = 1 + pick(3);
      weights[p] = t.weight;
      specs.push_back(t);
    }
    ASSERT_TRUE(eng.SetTenants(specs, 0).ok());
    Reference ref(weights, kCpu, kMem);
    uint64_t seq = 0;
    auto make = [&](const std::string& id) {
      Req r{id,
            paths[static_cast<size_t>(pick(static_cast<int>(paths.size())))],
            1 + pick(3),
            1000 * (1 + pick(1000)),
            (int64_t{1} << 20) * (1 + pick(1 << 16)),
            ++seq};
      RequestSpec s;
      s.id = r.id;
      s.tenant = r.tenant;
      s.priority = r.priority;
      s.requests = {{"cpu", r.cpu}, {"memory", r.mem}};
      EXPECT_TRUE(eng.Submit(s, 0).ok());
      return r;
    };
    // Earlier usage, so that shares differ from the start.
    for (int i = 0; i < 40; i++) ref.Use(make("bg" + std::to_string(i)));
    eng.Schedule(0);
    (void)eng.TakeEvents();
    std::vector<Req> queue;
    for (int i = 0; i < 150; i++) queue.push_back(make("q" + std::to_string(i)));
    eng.SetExplain(true);
    eng.Schedule(1);
    auto taken = eng.TakeExplanations();
    ASSERT_EQ(taken.size(), queue.size());
    std::vector<bool> done(queue.size(), false);
    for (size_t step = 0; step < taken.size(); step++) {
      size_t want = ref.Next(queue, done);
      ASSERT_EQ(taken[step].id, queue[want].id) << "step " << step;
      done[want] = true;
      ref.Use(queue[want]);
    }
  }
}

}  // namespace
}  // namespace allot
