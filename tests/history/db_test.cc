// history::Db: averages per tier, reads, persistence through the rows it asks to store, retention, and
// what it refuses.
#include <gtest/gtest.h>

#include <map>

#include "allot/history.h"

namespace allot::history {
namespace {

Point Amounts(int64_t cap, int64_t alloc, int64_t queued = 0) {
  Point p;
  p.set(kCapacity, cap);
  p.set(kAllocated, alloc);
  p.set(kQueued, queued);
  return p;
}

// A stand-in for the store's history table: applies the writes in order.
struct Table {
  std::map<std::string, std::string> rows;
  void Apply(const std::vector<Write>& ws) {
    for (const auto& w : ws) {
      if (w.del)
        rows.erase(w.key);
      else
        rows[w.key] = w.value;
    }
  }
  std::vector<std::pair<std::string, std::string>> Records() const { return {rows.begin(), rows.end()}; }
};

Options TwoTiers() {
  Options o;
  o.interval_s = 15;
  o.tiers = {{15, 3600, false}, {60, 86400, true}};
  return o;
}

constexpr int64_t kT0 = 1'765'000'000 - 1'765'000'000 % 3600;  // a whole hour

TEST(HistoryDbTest, TiersAverageTheirSamples) {
  Db db(TwoTiers());
  Table table;
  std::vector<Write> w;
  // One minute of cpu: allocated 1000, 2000, 3000, 4000 (15 s apart), then one more sample to close it.
  for (int i = 0; i < 5; i++) {
    Frame f;
    f.Add(Scope::kCluster, "", "cpu", Amounts(16000, 1000 * (i + 1)));
    db.Add(kT0 + 15 * i, f, &w);
  }
  table.Apply(w);
  Query q;
  q.from = kT0;
  q.to = kT0 + 60;
  auto fine = db.Read(q, kT0 + 75, nullptr);
  ASSERT_TRUE(fine.ok()) << fine.error().message;
  EXPECT_EQ(fine->resolution, 15);
  ASSERT_EQ(fine->series.size(), 1u);
  // The 15 s tier has closed the first four steps (the fifth sample's step is still open).
  EXPECT_EQ(fine->series[0].t, (std::vector<int64_t>{kT0, kT0 + 15, kT0 + 30, kT0 + 45}));
  EXPECT_EQ(fine->series[0].values[kAllocated], (std::vector<int64_t>{1000, 2000, 3000, 4000}));
  EXPECT_EQ(fine->series[0].values[kUsed], (std::vector<int64_t>(4, kNull)));
  // Asked per minute from the 15 s tier: (1000 + 2000 + 3000 + 4000) / 4 = 2500.
  q.step = 60;
  auto minute = db.Read(q, kT0 + 75, nullptr);
  ASSERT_TRUE(minute.ok());
  EXPECT_EQ(minute->resolution, 60);  // the 60 s tier reaches back as far and divides the step
  EXPECT_EQ(minute->series[0].t, (std::vector<int64_t>{kT0}));
  EXPECT_EQ(minute->series[0].values[kAllocated], (std::vector<int64_t>{2500}));
  EXPECT_EQ(minute->series[0].values[kCapacity], (std::vector<int64_t>{16000}));
  // Averages round half away from zero: (1 + 2) / 2 = 1.5 -> 2; (-1 - 2) / 2 = -1.5 -> -2.
  Db r(TwoTiers());
  for (int i = 0; i < 5; i++) {
    Frame f;
    f.Add(Scope::kTenant, "org/a", "cpu", Amounts(i % 2 ? -2 : -1, i % 2 ? 2 : 1));
    r.Add(kT0 + 15 * i, f, &w);
  }
  q.scope = Scope::kTenant;
  q.name = "org/a";
  q.step = 30;
  auto half = r.Read(q, kT0 + 75, nullptr);
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->series[0].values[kAllocated], (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(half->series[0].values[kCapacity], (std::vector<int64_t>{-2, -2}));
}

TEST(HistoryDbTest, RowsInTheStoreRebuildTheSameHistory) {
  Options o = TwoTiers();
  Db db(o);
  Table table;
  // Two hours: 30 nodes (kept in the 60 s tier only), a pool, a tenant that comes and goes.
  for (int i = 0; i < 480; i++) {
    std::vector<Write> w;
    Frame f;
    int64_t t = kT0 + 15 * i;
    f.Add(Scope::kCluster, "", "cpu", Amounts(30000, 100 * (i % 40)));
    f.Add(Scope::kCluster, "", "memory", Amounts(int64_t{64} << 30, (int64_t{1} << 30) * (i / 100)));
    f.Add(Scope::kPool, "gpu", "gpu", Amounts(8000, 1000 * (i % 3)));
    if (i > 100 && i < 300) f.Add(Scope::kTenant, "org/a", "cpu", Amounts(0, 500, i % 7));
    for (int n = 0; n < 30; n++) {
      Point p = Amounts(1000, (n * i) % 1000);
      p.value[kQueued] = 0;
      p.present = static_cast<uint8_t>(p.present & ~(1 << kQueued));
      if (n % 2) p.set(kUsed, (n + i) % 900);
      f.Add(Scope::kNode, "n" + std::to_string(n), "cpu", p);
      f.Add(Scope::kNode, "n" + std::to_string(n), "network", Amounts(1, 1));  // not a node resource
    }
    db.Add(t, f, &w);
    table.Apply(w);
  }
  const int64_t now = kT0 + 15 * 480;
  Db again(o);
  std::vector<Write> fixes;
  again.Load(table.Records(), now, &fixes);
  EXPECT_TRUE(fixes.empty());
  EXPECT_FALSE(again.Known(Scope::kNode, "missing"));
  EXPECT_TRUE(again.Known(Scope::kNode, "n3"));
  for (auto [scope, name] : std::vector<std::pair<Scope, std::string>>{
           {Scope::kCluster, ""}, {Scope::kPool, "gpu"}, {Scope::kTenant, "org/a"}, {Scope::kNode, "n7"}}) {
    for (int64_t step : {0, 60, 300}) {
      Query q;
      q.scope = scope;
      q.name = name;
      q.from = scope == Scope::kNode ? kT0 : now - 3600;
      q.to = now;
      q.step = step;
      auto a = db.Read(q, now, nullptr), b = again.Read(q, now, nullptr);
      ASSERT_TRUE(a.ok()) << a.error().message;
      ASSERT_TRUE(b.ok()) << b.error().message;
      ASSERT_EQ(a->series.size(), b->series.size());
      for (size_t s = 0; s < a->series.size(); s++) {
        EXPECT_EQ(a->series[s].resource, b->series[s].resource);
        EXPECT_EQ(a->series[s].t, b->series[s].t) << ScopeName(scope) << " step " << step;
        EXPECT_EQ(a->series[s].values, b->series[s].values) << ScopeName(scope) << " step " << step;
        EXPECT_FALSE(a->series[s].t.empty());
      }
    }
  }
  // Node series: only in the 60 s tier, and only for the node resources.
  Query q;
  q.scope = Scope::kNode;
  q.name = "n1";
  q.from = now - 600;
  q.to = now;
  auto n1 = again.Read(q, now, nullptr);
  ASSERT_TRUE(n1.ok());
  EXPECT_EQ(n1->resolution, 60);
  ASSERT_EQ(n1->series.size(), 1u);
  EXPECT_EQ(n1->series[0].resource, "cpu");
  EXPECT_NE(n1->series[0].values[kUsed].back(), kNull);
  // The tenant's last row said it was gone: it has no points after that.
  q.scope = Scope::kTenant;
  q.name = "org/a";
  q.from = kT0 + 15 * 400;
  auto gone = again.Read(q, now, nullptr);
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->series[0].t.empty());
  // Adding after the load continues the chain: a third Db loads both.
  std::vector<Write> w;
  Frame f;
  f.Add(Scope::kCluster, "", "cpu", Amounts(30000, 777));
  again.Add(now, f, &w);
  again.Add(now + 60, f, &w);
  table.Apply(w);
  Db third(o);
  third.Load(table.Records(), now + 60, &fixes);
  EXPECT_TRUE(fixes.empty());
  Query c;
  c.from = now;
  c.to = now + 60;
  auto last = third.Read(c, now + 60, nullptr);
  ASSERT_TRUE(last.ok());
  // The 15 s row at `now` (closed by the sample at now + 60, whose step is still open).
  EXPECT_EQ(last->series[0].t, (std::vector<int64_t>{now}));
  EXPECT_EQ(last->series[0].values[kAllocated], (std::vector<int64_t>{777}));
}

TEST(HistoryDbTest, RetentionDropsOldRowsFromMemoryAndStore) {
  Options o;
  o.interval_s = 15;
  o.tiers = {{15, 600, false}};  // 10 minutes
  Db db(o);
  Table table;
  const int64_t n = 3 * kKeyframeRows;
  for (int64_t i = 0; i < n; i++) {
    std::vector<Write> w;
    Frame f;
    f.Add(Scope::kCluster, "", "cpu", Amounts(1000, i));
    db.Add(kT0 + 15 * i, f, &w);
    table.Apply(w);
  }
  const int64_t now = kT0 + 15 * (n - 1);
  Stats st = db.stats();
  ASSERT_EQ(st.points.size(), 1u);
  EXPECT_LE(st.points[0], 41);  // 10 minutes of 15 s rows (and the one at the cutoff)
  // The store keeps whole groups: at most two groups' rows.
  EXPECT_LE(table.rows.size(), static_cast<size_t>(2 * kKeyframeRows));
  EXPECT_GE(table.rows.size(), 40u);
  EXPECT_EQ(st.records, table.rows.size());
  Query q;
  q.from = kT0;
  q.to = now;
  q.step = 60;
  auto a = db.Read(q, now, nullptr);
  ASSERT_TRUE(a.ok());
  EXPECT_GE(a->series[0].t.front(), now - 600 - 60);
  Db again(o);
  std::vector<Write> fixes;
  again.Load(table.Records(), now, &fixes);
  table.Apply(fixes);
  auto b = again.Read(q, now, nullptr);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->series[0].t, b->series[0].t);
  EXPECT_EQ(a->series[0].values, b->series[0].values);
}

TEST(HistoryDbTest, ALostRowSkipsItsDeltasUntilTheNextFullRow) {
  Options o;
  o.interval_s = 15;
  o.tiers = {{15, 86400, false}};
  Db db(o);
  Table table;
  std::string lost;
  for (int64_t i = 0; i < 10; i++) {
    std::vector<Write> w;
    Frame f;
    f.Add(Scope::kCluster, "", "cpu", Amounts(1000, i));
    db.Add(kT0 + 15 * i, f, &w);
    if (i == 4) {
      ASSERT_FALSE(w.empty());
      lost = w[0].key;  // this commit fails: its row never reaches the store
      db.Resync();
      continue;
    }
    table.Apply(w);
  }
  // Rows 0-2 (row 3 was in the lost commit), then row 4 is full again (after Resync) and 5-8 follow it.
  Db again(o);
  std::vector<Write> fixes;
  again.Load(table.Records(), kT0 + 150, &fixes);
  EXPECT_TRUE(fixes.empty());
  Query q;
  q.from = kT0;
  q.to = kT0 + 150;
  auto a = again.Read(q, kT0 + 150, nullptr);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->series[0].values[kAllocated], (std::vector<int64_t>{0, 1, 2, 4, 5, 6, 7, 8}));
  // Without the Resync, the row after the lost one is a delta with nothing to follow: it and its
  // successors are deleted on load.
  Db db2(o);
  Table t2;
  for (int64_t i = 0; i < 10; i++) {
    std::vector<Write> w;
    Frame f;
    f.Add(Scope::kCluster, "", "cpu", Amounts(1000, i));
    db2.Add(kT0 + 15 * i, f, &w);
    if (i != 4) t2.Apply(w);
  }
  Db again2(o);
  fixes.clear();
  again2.Load(t2.Records(), kT0 + 150, &fixes);
  EXPECT_EQ(fixes.size(), 5u);  // rows 4-8
  auto b = again2.Read(q, kT0 + 150, nullptr);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->series[0].values[kAllocated], (std::vector<int64_t>{0, 1, 2}));
}

