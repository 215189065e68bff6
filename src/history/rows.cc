// Row records: see rows.h.
#include "history/rows.h"

#include <cstdio>

#include "history/column.h"

namespace allot::history::internal {

std::string RowKey(int64_t step, int64_t t, uint32_t part) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "r/%08lld/%012lld/%03u", static_cast<long long>(step),
                static_cast<long long>(t), part);
  return buf;
}

bool ParseRowKey(std::string_view key, int64_t* step, int64_t* t, uint32_t* part) {
  // r/SSSSSSSS/TTTTTTTTTTTT/PPP
  if (key.size() != 2 + 8 + 1 + 12 + 1 + 3 || key.substr(0, 2) != "r/" || key[10] != '/' || key[23] != '/')
    return false;
  auto digits = [&](size_t at, size_t n, int64_t* out) {
    int64_t v = 0;
    for (size_t i = at; i < at + n; i++) {
      if (key[i] < '0' || key[i] > '9') return false;
      v = v * 10 + (key[i] - '0');
    }
    *out = v;
    return true;
  };
  int64_t p = 0;
  if (!digits(2, 8, step) || !digits(11, 12, t) || !digits(24, 3, &p)) return false;
  *part = static_cast<uint32_t>(p);
  return *step > 0;
}

RowWriter::RowWriter(int64_t step, int64_t t, int64_t prev_t, bool full) {
  head_.step = step;
  head_.t = t;
  head_.prev_t = full ? 0 : prev_t;
  head_.full = full;
}

void RowWriter::Add(uint32_t id, const Point& before, const Point& now, const KeyRef& key) {
  if (body_.size() >= kPartBytes) Close();
  PutVarint(&body_, id - last_id_);
  last_id_ = id;
  uint64_t changed = 0;
  for (int f = 0; f < kNumFields; f++) {
    if (now.has(f) && now.value[static_cast<size_t>(f)] != before.value[static_cast<size_t>(f)])
      changed |= 1u << f;
  }
  bool pchg = now.present != before.present;
  bool key_follows = pchg && before.present == 0;
  PutVarint(&body_, (changed << 2) | (pchg ? 2u : 0u) | (key_follows ? 1u : 0u));
  if (pchg) body_.push_back(static_cast<char>(now.present));
  if (key_follows) {
    body_.push_back(static_cast<char>(key.scope));
    PutVarint(&body_, key.name.size());
    body_.append(key.name);
    PutVarint(&body_, key.resource.size());
    body_.append(key.resource);
  }
  for (int f = 0; f < kNumFields; f++) {
    if ((changed >> f) & 1) {
      PutVarint(&body_,
                Zigzag(WrapSub(now.value[static_cast<size_t>(f)], before.value[static_cast<size_t>(f)])));
    }
  }
  entries_++;
}

void RowWriter::Close() {
  parts_.emplace_back(std::move(body_), entries_);
  body_ = std::string();
  entries_ = 0;
  last_id_ = 0;
}

std::vector<std::pair<std::string, std::string>> RowWriter::Finish() {
  if (entries_ > 0 || parts_.empty()) Close();
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(parts_.size());
  for (size_t i = 0; i < parts_.size(); i++) {
    std::string v;
    v.reserve(parts_[i].first.size() + 32);
    v.push_back(1);
    PutVarint(&v, head_.full ? 1 : 0);
    PutVarint(&v, static_cast<uint64_t>(head_.step));
    PutVarint(&v, static_cast<uint64_t>(head_.t));
    PutVarint(&v, static_cast<uint64_t>(head_.prev_t));
    PutVarint(&v, i);
    PutVarint(&v, parts_.size());
    PutVarint(&v, parts_[i].second);
    v.append(parts_[i].first);
    out.emplace_back(RowKey(head_.step, head_.t, static_cast<uint32_t>(i)), std::move(v));
  }
  return out;
}

bool ReadRowHead(std::string_view value, RowHead* head, size_t* pos) {
  *pos = 0;
  if (value.empty() || value[0] != 1) return false;
  *pos = 1;
  uint64_t flags = 0, step = 0, t = 0, prev = 0, part = 0, parts = 0, entries = 0;
  for (uint64_t* v : {&flags, &step, &t, &prev, &part, &parts, &entries}) {
    if (!GetVarint(value, pos, v)) return false;
  }
  if (step == 0 || parts == 0 || part >= parts || parts > 100000 || t > (uint64_t{1} << 40) || prev > t)
    return false;
  head->full = flags & 1;
  head->step = static_cast<int64_t>(step);
  head->t = static_cast<int64_t>(t);
  head->prev_t = static_cast<int64_t>(prev);
  head->part = static_cast<uint32_t>(part);
  head->parts = static_cast<uint32_t>(parts);
  head->entries = static_cast<uint32_t>(entries);
  return true;
}

bool ReadRowEntry(std::string_view value, size_t* pos, uint32_t* last_id, RowEntry* e) {
  uint64_t id = 0, h = 0;
  if (!GetVarint(value, pos, &id) || !GetVarint(value, pos, &h)) return false;
  if (id > UINT32_MAX - *last_id || h >= 64) return false;
  *last_id += static_cast<uint32_t>(id);
  e->id = *last_id;
  e->changed = static_cast<uint8_t>((h >> 2) & 0xf);
  e->presence_changed = h & 2;
  e->has_key = h & 1;
  if (e->presence_changed) {
    if (*pos >= value.size()) return false;
    e->presence = static_cast<uint8_t>(value[(*pos)++]);
    if (e->presence >= 16) return false;
  }
  auto text = [&](std::string_view* out) {
    uint64_t n = 0;
    if (!GetVarint(value, pos, &n) || n > value.size() - *pos) return false;
    *out = value.substr(*pos, n);
    *pos += n;
    return true;
  };
  if (e->has_key) {
    if (*pos >= value.size()) return false;
    auto scope = static_cast<uint8_t>(value[(*pos)++]);
    if (scope >= kNumScopes || !text(&e->key.name) || !text(&e->key.resource)) return false;
    e->key.scope = static_cast<Scope>(scope);
  }
  for (int f = 0; f < kNumFields; f++) {
    e->delta[f] = 0;
    if (!((e->changed >> f) & 1)) continue;
    uint64_t d = 0;
    if (!GetVarint(value, pos, &d)) return false;
    e->delta[f] = Unzigzag(d);
  }
  return true;
}

}  // namespace allot::history::internal
