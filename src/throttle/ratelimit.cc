#include "allot/throttle/ratelimit.h"

#include <algorithm>
#include <numeric>
#include <optional>

namespace allot::throttle {
namespace {

using i128 = __int128;
using Meter = std::variant<GcraLimiter, CalendarQuota>;

Decision MeterCheck(Meter& m, int64_t now, int64_t n) {
  return std::visit([&](auto& x) { return x.Check(now, n); }, m);
}
void MeterCommit(Meter& m, int64_t now, int64_t n) {
  std::visit([&](auto& x) { x.Commit(now, n); }, m);
}

// base minus the sum of `minus`, exactly where the common period fits, else rounded down (in favour
// of the reservations). nullopt when nothing (or less than one unit per period) is left.
std::optional<Rate> SubtractRates(Rate base, const std::vector<Rate>& minus) {
  int64_t den = base.period_ns;
  bool exact = true;
  for (const Rate& r : minus) {
    const i128 l = static_cast<i128>(den) / std::gcd(den, r.period_ns) * r.period_ns;
    if (l > kMaxPeriodNs) {
      exact = false;
      break;
    }
    den = static_cast<int64_t>(l);
  }
  i128 count;
  if (exact) {
    count = static_cast<i128>(base.count) * (den / base.period_ns);
    for (const Rate& r : minus) count -= static_cast<i128>(r.count) * (den / r.period_ns);
  } else {
    den = base.period_ns;
    i128 taken_num = 0;  // sum of r.count * den / r.period, each rounded up
    for (const Rate& r : minus) {
      taken_num += (static_cast<i128>(r.count) * den + r.period_ns - 1) / r.period_ns;
    }
    count = base.count - taken_num;
  }
  if (count < 1) return std::nullopt;
  const int64_t g = std::gcd(static_cast<int64_t>(count), den);
  Rate out{static_cast<int64_t>(count) / g, den / g};
  if (out.count > kMaxRateCount) return std::nullopt;
  return out;
}

}  // namespace

struct RateLimitTable::Entry {
  struct Level {  // hot fields first: a decision usually touches one cache line per level
    std::optional<Meter> shared;  // kGlobal, kSubtree
    // Reservations on this level; the active set is constant on [window_lo, window_hi).
    int64_t window_lo = INT64_MIN, window_hi = INT64_MAX;
    LimitSpec spec;
    std::shared_ptr<const TimeZone> zone;
    std::unordered_map<std::string, Meter, Hash, std::equal_to<>> per;  // kPerTenant, kPerAgent
    std::vector<std::string> reservation_ids;
  };
  std::string key;
  std::vector<Level> levels;
  KeyStats stats;
};

struct RateLimitTable::Reserved {
  Reservation spec;
  GcraLimiter bucket;
};

const char* ScopeName(Scope s) {
  switch (s) {
    case Scope::kGlobal: return "global";
    case Scope::kSubtree: return "subtree";
    case Scope::kPerTenant: return "tenant";
    case Scope::kPerAgent: return "agent";
  }
  return "global";
}

Result<Scope> ParseScope(std::string_view text) {
  if (text == "global") return Scope::kGlobal;
  if (text == "subtree") return Scope::kSubtree;
  if (text == "tenant" || text == "per_tenant") return Scope::kPerTenant;
  if (text == "agent" || text == "per_agent") return Scope::kPerAgent;
  return InvalidArgument("scope \"" + std::string(text) + "\": want global, subtree, tenant or agent");
}

std::string LimitSpec::Label() const {
  std::string s = ScopeName(scope);
  if (!subtree.empty()) s += " " + subtree;
  if (is_quota()) s += " quota";
  return s;
}

bool InSubtree(std::string_view tenant, std::string_view subtree) {
  if (subtree.empty()) return true;
  if (tenant.size() < subtree.size() || tenant.substr(0, subtree.size()) != subtree) return false;
  return tenant.size() == subtree.size() || tenant[subtree.size()] == '/';
}

Status ValidateName(std::string_view what, std::string_view name) {
  const std::string w = std::string(what) + " \"" + std::string(name) + "\": ";
  if (name.empty() || name.size() > 253) return InvalidArgument(w + "must be 1-253 characters");
  if (name.front() == '/' || name.back() == '/' || name.find("//") != std::string_view::npos) {
    return InvalidArgument(w + "empty path component");
  }
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
                    c == '_' || c == '-' || c == '.' || c == ':';
    if (!ok) return InvalidArgument(w + "only letters, digits and . _ - : / are allowed");
  }
  return Status::Ok();
}

