// SimOptions::progress (issue 15): RunText reports the bytes of the scenario it has read and run, then the
// passes after the last event; Run reports events. Reporting changes nothing in the result.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "allot/sim.h"

namespace allot::sim {
namespace {

struct Seen {
  std::string phase, unit;
  uint64_t done, total;
};

// 1000 one-cpu submits of 30 s on one 8-cpu node: most queue, so passes go on after the last event.
std::string Scenario() {
  std::string s = "nodes: [{name: n1, capacity: {cpu: \"8\"}}]\nevents:\n";
  for (int i = 0; i < 1000; i++)
    s += "  - {at: " + std::to_string(i / 10) + ", submit: {id: j" + std::to_string(i) +
         ", requests: {cpu: 1}, duration: 30s}}\n";
  return s;
}

TEST(SimProgress, BytesThenPasses) {
  const std::string text = Scenario();
  std::vector<Seen> seen;
  SimOptions o;
  o.progress = [&](const ProgressStep& p) {
    seen.push_back({std::string(p.phase), std::string(p.unit), p.done, p.total});
  };
  auto with = RunText(text, "s.yaml", o);
  auto without = RunText(text, "s.yaml");
  ASSERT_TRUE(with.ok()) << with.error().message;
  ASSERT_TRUE(without.ok());
  EXPECT_EQ(ToText(*with, false), ToText(*without, false));

  // Every 256th event: events 0, 256, 512, 768 (4 reports), at their byte offsets, growing.
  std::vector<Seen> bytes, passes;
  for (const auto& s : seen) (s.phase == "simulating" ? bytes : passes).push_back(s);
  ASSERT_EQ(bytes.size(), 4u);
  EXPECT_EQ(bytes[0].done, text.find("{at: 0"));  // where the first event starts
  for (size_t i = 0; i < bytes.size(); i++) {
    EXPECT_EQ(bytes[i].unit, "bytes");
    EXPECT_EQ(bytes[i].total, text.size());
    if (i > 0) {
      EXPECT_GT(bytes[i].done, bytes[i - 1].done);
    }
  }
  ASSERT_FALSE(passes.empty());
  EXPECT_EQ(passes[0].phase, "finishing");
  EXPECT_EQ(passes[0].unit, "passes");
  EXPECT_EQ(passes[0].done, 0u);
  EXPECT_EQ(passes[0].total, 0u);  // unknown
  // The passes come after all the bytes.
  EXPECT_EQ(seen.back().phase, "finishing");
}

TEST(SimProgress, RunCountsEvents) {
  auto sc = ParseScenario(Scenario(), "s.yaml");
  ASSERT_TRUE(sc.ok());
  std::vector<Seen> seen;
  SimOptions o;
  o.progress = [&](const ProgressStep& p) {
    if (p.phase == "simulating") seen.push_back({std::string(p.phase), std::string(p.unit), p.done, p.total});
  };
  ASSERT_TRUE(sim::Run(*sc, o).ok());
  ASSERT_EQ(seen.size(), 4u);  // events 0, 256, 512, 768 of 1000
  EXPECT_EQ(seen[3].done, 768u);
  EXPECT_EQ(seen[3].total, 1000u);
  EXPECT_EQ(seen[3].unit, "events");
}

}  // namespace
}  // namespace allot::sim
