// history::Db reads: Read (GET /v1/history) and Summarize (efficiency), see allot/history.h.
#include <algorithm>

#include "history/db_impl.h"

namespace allot::history {

using internal::FloorDiv;

namespace {

std::string Seconds(int64_t s) {
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

// The tiers a scope is kept in, finest first.
std::vector<size_t> Candidates(const std::vector<TierState>& tiers, Scope scope) {
  std::vector<size_t> out;
  for (size_t i = 0; i < tiers.size(); i++) {
    if (scope != Scope::kNode || tiers[i].tier.nodes) out.push_back(i);
  }
  return out;
}

// The finest of `cand` whose retention reaches back to `from`, else the coarsest.
size_t Covering(const std::vector<TierState>& tiers, const std::vector<size_t>& cand, int64_t from,
                int64_t now) {
  for (size_t i : cand) {
    if (from >= now - tiers[i].tier.keep_s) return i;
  }
  return cand.back();
}

}  // namespace

Result<Answer> Db::Read(const Query& q, int64_t now, ReadError* error) const {
  auto fail = [&](std::string field, Error e) -> Result<Answer> {
    if (error != nullptr) *error = {std::move(field), e};
    return e;
  };
  const Impl& m = *impl_;
  if (q.from > q.to) {
    return fail("from", InvalidArgument("from (" + std::to_string(q.from) + ") is after to (" +
                                        std::to_string(q.to) + ")"));
  }
  std::vector<size_t> cand = Candidates(m.tiers, q.scope);
  if (cand.empty()) {
    return fail("scope",
                NotFound("no history tier keeps nodes (history.tiers[].nodes is false in every tier)"));
  }
  const size_t cover = Covering(m.tiers, cand, q.from, now);
  const Tier& ct = m.tiers[cover].tier;
  const int64_t step = q.step > 0 ? q.step : ct.step_s;
  if (step < ct.step_s) {
    return fail("step", InvalidArgument("step " + Seconds(step) + " is finer than the " + Seconds(ct.step_s) +
                                        " points of the history that reaches back to from (kept " +
                                        Seconds(ct.keep_s) + "); ask for a step of at least " +
                                        Seconds(ct.step_s) + " or a later from"));
  }
  // The coarsest tier that still reaches back to `from` and whose points divide the step reads fewest points.
  size_t read = cover;
  for (size_t i : cand) {
    const Tier& t = m.tiers[i].tier;
    if (t.step_s <= step && step % t.step_s == 0 && q.from >= now - t.keep_s &&
        t.step_s > m.tiers[read].tier.step_s)
      read = i;
  }
  const int64_t from = FloorDiv(q.from, step) * step;
  if ((q.to - from) / step > kMaxSteps) {
    return fail("step",
                InvalidArgument("from - to spans " + std::to_string((q.to - from) / step) + " steps of " +
                                Seconds(step) + "; at most " + std::to_string(kMaxSteps) +
                                " (ask for a larger step or a shorter range)"));
  }
  const auto& byname = m.names[static_cast<size_t>(q.scope)];
  auto nit = byname.find(q.name);
  if (nit == byname.end()) {
    std::string what =
        q.scope == Scope::kCluster ? "the cluster" : std::string(ScopeName(q.scope)) + " " + q.name;
    return fail("name", NotFound("no history of " + what));
  }
  std::vector<const SeriesState*> picked;
  for (uint32_t id : nit->second) {
    const SeriesState& s = m.series.at(id);
    if (q.resource.empty() || s.resource == q.resource) picked.push_back(&s);
  }
  if (picked.empty()) {
    return fail("resource", NotFound("no history of " + q.resource + " for " + ScopeName(q.scope) +
                                     (q.name.empty() ? "" : " " + q.name)));
  }
  std::sort(picked.begin(), picked.end(), [](const SeriesState* a, const SeriesState* b) {
    int ra = ResourceRank(a->resource), rb = ResourceRank(b->resource);
    return ra != rb ? ra < rb : a->resource < b->resource;
  });
  const TierState& ts = m.tiers[read];
  auto [lo, hi] = ts.Rows(from, q.to);
  Answer ans;
  ans.from = from;
  ans.to = q.to;
  ans.step = step;
  ans.resolution = ts.tier.step_s;
  for (const SeriesState* s : picked) {
    SeriesData d;
    d.resource = s->resource;
    Accumulator acc;
    auto emit = [&] {
      if (acc.bucket == INT64_MIN) return;
      Point avg = acc.Average();
      d.t.push_back(acc.bucket);
      for (int f = 0; f < kNumFields; f++) {
        d.values[static_cast<size_t>(f)].push_back(avg.has(f) ? avg.value[static_cast<size_t>(f)] : kNull);
      }
    };
    s->tiers[read].column.Scan(lo, hi, ts.next_row - 1, [&](int64_t row, const Point& p) {
      int64_t t = ts.row_times[static_cast<size_t>(row - ts.row_base)];
      int64_t b = FloorDiv(t, step) * step;
      if (b != acc.bucket) {
        emit();
        acc = Accumulator{};
        acc.bucket = b;
      }
      acc.Add(p);
    });
    emit();
    ans.series.push_back(std::move(d));
  }
  return ans;
}

int64_t Db::Summarize(
    Scope scope, int64_t from, int64_t to, int64_t now,
    const std::function<void(const std::string&, const std::string&, const Totals&)>& fn) const {
  const Impl& m = *impl_;
  std::vector<size_t> cand = Candidates(m.tiers, scope);
  if (cand.empty()) return 0;
  // The coarsest tier that reaches back to `from` with at least 100 points in the window (the averages are
  // the same, the points to read fewer); else the finest that reaches back.
  size_t pick = Covering(m.tiers, cand, from, now);
  for (size_t i : cand) {
    const Tier& t = m.tiers[i].tier;
    if (from >= now - t.keep_s && t.step_s * 100 <= to - from && t.step_s > m.tiers[pick].tier.step_s)
      pick = i;
  }
  const TierState& ts = m.tiers[pick];
  auto [lo, hi] = ts.Rows(from, to);
  for (const auto& [name, ids] : m.names[static_cast<size_t>(scope)]) {
    for (uint32_t id : ids) {
      const SeriesState& s = m.series.at(id);
      Totals tt;
      s.tiers[static_cast<size_t>(&ts - m.tiers.data())].column.Scan(
          lo, hi, ts.next_row - 1, [&](int64_t, const Point& p) {
            for (size_t f = 0; f < kNumFields; f++) {
              if (!p.has(static_cast<int>(f))) continue;
              tt.sum[f] += static_cast<double>(p.value[f]);
              tt.count[f]++;
            }
            if (p.has(kUsed) && p.has(kAllocated)) {
              tt.used_paired += static_cast<double>(p.value[kUsed]);
              tt.allocated_paired += static_cast<double>(p.value[kAllocated]);
              tt.paired++;
            }
          });
      fn(name, s.resource, tt);
    }
  }
  return ts.tier.step_s;
}

}  // namespace allot::history