RateLimitTable::RateLimitTable(std::string zoneinfo_root) : zoneinfo_root_(std::move(zoneinfo_root)) {}
RateLimitTable::~RateLimitTable() = default;

namespace {

Meter NewMeter(const LimitSpec& spec, Rate rate, const std::shared_ptr<const TimeZone>& zone) {
  if (spec.is_quota()) return CalendarQuota(spec.quota_per_day, zone);
  return GcraLimiter(rate, spec.burst > 0 ? spec.burst : std::min(rate.count, kMaxBurst));
}

bool SameShape(const LimitSpec& a, const LimitSpec& b) {
  return a.scope == b.scope && a.subtree == b.subtree && a.is_quota() == b.is_quota() &&
         (!a.is_quota() || a.time_zone == b.time_zone);
}

// Applies a (new) spec to an existing meter, keeping what was used.
void Retune(Meter& m, const LimitSpec& spec, Rate rate, int64_t now) {
  if (auto* g = std::get_if<GcraLimiter>(&m)) {
    g->Reconfigure(now, rate, spec.burst > 0 ? spec.burst : std::min(rate.count, kMaxBurst));
  } else if (auto* q = std::get_if<CalendarQuota>(&m)) {
    q->set_limit(spec.quota_per_day);
  }
}

}  // namespace

Status RateLimitTable::Define(std::string_view key, std::vector<LimitSpec> levels, int64_t now_ns) {
  if (Status s = ValidateName("key", key); !s.ok()) return s;
  if (levels.empty()) return InvalidArgument("levels: a key needs at least one limit");
  if (levels.size() > 32) return InvalidArgument("levels: at most 32 per key");
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const TimeZone>> zones(levels.size());
  for (size_t i = 0; i < levels.size(); ++i) {
    const LimitSpec& l = levels[i];
    const std::string at = "levels[" + std::to_string(i) + "].";
    if (l.scope == Scope::kSubtree && l.subtree.empty()) {
      return InvalidArgument(at + "subtree: required for scope subtree");
    }
    if (!l.subtree.empty()) {
      if (Status s = ValidateName(at + "subtree", l.subtree); !s.ok()) return s;
    }
    if (l.quota_per_day < 0) return InvalidArgument(at + "quota: must be positive, got " + std::to_string(l.quota_per_day));
    if (l.is_quota()) {
      auto it = zones_.find(l.time_zone);
      if (it == zones_.end()) {
        auto z = TimeZone::Load(l.time_zone, zoneinfo_root_);
        if (!z.ok()) return Error{z.error().code, at + "time_zone: " + z.error().message};
        it = zones_.emplace(l.time_zone, std::make_shared<const TimeZone>(std::move(*z))).first;
      }
      zones[i] = it->second;
    } else {
      if (Status s = ValidateRate(l.rate); !s.ok()) return InvalidArgument(at + s.message());
      if (l.burst < 0) return InvalidArgument(at + "burst: must be positive, got " + std::to_string(l.burst));
      if (l.burst > kMaxBurst) return InvalidArgument(at + "burst: must be at most 1e15");
    }
  }
  auto it = entries_.find(key);
  std::unique_ptr<Entry> old = it != entries_.end() ? std::move(it->second) : nullptr;
  if (old) {
    for (size_t i = 0; i < old->levels.size(); ++i) {
      if (!old->levels[i].reservation_ids.empty() &&
          (i >= levels.size() || !SameShape(old->levels[i].spec, levels[i]) || levels[i].is_quota())) {
        it->second = std::move(old);
        return Conflict("levels[" + std::to_string(i) + "]: has reservations; cancel them before changing its scope");
      }
    }
  }
  auto e = std::make_unique<Entry>();
  e->key = std::string(key);
  e->levels.resize(levels.size());
  for (size_t i = 0; i < levels.size(); ++i) {
    Entry::Level& lv = e->levels[i];
    lv.spec = std::move(levels[i]);
    lv.zone = zones[i];
    const bool shared = lv.spec.scope == Scope::kGlobal || lv.spec.scope == Scope::kSubtree;
    if (old && i < old->levels.size() && SameShape(old->levels[i].spec, lv.spec)) {
      Entry::Level& ol = old->levels[i];
      lv.shared = std::move(ol.shared);
      lv.per = std::move(ol.per);
      lv.reservation_ids = std::move(ol.reservation_ids);
      if (lv.shared) Retune(*lv.shared, lv.spec, lv.spec.rate, now_ns);
      for (auto& [_, m] : lv.per) Retune(m, lv.spec, lv.spec.rate, now_ns);
      lv.window_lo = INT64_MAX;  // re-evaluate the reservations on next use
      lv.window_hi = INT64_MIN;
    } else if (shared) {
      lv.shared = NewMeter(lv.spec, lv.spec.rate, lv.zone);
    }
    if (shared && !lv.shared) lv.shared = NewMeter(lv.spec, lv.spec.rate, lv.zone);
  }
  if (old) e->stats = old->stats;
  Entry* raw = e.get();
  entries_[std::string(key)] = std::move(e);
  IndexPut(raw);
  return Status::Ok();
}

