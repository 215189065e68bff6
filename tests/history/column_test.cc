// The in-memory column encoding: points, repeats, gaps and block boundaries read back exactly.
#include "history/column.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace allot::history::internal {
namespace {

Point P(int64_t cap, int64_t alloc) {
  Point p;
  p.set(kCapacity, cap);
  p.set(kAllocated, alloc);
  return p;
}

std::map<int64_t, Point> ScanAll(const Column& c, int64_t lo, int64_t hi, int64_t last_row) {
  std::map<int64_t, Point> out;
  c.Scan(lo, hi, last_row, [&](int64_t row, const Point& p) {
    EXPECT_FALSE(out.count(row)) << "row " << row << " twice";
    out[row] = p;
  });
  return out;
}

TEST(ColumnTest, AConstantSeriesCostsAFewBytesPerBlock) {
  Column c;
  c.Append(0, P(16000, 2000));
  // Unchanged for three blocks: nothing is written until something happens.
  const int64_t last = 3 * kBlockRows - 1;
  auto got = ScanAll(c, 0, last, last);
  ASSERT_EQ(got.size(), static_cast<size_t>(last + 1));
  EXPECT_EQ(got[last], P(16000, 2000));
  c.Append(last + 1, P(16000, 2500));
  // Blocks 0-2: a point and a run each (the first point is 5 bytes: h, mask, two 2-3 byte deltas).
  EXPECT_LT(c.bytes(), 200u);
  got = ScanAll(c, 0, last + 1, last + 1);
  EXPECT_EQ(got.size(), static_cast<size_t>(last + 2));
  EXPECT_EQ(got[last], P(16000, 2000));
  EXPECT_EQ(got[last + 1], P(16000, 2500));
}

TEST(ColumnTest, GapsAndPresenceChangesReadBackAsWritten) {
  Column c;
  c.Append(5, P(10, 1));
  c.Append(6, P(10, 1));
  c.Gone(9);  // present at 5-8
  Point used = P(10, 3);
  used.set(kUsed, 7);
  c.Append(12, used);
  Point no_alloc;
  no_alloc.set(kCapacity, 10);
  c.Append(13, no_alloc);
  auto got = ScanAll(c, 0, 20, 15);
  std::vector<int64_t> rows;
  for (const auto& [r, p] : got) rows.push_back(r);
  EXPECT_EQ(rows, (std::vector<int64_t>{5, 6, 7, 8, 12, 13, 14, 15}));
  EXPECT_EQ(got[8], P(10, 1));
  EXPECT_EQ(got[12], used);
  EXPECT_EQ(got[15], no_alloc);
  EXPECT_FALSE(got[15].has(kAllocated));
  // A range inside a run.
  got = ScanAll(c, 7, 7, 15);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[7], P(10, 1));
}

TEST(ColumnTest, RandomSeriesMatchAPlainMapAcrossBlocksAndDrops) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; round++) {
    Column c;
    std::map<int64_t, Point> want;
    bool live = false;
    Point last;
    int64_t row = static_cast<int64_t>(rng() % 50);
    const int64_t end = 4 * kBlockRows + static_cast<int64_t>(rng() % 500);
    for (; row < end; row++) {
      int dice = static_cast<int>(rng() % 100);
      if (dice < 3) {
        c.Gone(row);
        live = false;
      } else if (dice < 20 || !live) {
        if (!live && dice >= 20 && rng() % 2) continue;  // stays absent a while
        Point p;
        for (int f = 0; f < kNumFields; f++) {
          if (rng() % 4)
            p.set(f, static_cast<int64_t>(rng() % 3 == 0 ? rng() : rng() % 1000) - (f == kUsed ? 500 : 0));
        }
        if (p.present == 0) p.set(kCapacity, 1);
        c.Append(row, p);
        last = p;
        live = true;
      }
      if (live) want[row] = last;
    }
    const int64_t last_row = end - 1;
    ASSERT_EQ(ScanAll(c, 0, last_row, last_row), want) << "round " << round;
    int64_t lo = static_cast<int64_t>(rng() % static_cast<uint64_t>(end)),
            hi = lo + static_cast<int64_t>(rng() % 900);
    std::map<int64_t, Point> part(want.lower_bound(lo), want.upper_bound(hi));
    EXPECT_EQ(ScanAll(c, lo, hi, last_row), part);
    // Dropping what ends before a row keeps everything from that block on.
    int64_t cut = 2 * kBlockRows + 10;
    c.DropBefore(cut);
    auto after = ScanAll(c, cut, last_row, last_row);
    EXPECT_EQ(after, (std::map<int64_t, Point>(want.lower_bound(cut), want.end()))) << "round " << round;
  }
}

TEST(ColumnTest, ExtremeAmountsSurviveTheDeltas) {
  Column c;
  Point a, b;
  a.set(kCapacity, INT64_MAX);
  a.set(kAllocated, INT64_MIN + 1);
  b.set(kCapacity, INT64_MIN + 1);
  b.set(kAllocated, INT64_MAX);
  c.Append(0, a);
  c.Append(1, b);
  auto got = ScanAll(c, 0, 1, 1);
  EXPECT_EQ(got[0], a);
  EXPECT_EQ(got[1], b);
}

}  // namespace
}  // namespace allot::history::internal
