#include "allot/resources.h"

#include <gtest/gtest.h>

namespace allot {
namespace {

TEST(ResourcesTest, CanonicalNamesAndUnits) {
  EXPECT_EQ(CanonicalResourceName("nvidia.com/gpu"), "gpu");
  EXPECT_EQ(CanonicalResourceName("disk"), "ephemeral-storage");
  EXPECT_EQ(*ParseResourceAmount("cpu", "1.5"), 1500);
  EXPECT_EQ(*ParseResourceAmount("gpu", "500m"), 500);
  EXPECT_EQ(*ParseResourceAmount("memory", "1Gi"), 1LL << 30);
  EXPECT_EQ(*ParseResourceAmount("db-connections", "500m"), 1);  // counted resources round up
  EXPECT_FALSE(ParseResourceAmount("cpu", "-1").ok());
  EXPECT_EQ(ToOutputUnits("gpu", 500), 1);
  EXPECT_EQ(ToOutputUnits("gpu", 2000), 2);
  EXPECT_EQ(FormatResourceAmount("memory", 1LL << 31), "2Gi");
}

TEST(ResourcesTest, Registry) {
  ResourceRegistry r;
  EXPECT_EQ(*r.Intern("cpu"), kCpu);
  EXPECT_EQ(*r.Intern("nvidia.com/gpu"), kGpu);
  EXPECT_EQ(*r.Intern("disk"), kDisk);
  auto db = r.Intern("db-connections");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*db, kNumWellKnown);
  EXPECT_EQ(*r.Intern("db-connections"), kNumWellKnown);
  EXPECT_FALSE(r.Intern("bad name").ok());
  EXPECT_FALSE(r.Intern("-x").ok());
}

TEST(ResourcesTest, Priorities) {
  EXPECT_EQ(*ParsePriority("critical"), 4);
  EXPECT_EQ(*ParsePriority("medium"), 2);
  EXPECT_EQ(*ParsePriority("background"), 0);
  EXPECT_EQ(*ParsePriority("100"), 100);
  EXPECT_EQ(*ParsePriority("-3"), -3);
  EXPECT_FALSE(ParsePriority("urgent").ok());
  EXPECT_FALSE(ParsePriority("").ok());
}

}  // namespace
}  // namespace allot