Status RateLimitTable::Remove(std::string_view key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound("ratelimit \"" + std::string(key) + "\": unknown key");
  for (auto r = reservations_.begin(); r != reservations_.end();) {
    r = r->second->spec.key == key ? reservations_.erase(r) : std::next(r);
  }
  entries_.erase(it);
  IndexRebuild();
  return Status::Ok();
}

bool RateLimitTable::Has(std::string_view key) const {
  std::lock_guard lock(mu_);
  return entries_.find(key) != entries_.end();
}

std::vector<std::string> RateLimitTable::Keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, _] : entries_) out.push_back(k);
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<LimitSpec>> RateLimitTable::Levels(std::string_view key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound("ratelimit \"" + std::string(key) + "\": unknown key");
  std::vector<LimitSpec> out;
  for (const auto& l : it->second->levels) out.push_back(l.spec);
  return out;
}

Result<KeyStats> RateLimitTable::Stats(std::string_view key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound("ratelimit \"" + std::string(key) + "\": unknown key");
  return it->second->stats;
}

RateLimitTable::Entry* RateLimitTable::FindFast(std::string_view key) const {
  if (index_.empty()) return nullptr;
  const size_t h = Hash{}(key), mask = index_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = index_[i];
    if (s.entry == nullptr) return nullptr;
    if (s.hash == h && s.entry->key == key) return s.entry;
  }
}

void RateLimitTable::IndexPut(Entry* e) {
  if ((index_used_ + 1) * 2 > index_.size()) {
    IndexRebuild();  // entries_ already holds e, so the rebuild indexes it
    return;
  }
  const size_t h = Hash{}(e->key), mask = index_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = index_[i];
    if (s.entry == nullptr) {
      s = {h, e};
      ++index_used_;
      return;
    }
    if (s.hash == h && s.entry->key == e->key) {
      s.entry = e;  // a redefined key: same slot, new entry
      return;
    }
  }
}

void RateLimitTable::IndexRebuild() {
  size_t size = 16;
  while (size < entries_.size() * 4) size *= 2;
  index_.assign(size, Slot{});
  index_used_ = 0;
  const size_t mask = size - 1;
  for (const auto& [_, e] : entries_) {
    const size_t h = Hash{}(e->key);
    size_t i = h & mask;
    while (index_[i].entry != nullptr) i = (i + 1) & mask;
    index_[i] = {h, e.get()};
    ++index_used_;
  }
}

