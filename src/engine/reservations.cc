// Engine: reservations (booking, release) and how they hold capacity against other requests.
#include <algorithm>

#include "engine/engine_impl.h"

namespace allot {

Status Engine::Reserve(const ReservationSpec& r, TimeMs now) {
  auto& m = *impl_;
  if (r.id.empty()) return InvalidArgument("reservation id is empty");
  if (m.reservation_index.count(r.id)) return AlreadyExists("duplicate reservation id \"" + r.id + "\"");
  if (r.end <= r.start) return InvalidArgument("reservation " + r.id + ": end must be after start");
  if (r.requests.empty()) return InvalidArgument("reservation " + r.id + ": requests is empty");
  Reservation res;
  res.spec = r;
  for (const auto& [k, v] : r.requests) {
    if (v < 0) return InvalidArgument("reservation " + r.id + ": requests." + k + " is negative");
    auto slot = m.Slot(k);
    if (!slot.ok()) return slot.error();
    res.amount.Set(*slot, v);
  }
  std::vector<uint32_t> candidates;
  if (!r.nodes.empty()) {
    for (const auto& n : r.nodes) {
      auto it = m.node_index.find(n);
      if (it == m.node_index.end()) return NotFound("reservation " + r.id + ": unknown node \"" + n + "\"");
      candidates.push_back(it->second);
    }
  } else {
    for (uint32_t i = 0; i < m.nodes.size(); i++)
      if (!m.nodes[i].removed && (r.pool.empty() || m.nodes[i].pool == r.pool)) candidates.push_back(i);
  }
  std::string conflict;
  uint32_t chosen = kNone;
  for (uint32_t ni : candidates) {
    if (!m.nodes[ni].up) continue;
    bool fits = true;
    for (size_t k = 0; k < res.amount.size() && fits; k++) {
      uint16_t s = res.amount.slot(k);
      int64_t need = res.amount.amount(k);
      // Capacity at the window: minus unmanaged use, allocations that run into it, overlapping reservations.
      int64_t busy = 0;
      for (const auto& [name, v] : m.nodes[ni].unmanaged)
        if (m.registry.Find(name) == s) busy += v;
      for (uint32_t ai : m.nodes[ni].allocs) {
        const Alloc& a = m.allocs[ai];
        if (a.expires() < 0 || a.expires() > r.start) busy += a.req.Get(s);
      }
      int64_t reserved = 0;
      std::string who;
      for (int32_t ri : m.nodes[ni].reservations) {
        const auto& o = m.reservations[ri];
        if (!o.live || o.spec.end <= r.start || o.spec.start >= r.end) continue;
        reserved += o.amount.Get(s);
        if (o.amount.Get(s) > 0 && who.empty()) {
          who = "reservation " + o.spec.id + " [" + std::to_string(o.spec.start / 1000) + "s, " +
                std::to_string(o.spec.end / 1000) + "s) on " + m.nodes[ni].name;
        }
      }
      if (busy + reserved + need > m.cap[s][ni]) {
        fits = false;
        if (conflict.empty()) {
          conflict = !who.empty() && busy + need <= m.cap[s][ni]
                         ? "conflicts with " + who
                         : "not enough " + m.registry.Name(s) + " on " + m.nodes[ni].name +
                               " (capacity in use by allocations that run into the window)";
        }
      }
    }
    if (fits) {
      chosen = ni;
      break;
    }
  }
  if (chosen == kNone) {
    if (conflict.empty()) conflict = "no candidate node";
    return Conflict("reservation " + r.id + " [" + std::to_string(r.start / 1000) + "s, " +
                    std::to_string(r.end / 1000) + "s) cannot be booked: " + conflict);
  }
  res.node = chosen;
  res.tenant = m.TenantFor(r.tenant);
  res.used.assign(m.registry.size(), 0);
  int32_t idx = static_cast<int32_t>(m.reservations.size());
  m.reservations.push_back(std::move(res));
  m.reservation_index[r.id] = idx;
  m.nodes[chosen].reservations.push_back(idx);
  m.live_reservations++;
  m.reservation_end_min = std::min(m.reservation_end_min, r.end);
  m.tenants[m.reservations[idx].tenant].reservations_owned++;
  m.HoldsChanged(chosen);
  m.Emit(EventType::kReserved, now, r.id, m.nodes[chosen].name, r.tenant);
  return Status::Ok();
}

Status Engine::Unreserve(const std::string& id, TimeMs now) {
  auto& m = *impl_;
  auto it = m.reservation_index.find(id);
  if (it == m.reservation_index.end()) return NotFound("unknown reservation \"" + id + "\"");
  auto& res = m.reservations[it->second];
  m.EndReservation(it->second);
  m.capacity_epoch++;
  m.Emit(EventType::kUnreserved, now, id, res.node == kNone ? "" : m.nodes[res.node].name, res.spec.tenant);
  m.reservation_index.erase(it);
  return Status::Ok();
}

void Engine::Impl::EndReservation(int32_t ri) {
  Reservation& r = reservations[ri];
  if (!r.live) return;
  r.live = false;
  live_reservations--;
  tenants[r.tenant].reservations_owned--;
  if (r.node != kNone) {
    auto& v = nodes[r.node].reservations;
    v.erase(std::remove(v.begin(), v.end(), ri), v.end());
    HoldsChanged(r.node);
  }
}

void Engine::Impl::HoldsChanged(uint32_t ni) {
  if (free_out_col.empty()) free_out_col = free_col;  // from now on kept by RefreshNode
  RefreshNode(ni);
}

int64_t Engine::Impl::HeldOnNode(uint32_t ni, size_t slot) const {
  // As ReservedAgainst for such a request: every live reservation on the node, less what its holders
  // use of it (nothing before it starts).
  int64_t held = 0;
  for (int32_t ri : nodes[ni].reservations) {
    const Reservation& r = reservations[ri];
    if (!r.live) continue;
    int64_t amount = r.amount.Get(static_cast<uint16_t>(slot)) - r.used[slot];
    if (amount > 0) held += amount;
  }
  return held;
}

bool Engine::Impl::NoReservationApplies(const Alloc& a) const {
  if (a.reservation >= 0 || a.duration >= 0) return false;  // a window may miss a reservation's
  for (uint32_t x = a.tenant; x != kNone; x = tenants[x].parent)
    if (tenants[x].reservations_owned > 0) return false;
  return true;
}

// ---- reservations against requests ----
bool Engine::Impl::UsableBy(const Reservation& r, const Alloc& a) const {
  if (a.reservation >= 0 && &reservations[a.reservation] == &r) return true;
  return TenantIsAncestor(r.tenant, a.tenant);
}

int64_t Engine::Impl::ReservedAgainst(const Alloc& a, uint32_t ni, uint16_t slot, TimeMs now, TimeMs end) const {
  int64_t held = 0;
  for (int32_t ri : nodes[ni].reservations) {
    const Reservation& r = reservations[ri];
    if (!r.live || r.spec.start >= end || r.spec.end <= now || UsableBy(r, a)) continue;
    int64_t amount = r.amount.Get(slot);
    if (r.spec.start <= now) amount -= r.used[slot];
    if (amount > 0) held += amount;
  }
  return held;
}

bool Engine::Impl::CoveredByReservation(const Alloc& a, uint32_t ni, TimeMs now) const {
  for (int32_t ri : nodes[ni].reservations) {
    const Reservation& r = reservations[ri];
    if (!r.live || r.spec.start > now || r.spec.end <= now || !UsableBy(r, a)) continue;
    bool fits = true;
    for (size_t k = 0; k < a.req.size() && fits; k++) {
      uint16_t s = a.req.slot(k);
      fits = a.req.amount(k) <= r.amount.Get(s) - r.used[s];
    }
    if (fits) return true;
  }
  return false;
}

}  // namespace allot
