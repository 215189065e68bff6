#include <gtest/gtest.h>
#include "allot/plan.h"
TEST(PlanSmoke, Builds) { EXPECT_EQ(std::string(allot::plan::QosName(allot::plan::Qos::kGuaranteed)), "Guaranteed"); }
