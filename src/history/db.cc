// history::Db: sampling into tiers, rows to persist, retention and loading (see allot/history.h).
#include <algorithm>

#include "history/db_impl.h"

namespace allot::history {

using internal::FloorDiv;
using internal::RowHead;
using internal::RowWriter;

namespace {

// a / n rounded half away from zero. REQUIRES: n > 0.
int64_t RoundDiv(int64_t a, int64_t n) { return a >= 0 ? (a + n / 2) / n : -((-a + n / 2) / n); }

int64_t Saturate(int64_t a, int64_t b, bool add) {
  int64_t r = 0;
  bool over = add ? __builtin_add_overflow(a, b, &r) : __builtin_sub_overflow(a, b, &r);
  if (!over) return r;
  return (add ? b > 0 : b < 0) ? INT64_MAX : INT64_MIN;
}

}  // namespace

void Accumulator::Add(const Point& p) {
  for (size_t f = 0; f < kNumFields; f++) {
    if (!p.has(static_cast<int>(f))) continue;
    if (n[f] == 0) base[f] = p.value[f], delta_sum[f] = 0;
    delta_sum[f] = Saturate(delta_sum[f], Saturate(p.value[f], base[f], false), true);
    n[f]++;
  }
}

Point Accumulator::Average() const {
  Point p;
  for (size_t f = 0; f < kNumFields; f++) {
    if (n[f] > 0) p.set(static_cast<int>(f), Saturate(base[f], RoundDiv(delta_sum[f], n[f]), true));
  }
  return p;
}

void Frame::Add(Scope scope, std::string_view name, std::string_view resource, const Point& point) {
  Entry e;
  e.offset = keys_.size();
  keys_.push_back(static_cast<char>(scope));
  keys_.append(name);
  keys_.push_back('\0');
  keys_.append(resource);
  e.length = keys_.size() - e.offset;
  e.point = point;
  entries_.push_back(e);
}

void Frame::Clear() {
  keys_.clear();
  entries_.clear();
}

std::pair<int64_t, int64_t> TierState::Rows(int64_t from, int64_t to) const {
  auto lo = std::lower_bound(row_times.begin(), row_times.end(), from);
  auto hi = std::upper_bound(row_times.begin(), row_times.end(), to);
  return {row_base + (lo - row_times.begin()), row_base + (hi - row_times.begin()) - 1};
}

std::string Db::Impl::KeyOf(Scope scope, std::string_view name, std::string_view resource) {
  std::string k;
  k.reserve(name.size() + resource.size() + 2);
  k.push_back(static_cast<char>(scope));
  k.append(name);
  k.push_back('\0');
  k.append(resource);
  return k;
}

bool Db::Impl::KeepsNode(std::string_view resource) const {
  return node_resources.empty() ||
         std::find(node_resources.begin(), node_resources.end(), resource) != node_resources.end();
}

SeriesState& Db::Impl::Intern(Scope scope, std::string_view name, std::string_view resource, uint32_t id) {
  std::string key = KeyOf(scope, name, resource);
  if (auto it = by_key.find(key); it != by_key.end()) {
    if (id == 0 || it->second->id == id) return *it->second;
    Forget(series.find(it->second->id));  // an older id of the same series (rows from before it was dropped)
  }
  if (id == 0) id = next_id;
  next_id = std::max(next_id, id + 1);
  if (auto old = series.find(id); old != series.end()) Forget(old);
  SeriesState& s = series[id];
  s.id = id;
  s.scope = scope;
  s.name = std::string(name);
  s.resource = std::string(resource);
  s.key = std::move(key);
  s.tiers.resize(tiers.size());
  by_key.emplace(s.key, &s);
  names[static_cast<size_t>(scope)][s.name].push_back(id);
  return s;
}

void Db::Impl::Forget(std::map<uint32_t, SeriesState>::iterator it) {
  if (it == series.end()) return;
  SeriesState& s = it->second;
  by_key.erase(s.key);
  auto& byname = names[static_cast<size_t>(s.scope)];
  if (auto n = byname.find(s.name); n != byname.end()) {
    std::erase(n->second, s.id);
    if (n->second.empty()) byname.erase(n);
  }
  series.erase(it);
}

void Db::Impl::Flush(size_t i, int64_t now, std::vector<Write>* out) {
  TierState& ts = tiers[i];
  const int64_t t = ts.open_bucket;
  const int64_t row = ts.next_row++;
  const bool full = ts.force_full || ts.since_full >= kKeyframeRows;
  RowWriter w(ts.tier.step_s, t, ts.last_t, full);
  const Point empty;
  for (auto& [id, s] : series) {
    SeriesState::PerTier& pt = s.tiers[i];
    Point p = pt.acc.bucket == t ? pt.acc.Average() : Point{};
    if (p.present == 0 && pt.row.present == 0) continue;
    internal::KeyRef key{s.scope, s.name, s.resource};
    if (full) {
      if (p.present != 0) w.Add(id, empty, p, key);
    } else if (!(p == pt.row)) {
      w.Add(id, pt.row, p, key);
    }
    if (p.present == 0) {
      pt.column.Gone(row);
    } else if (!(p == pt.row) || !pt.column.live()) {
      pt.column.Append(row, p);
    }
    pt.row = p;
  }
  TierState::Stored st;
  st.t = t;
  st.full = full;
  for (auto& [key, value] : w.Finish()) {
    st.parts++;
    st.bytes += key.size() + value.size();
    out->push_back({std::move(key), std::move(value), false});
  }
  ts.stored.push_back(st);
  ts.row_times.push_back(t);
  ts.last_t = t;
  ts.force_full = false;
  ts.since_full = full ? 1 : ts.since_full + 1;
  Retain(i, now, out);
}

void Db::Impl::Retain(size_t i, int64_t now, std::vector<Write>* out) {
  TierState& ts = tiers[i];
  const int64_t cutoff = now - ts.tier.keep_s;
  const int64_t old_base = ts.row_base;
  while (!ts.row_times.empty() && ts.row_times.front() < cutoff) {
    ts.row_times.pop_front();
    ts.row_base++;
  }
  if (ts.row_base / kBlockRows != old_base / kBlockRows) {
    for (auto& [id, s] : series) s.tiers[i].column.DropBefore(ts.row_base);
    Collect();
  }
  // The store drops a group of rows (a full row and its deltas) once the next group starts at the cutoff
  // or before it; newest first, so that a crash half-way leaves a group's intact beginning.
  for (;;) {
    size_t next = 1;
    while (next < ts.stored.size() && !ts.stored[next].full) next++;
    if (next >= ts.stored.size() || ts.stored[next].t > cutoff) break;
    for (size_t k = next; k-- > 0;) {
      for (uint32_t part = ts.stored[k].parts; part-- > 0;) {
        out->push_back({internal::RowKey(ts.tier.step_s, ts.stored[k].t, part), "", true});
      }
    }
    ts.stored.erase(ts.stored.begin(), ts.stored.begin() + static_cast<std::ptrdiff_t>(next));
  }
}

void Db::Impl::Collect() {
  for (auto it = series.begin(); it != series.end();) {
    bool holds = false;
    for (size_t i = 0; i < tiers.size() && !holds; i++) {
      const SeriesState::PerTier& pt = it->second.tiers[i];
      holds = !pt.column.empty() || pt.column.live() || pt.row.present != 0 ||
              (pt.acc.bucket == tiers[i].open_bucket && pt.acc.bucket != INT64_MIN);
    }
    auto next = std::next(it);
    if (!holds) Forget(it);
    it = next;
  }
}

Db::Db(Options options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  for (const Tier& t : options_.tiers) {
    TierState ts;
    ts.tier = t;
    impl_->tiers.push_back(std::move(ts));
    impl_->any_nodes |= t.nodes;
  }
  impl_->node_resources = options_.node_resources;
}

Db::~Db() = default;

void Db::Add(int64_t t, const Frame& frame, std::vector<Write>* out) {
  Impl& m = *impl_;
  if (t <= m.last_sample) return;
  m.last_sample = t;
  for (size_t i = 0; i < m.tiers.size(); i++) {
    TierState& ts = m.tiers[i];
    int64_t bucket = FloorDiv(t, ts.tier.step_s) * ts.tier.step_s;
    if (ts.open_bucket == bucket) continue;
    if (ts.open_bucket != INT64_MIN) m.Flush(i, t, out);
    ts.open_bucket = bucket;
  }
  for (const Frame::Entry& e : frame.entries_) {
    if (e.point.present == 0) continue;
    std::string_view key(frame.keys_.data() + e.offset, e.length);
    auto scope = static_cast<Scope>(key[0]);
    SeriesState* s = nullptr;
    if (auto it = m.by_key.find(key); it != m.by_key.end()) {
      s = it->second;
    } else {
      size_t nul = key.find('\0', 1);
      std::string_view name = key.substr(1, nul - 1), resource = key.substr(nul + 1);
      if (scope == Scope::kNode && (!m.any_nodes || !m.KeepsNode(resource))) continue;
      s = &m.Intern(scope, name, resource);
    }
    for (size_t i = 0; i < m.tiers.size(); i++) {
      if (scope == Scope::kNode && !m.tiers[i].tier.nodes) continue;
      Accumulator& acc = s->tiers[i].acc;
      if (acc.bucket != m.tiers[i].open_bucket) {
        acc = Accumulator{};
        acc.bucket = m.tiers[i].open_bucket;
      }
      acc.Add(e.point);
    }
  }
}

void Db::Resync() {
  for (TierState& ts : impl_->tiers) ts.force_full = true;
}

bool Db::Known(Scope scope, std::string_view name) const {
  const auto& byname = impl_->names[static_cast<size_t>(scope)];
  return byname.find(name) != byname.end();
}

Stats Db::stats() const {
  Stats st;
  st.series = impl_->series.size();
  for (const auto& [id, s] : impl_->series) {
    st.memory_bytes +=
        sizeof(SeriesState) + s.tiers.size() * sizeof(SeriesState::PerTier) + 2 * s.key.size() + 64;
    for (const auto& pt : s.tiers) st.memory_bytes += pt.column.bytes();
  }
  for (const TierState& ts : impl_->tiers) {
    st.points.push_back(static_cast<int64_t>(ts.row_times.size()));
    st.memory_bytes += ts.row_times.size() * sizeof(int64_t);
    for (const auto& s : ts.stored) {
      st.stored_bytes += s.bytes;
      st.records += s.parts;
    }
  }
  return st;
}

// ---------------------------------------------------------------------------------------------------------
// Loading.

void Db::Load(const std::vector<std::pair<std::string, std::string>>& records, int64_t now,
              std::vector<Write>* fixes) {
  Impl& m = *impl_;
  using Parts = std::vector<std::pair<const std::string*, const std::string*>>;
  std::vector<std::map<int64_t, Parts>> rows(m.tiers.size());
  for (const auto& [key, value] : records) {
    int64_t step = 0, t = 0;
    uint32_t part = 0;
    size_t tier = m.tiers.size();
    if (internal::ParseRowKey(key, &step, &t, &part)) {
      for (size_t i = 0; i < m.tiers.size(); i++) {
        if (m.tiers[i].tier.step_s == step) tier = i;
      }
    }
    if (tier == m.tiers.size()) {
      fixes->push_back({key, "", true});  // not a row, or a row of a step no tier has now
      continue;
    }
    rows[tier][t].emplace_back(&key, &value);
  }
  for (size_t i = 0; i < m.tiers.size(); i++) m.LoadTier(i, rows[i], fixes);
  for (size_t i = 0; i < m.tiers.size(); i++) m.Retain(i, now, fixes);
  m.Collect();
}

void Db::Impl::LoadTier(
    size_t i, std::map<int64_t, std::vector<std::pair<const std::string*, const std::string*>>>& rows,
    std::vector<Write>* fixes) {
  TierState& ts = tiers[i];
  bool chain = false;  // the last row decoded, and every one since a full row
  std::vector<RowHead> heads;
  for (auto& [t, parts] : rows) {
    std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });
    heads.assign(parts.size(), RowHead{});
    bool ok = true;
    for (size_t p = 0; p < parts.size() && ok; p++) {
      size_t pos = 0;
      ok = internal::ReadRowHead(*parts[p].second, &heads[p], &pos) && heads[p].part == p &&
           heads[p].parts == parts.size() && heads[p].t == t && heads[p].step == ts.tier.step_s &&
           heads[p].full == heads[0].full && heads[p].prev_t == heads[0].prev_t;
    }
    if (ok && !heads[0].full) ok = chain && heads[0].prev_t == ts.last_t;
    if (ok) ok = ApplyRow(i, parts, heads);
    if (!ok) {
      for (const auto& [key, value] : parts) fixes->push_back({*key, "", true});
      chain = false;
      continue;
    }
    chain = true;
  }
  ts.force_full = !chain;
}