TEST(HistoryDbTest, ReadsRefuseWhatTheyCannotAnswer) {
  Db db(TwoTiers());
  std::vector<Write> w;
  for (int i = 0; i < 10; i++) {
    Frame f;
    f.Add(Scope::kCluster, "", "cpu", Amounts(1, 1));
    db.Add(kT0 + 15 * i, f, &w);
  }
  const int64_t now = kT0 + 150;
  auto refused = [&](Query q, const std::string& field, ErrorCode code) {
    ReadError e;
    auto r = db.Read(q, now, &e);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(e.field, field) << e.error.message;
    EXPECT_EQ(r.error().code, code) << e.error.message;
  };
  Query q;
  q.from = now;
  q.to = now - 1;
  refused(q, "from", ErrorCode::kInvalidArgument);
  q.from = now - 7200;  // past the 15 s tier's hour: the 60 s tier
  q.to = now;
  q.step = 15;
  refused(q, "step", ErrorCode::kInvalidArgument);
  q.step = 0;
  q.from = now - 86400;
  q.to = now + 10 * 86400;
  refused(q, "step", ErrorCode::kInvalidArgument);  // 15,840 minutes
  q.to = now;
  q.scope = Scope::kPool;
  q.name = "nope";
  refused(q, "name", ErrorCode::kNotFound);
  q.scope = Scope::kCluster;
  q.name = "";
  q.resource = "gpu";
  refused(q, "resource", ErrorCode::kNotFound);
  // 7 days of minutes is the most: 10,080 steps.
  Options week;
  week.tiers = {{15, 86400, false}, {60, 7 * 86400, true}};
  Db wk(week);
  q.resource = "";
  q.from = now - 7 * 86400;
  q.step = 60;
  Frame f;
  f.Add(Scope::kCluster, "", "cpu", Amounts(1, 1));
  wk.Add(now - 120, f, &w);
  wk.Add(now - 60, f, &w);
  auto ok = wk.Read(q, now, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->resolution, 60);
}

