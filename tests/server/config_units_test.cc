// Config keys in units (issue 15): byte sizes take quantities, whole-second keys take durations; a plain
// number keeps its old meaning.
#include <gtest/gtest.h>

#include "allot/server.h"

namespace allot::server {
namespace {

TEST(ConfigUnits, ByteKeysTakeQuantities) {
  auto c = ParseServerConfig(
      "limits: {max_body_bytes: 2Mi, max_pending_output_bytes: 1M, send_buffer_bytes: 65536}\n", "c.yaml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->max_body_bytes, size_t{2} << 20);
  EXPECT_EQ(c->max_pending_output_bytes, size_t{1'000'000});
  EXPECT_EQ(c->send_buffer_bytes, 65536);
  auto big = ParseServerConfig("limits: {max_body_bytes: 1Gi}\n", "c.yaml");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.error().message.find("c.yaml:1: limits.max_body_bytes: must be between 1Ki and 64Mi"),
            std::string::npos)
      << big.error().message;
  auto junk = ParseServerConfig("limits: {max_body_bytes: lots}\n", "c.yaml");
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.error().message.find("limits.max_body_bytes"), std::string::npos) << junk.error().message;
}

TEST(ConfigUnits, TheEtcdLeaseTtlTakesWholeSeconds) {
  for (const char* v : {"10", "10s"}) {
    auto c = ParseServerConfig(std::string("store: {etcd_lease_ttl: ") + v + "}\n", "c.yaml");
    ASSERT_TRUE(c.ok()) << v << ": " << c.error().message;
    EXPECT_EQ(c->store.etcd_lease_ttl_s, 10) << v;
  }
  auto minute = ParseServerConfig("store: {etcd_lease_ttl: 1m}\n", "c.yaml");
  ASSERT_TRUE(minute.ok()) << minute.error().message;
  EXPECT_EQ(minute->store.etcd_lease_ttl_s, 60);
  for (const char* bad : {"1500ms", "2h", "0s", "soon"}) {
    auto c = ParseServerConfig(std::string("store: {etcd_lease_ttl: ") + bad + "}\n", "c.yaml");
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.error().message.find("c.yaml:1: store.etcd_lease_ttl"), std::string::npos)
        << c.error().message;
  }
}

}  // namespace
}  // namespace allot::server
