// The manifest reader of `allot recommend --manifests` on the input the plan fuzzers found: a stray ","
// where a YAML document should start never returned from yaml-cpp 0.7's LoadAll; now it is an error
// naming the file and line (allot::YamlLoadAll). Before the fix this test hangs until CTest's timeout.
#include <gtest/gtest.h>

#include "allot/autoscale.h"
#include "support.h"

namespace allot::autoscale {
namespace {

TEST(AutoscaleFuzzRegression, ManifestsWithAStrayCommaAreAnErrorNotAHang) {
  allot::testing::TempDir dir;
  std::string f = dir.Write("m.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\n,\n");
  auto r = LoadManifestResources({f});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(f + ":5: "), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace allot::autoscale