TEST(HistoryDbTest, SummariesReadTheCoarsestTierWithAHundredPoints) {
  Db db(TwoTiers());  // 15 s kept 1 h, 60 s kept 1 d
  std::vector<Write> w;
  // Two hours: allocated 1000 for the first, 3000 for the second.
  for (int i = 0; i <= 480; i++) {
    Frame f;
    f.Add(Scope::kCluster, "", "cpu", Amounts(4000, i < 240 ? 1000 : 3000));
    db.Add(kT0 + 15 * i, f, &w);
  }
  const int64_t now = kT0 + 7200;
  auto sum = [&](int64_t from, Totals* out) {
    return db.Summarize(Scope::kCluster, from, now, now,
                        [&](const std::string&, const std::string&, const Totals& t) { *out = t; });
  };
  Totals day, hour;
  // 2 h back: only the 60 s tier reaches; its 120 closed minutes are 60 of 1000 and 60 of 3000 (the minute
  // at `now` is still open).
  EXPECT_EQ(sum(now - 7200, &day), 60);
  EXPECT_EQ(day.count[kAllocated], 120);
  EXPECT_DOUBLE_EQ(day.sum[kAllocated], 60 * 1000.0 + 60 * 3000.0);
  // 1 h back: 60 s has only 60 points there, so the 15 s tier (240 closed points, all 3000).
  EXPECT_EQ(sum(now - 3600, &hour), 15);
  EXPECT_EQ(hour.count[kAllocated], 240);
  EXPECT_DOUBLE_EQ(hour.sum[kAllocated] / static_cast<double>(hour.count[kAllocated]), 3000.0);
}

