// How the server's state is kept in the store: allocations as compact binary records (there may be a
// million of them), nodes, tenants and reservations as JSON.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "allot/engine.h"

namespace allot::server {

// Everything needed to put an allocation back after a restart.
struct AllocRecord {
  AllocationInfo info;
  RequestSpec spec;      // what the request had beyond `info` (selector, tolerations, wait, lease)
  std::string idem;      // idempotency key ("" if none)
  std::string actor;     // who submitted it
  int64_t lease_ms = 0;  // the TTL that renew extends by; 0: no lease
  std::string agent;     // the submitting agent's id (seed 001's agent_id; "" if none)
};
std::string EncodeAlloc(const AllocRecord& r);
std::optional<AllocRecord> DecodeAlloc(std::string_view bytes);
// The same into `out`, reusing its storage (a restart decodes a million into a few hundred records);
// `out` ends as DecodeAlloc's record would be. False (and `out` unspecified) if `bytes` does not decode.
bool DecodeAllocInto(std::string_view bytes, AllocRecord* out);
// The request as it was submitted: `spec` with the fields `info` holds (id, tenant, requests, ...).
RequestSpec SubmittedSpec(const AllocRecord& r);

struct NodeRecord {
  NodeSpec spec;
  bool draining = false;
  bool down = false;
  bool agent = false;  // a node agent heartbeats for it
  std::string owner;   // the agent token that registered it ("" for nodes an admin or the config defined)
};
std::string EncodeNode(const NodeRecord& n);
std::optional<NodeRecord> DecodeNode(const std::string& text);

std::string EncodeTenant(const TenantSpec& t);
std::optional<TenantSpec> DecodeTenant(const std::string& text);

std::string EncodeReservation(const ReservationSpec& r);
std::optional<ReservationSpec> DecodeReservation(const std::string& text);

}  // namespace allot::server