bool Db::Impl::ApplyRow(size_t i, const std::vector<std::pair<const std::string*, const std::string*>>& parts,
                        std::vector<RowHead>& heads) {
  TierState& ts = tiers[i];
  const bool full = heads[0].full;
  const int64_t t = heads[0].t;
  const int64_t row = ts.next_row;
  std::vector<uint32_t> listed;
  TierState::Stored st;
  st.t = t;
  st.full = full;
  // Once entries were applied the row takes its index even if a later entry is malformed (its records
  // are then deleted; the next full row repairs what it changed).
  ts.next_row++;
  ts.row_times.push_back(t);
  for (size_t p = 0; p < parts.size(); p++) {
    const std::string& value = *parts[p].second;
    size_t pos = 0;
    RowHead h;
    internal::ReadRowHead(value, &h, &pos);
    uint32_t last_id = 0;
    internal::RowEntry e;
    for (uint32_t k = 0; k < h.entries; k++) {
      if (!internal::ReadRowEntry(value, &pos, &last_id, &e) || e.id == 0) return false;
      SeriesState* s = nullptr;
      if (e.has_key) {
        s = &Intern(e.key.scope, e.key.name, e.key.resource, e.id);
      } else if (auto it = series.find(e.id); it != series.end()) {
        s = &it->second;
      } else {
        return false;  // a series the chain never introduced
      }
      SeriesState::PerTier& pt = s->tiers[i];
      Point before = full ? Point{} : pt.row;
      Point now = before;
      if (e.presence_changed) {
        now.present = e.presence;
        for (int f = 0; f < kNumFields; f++) {
          if (!now.has(f)) now.value[static_cast<size_t>(f)] = 0;
        }
      }
      for (int f = 0; f < kNumFields; f++) {
        if ((e.changed >> f) & 1)
          now.value[static_cast<size_t>(f)] =
              internal::WrapAdd(before.value[static_cast<size_t>(f)], e.delta[f]);
      }
      if (now.present == 0) {
        pt.column.Gone(row);
      } else if (!(now == pt.row) || !pt.column.live()) {
        pt.column.Append(row, now);
      }
      pt.row = now;
      if (full) listed.push_back(e.id);
    }
    st.parts++;
    st.bytes += parts[p].first->size() + value.size();
  }
  if (full) {
    // A full row lists every present series: the others are gone.
    std::sort(listed.begin(), listed.end());
    for (auto& [id, s] : series) {
      SeriesState::PerTier& pt = s.tiers[i];
      if (pt.row.present == 0 || std::binary_search(listed.begin(), listed.end(), id)) continue;
      pt.column.Gone(row);
      pt.row = Point{};
    }
  }
  ts.last_t = t;
  ts.stored.push_back(st);
  ts.since_full = full ? 1 : ts.since_full + 1;
  return true;
}

}  // namespace allot::history