TEST(HistoryDbTest, NodeSeriesOnlyWhereATierKeepsThem) {
  Options o;
  o.tiers = {{15, 3600, false}};
  Db db(o);
  std::vector<Write> w;
  for (int i = 0; i < 3; i++) {
    Frame f;
    f.Add(Scope::kCluster, "", "cpu", Amounts(1, 1));
    f.Add(Scope::kNode, "n1", "cpu", Amounts(1, 1));
    db.Add(kT0 + 15 * i, f, &w);
  }
  EXPECT_EQ(db.stats().series, 1u);  // the cluster's: no tier keeps nodes
  EXPECT_FALSE(db.Known(Scope::kNode, "n1"));
  Query q;
  q.scope = Scope::kNode;
  q.name = "n1";
  q.from = kT0;
  q.to = kT0 + 45;
  ReadError e;
  EXPECT_FALSE(db.Read(q, kT0 + 45, &e).ok());
  EXPECT_EQ(e.field, "scope");
}

TEST(HistoryDbTest, OptionsAreChecked) {
  EXPECT_TRUE(ValidateOptions(Options{}).ok());
  Options o;
  o.tiers = {{15, 86400, false}, {20, 86400, false}};
  EXPECT_NE(ValidateOptions(o).message().find("history.tiers[1].step"), std::string::npos);
  o.tiers = {{15, 10, false}};
  EXPECT_NE(ValidateOptions(o).message().find("history.tiers[0].keep"), std::string::npos);
  o.tiers = {{20, 86400, false}};
  EXPECT_NE(ValidateOptions(o).message().find("multiple of history.interval"), std::string::npos);
}

}  // namespace
}  // namespace allot::history