void RateLimitTable::RefreshReservations(int64_t now_ns, Entry& e, size_t level) {
  Entry::Level& lv = e.levels[level];
  if (now_ns >= lv.window_lo && now_ns < lv.window_hi) return;
  std::vector<Rate> active;
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  for (const std::string& id : lv.reservation_ids) {
    const Reservation& r = reservations_.find(id)->second->spec;
    for (int64_t edge : {r.start_ns, r.end_ns}) {
      if (edge <= now_ns) {
        lo = std::max(lo, edge);
      } else {
        hi = std::min(hi, edge);
      }
    }
    if (r.start_ns <= now_ns && now_ns < r.end_ns) active.push_back(r.rate);
  }
  Rate eff = lv.spec.rate;
  if (!active.empty()) {
    // Reserve() admitted these, so something is left; the fallback only guards against bugs.
    eff = SubtractRates(lv.spec.rate, active).value_or(Rate{1, kMaxPeriodNs});
  }
  if (auto* g = lv.shared ? std::get_if<GcraLimiter>(&*lv.shared) : nullptr) {
    if (g->rate().count != eff.count || g->rate().period_ns != eff.period_ns) Retune(*lv.shared, lv.spec, eff, now_ns);
  }
  lv.window_lo = lo;
  lv.window_hi = hi;
}

Result<RateDecision> RateLimitTable::Decide(int64_t now_ns, const AcquireRequest& req, bool consume) {
  if (req.n < 1) return InvalidArgument("n: must be a positive integer, got " + std::to_string(req.n));
  Entry* found = FindFast(req.key);
  if (found == nullptr) return NotFound("ratelimit \"" + std::string(req.key) + "\": unknown key");
  Entry& e = *found;
  Reserved* res = nullptr;
  if (!req.reservation.empty()) {
    auto r = reservations_.find(req.reservation);
    if (r == reservations_.end() || r->second->spec.key != req.key) {
      return InvalidArgument("reservation: \"" + std::string(req.reservation) + "\" is not a reservation on \"" +
                             std::string(req.key) + "\"");
    }
    res = r->second.get();
  }

  struct Pick {
    Meter* meter;          // or nullptr when the reserved bucket pays
    GcraLimiter* reserved;
  };
  constexpr size_t kMaxLevels = 32;
  Pick picks[kMaxLevels];
  size_t npicks = 0;
  RateDecision out;
  out.verdict = Verdict::kAllowed;
  out.remaining = INT64_MAX;
  int denied_level = -1, never_level = -1;
  for (size_t i = 0; i < e.levels.size(); ++i) {
    Entry::Level& lv = e.levels[i];
    if (!InSubtree(req.tenant, lv.spec.subtree)) continue;
    if (now_ns < lv.window_lo || now_ns >= lv.window_hi) RefreshReservations(now_ns, e, i);
    Meter* m;
    if (lv.shared) {
      m = &*lv.shared;
    } else {
      const std::string_view bucket_key = lv.spec.scope == Scope::kPerAgent ? req.agent : req.tenant;
      auto b = lv.per.find(bucket_key);
      if (b == lv.per.end()) b = lv.per.emplace(std::string(bucket_key), NewMeter(lv.spec, lv.spec.rate, lv.zone)).first;
      m = &b->second;
    }
    Decision d = MeterCheck(*m, now_ns, req.n);
    Pick pick{m, nullptr};
    if (res != nullptr && res->spec.level == i && res->spec.start_ns <= now_ns && now_ns < res->spec.end_ns) {
      Decision dr = res->bucket.Check(now_ns, req.n);
      if (dr.allowed()) {
        d = dr;
        pick = {nullptr, &res->bucket};
        out.from_reservation = true;
      } else if (!d.allowed()) {
        // Neither pays: the request waits for whichever frees first; never only if both say never.
        if (d.verdict == Verdict::kNever) {
          d = dr;
        } else if (dr.verdict == Verdict::kDenied) {
          d.retry_after_ns = std::min(d.retry_after_ns, dr.retry_after_ns);
        }
      }
    }
    picks[npicks++] = pick;
    out.remaining = std::min(out.remaining, d.remaining);
    out.reset_after_ns = std::max(out.reset_after_ns, d.reset_after_ns);
    if (d.verdict == Verdict::kNever) {
      if (never_level < 0) never_level = static_cast<int>(i);
    } else if (d.verdict == Verdict::kDenied && d.retry_after_ns >= out.retry_after_ns) {
      if (denied_level < 0 || d.retry_after_ns > out.retry_after_ns) denied_level = static_cast<int>(i);
      out.retry_after_ns = d.retry_after_ns;
    }
  }
  if (npicks == 0) out.remaining = 0;  // no level applies: allowed, nothing to count down
  if (never_level >= 0) {
    out.verdict = Verdict::kNever;
    out.retry_after_ns = 0;
    out.limited_by = e.levels[static_cast<size_t>(never_level)].spec.Label();
    out.from_reservation = false;
  } else if (denied_level >= 0) {
    out.verdict = Verdict::kDenied;
    out.limited_by = e.levels[static_cast<size_t>(denied_level)].spec.Label();
    out.from_reservation = false;
  }
  if (!consume) return out;
  switch (out.verdict) {
    case Verdict::kAllowed:
      for (size_t k = 0; k < npicks; ++k) {
        if (picks[k].reserved != nullptr) {
          picks[k].reserved->Commit(now_ns, req.n);
        } else {
          MeterCommit(*picks[k].meter, now_ns, req.n);
        }
      }
      ++e.stats.allowed;
      e.stats.units_allowed += static_cast<uint64_t>(req.n);
      break;
    case Verdict::kDenied: ++e.stats.denied; break;
    case Verdict::kNever: ++e.stats.never; break;
  }
  return out;
}

Result<RateDecision> RateLimitTable::Acquire(int64_t now_ns, const AcquireRequest& req) {
  std::lock_guard lock(mu_);
  return Decide(now_ns, req, true);
}

Result<RateDecision> RateLimitTable::Peek(int64_t now_ns, const AcquireRequest& req) {
  std::lock_guard lock(mu_);
  return Decide(now_ns, req, false);
}

std::vector<Result<RateDecision>> RateLimitTable::AcquireBatch(int64_t now_ns, std::span<const AcquireRequest> reqs) {
  std::vector<Result<RateDecision>> out;
  out.reserve(reqs.size());
  std::lock_guard lock(mu_);
  for (const AcquireRequest& r : reqs) out.push_back(Decide(now_ns, r, true));
  return out;
}

Status RateLimitTable::Reserve(int64_t now_ns, Reservation r) {
  if (Status s = ValidateName("reservation", r.id); !s.ok()) return s;
  std::lock_guard lock(mu_);
  auto it = entries_.find(r.key);
  if (it == entries_.end()) return NotFound("ratelimit \"" + r.key + "\": unknown key");
  Entry& e = *it->second;
  if (r.level >= e.levels.size()) return InvalidArgument("level: key \"" + r.key + "\" has no level " + std::to_string(r.level));
  Entry::Level& lv = e.levels[r.level];
  if (lv.spec.is_quota() || !lv.shared) {
    return InvalidArgument("level: reservations book a shared rate (a global or subtree rate level), not " +
                           lv.spec.Label());
  }
  if (reservations_.count(r.id) != 0) return AlreadyExists("reservation \"" + r.id + "\": already exists");
  if (Status s = ValidateRate(r.rate); !s.ok()) return s;
  if (r.burst < 0) return InvalidArgument("burst: must be positive, got " + std::to_string(r.burst));
  if (r.burst > kMaxBurst) return InvalidArgument("burst: must be at most 1e15");
  if (r.end_ns <= r.start_ns) return InvalidArgument("end: must be after start");
  if (r.end_ns <= now_ns) return InvalidArgument("end: already in the past");
  // Everything that overlaps [start, end) could be active at once: together with the new booking it
  // must leave the shared bucket at least one unit per period.
  std::vector<Rate> booked{r.rate};
  for (const std::string& id : lv.reservation_ids) {
    const Reservation& o = reservations_.find(id)->second->spec;
    if (o.start_ns < r.end_ns && r.start_ns < o.end_ns) booked.push_back(o.rate);
  }
  if (!SubtractRates(lv.spec.rate, booked)) {
    return ResourceExhausted("rate: booking " + FormatRate(r.rate) + " on \"" + r.key + "\" " + lv.spec.Label() +
                             " (" + FormatRate(lv.spec.rate) + ") leaves no shared rate while it overlaps " +
                             std::to_string(booked.size() - 1) + " other reservation(s)");
  }
  const int64_t burst = r.burst > 0 ? r.burst : std::min(r.rate.count, kMaxBurst);
  lv.reservation_ids.push_back(r.id);
  lv.window_lo = INT64_MAX;
  lv.window_hi = INT64_MIN;
  const std::string id = r.id;
  reservations_.emplace(id, std::make_unique<Reserved>(Reserved{std::move(r), GcraLimiter(Rate{}, 1)}));
  Reserved& stored = *reservations_[id];
  stored.bucket = GcraLimiter(stored.spec.rate, burst);
  RefreshReservations(now_ns, e, stored.spec.level);
  return Status::Ok();
}

Status RateLimitTable::CancelReservation(int64_t now_ns, std::string_view id) {
  std::lock_guard lock(mu_);
  auto r = reservations_.find(id);
  if (r == reservations_.end()) return NotFound("reservation \"" + std::string(id) + "\": unknown");
  const Reservation spec = r->second->spec;
  reservations_.erase(r);
  auto it = entries_.find(spec.key);
  if (it != entries_.end() && spec.level < it->second->levels.size()) {
    Entry::Level& lv = it->second->levels[spec.level];
    std::erase(lv.reservation_ids, spec.id);
    lv.window_lo = INT64_MAX;
    lv.window_hi = INT64_MIN;
    RefreshReservations(now_ns, *it->second, spec.level);
  }
  return Status::Ok();
}

std::vector<Reservation> RateLimitTable::Reservations() const {
  std::lock_guard lock(mu_);
  std::vector<Reservation> out;
  for (const auto& [_, r] : reservations_) out.push_back(r->spec);
  return out;
}

Result<Rate> RateLimitTable::EffectiveRate(int64_t now_ns, std::string_view key, size_t level) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return NotFound("ratelimit \"" + std::string(key) + "\": unknown key");
  if (level >= it->second->levels.size()) return InvalidArgument("level: out of range");
  RefreshReservations(now_ns, *it->second, level);
  const Entry::Level& lv = it->second->levels[level];
  if (lv.spec.is_quota()) return InvalidArgument("level: a calendar quota has no rate");
  if (lv.shared) return std::get<GcraLimiter>(*lv.shared).rate();
  return lv.spec.rate;
}

size_t RateLimitTable::Sweep(int64_t now_ns) {
  std::lock_guard lock(mu_);
  for (auto r = reservations_.begin(); r != reservations_.end();) {
    if (r->second->spec.end_ns > now_ns) {
      ++r;
      continue;
    }
    const Reservation& spec = r->second->spec;
    if (auto e = entries_.find(spec.key); e != entries_.end()) {
      Entry::Level& lv = e->second->levels[spec.level];
      std::erase(lv.reservation_ids, spec.id);
      lv.window_lo = INT64_MAX;
      lv.window_hi = INT64_MIN;
    }
    r = reservations_.erase(r);
  }
  size_t dropped = 0;
  for (auto& [_, e] : entries_) {
    for (auto& lv : e->levels) {
      dropped += std::erase_if(lv.per, [&](auto& kv) {
        if (auto* g = std::get_if<GcraLimiter>(&kv.second)) return g->IsFull(now_ns);
        const auto& q = std::get<CalendarQuota>(kv.second);
        return q.used() == 0 || now_ns >= q.day_end_ns();
      });
    }
  }
  return dropped;
}

}  // namespace allot::throttle
