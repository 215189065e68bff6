// Trace specs and loading whole traces as engine nodes and jobs.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

#include "allot/trace.h"
#include "trace/line_reader.h"

namespace allot::trace {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kMaxMachines = 10'000'000;  // a Google marginal's machines in all (the real cell has 12.5k)

std::string SpecLabel(size_t i) { return "trace.allot/gpu-spec-" + std::to_string(i); }

Status LoadAlibaba(const TraceSpec& spec, const LoadOptions& o, TraceWorkload* w) {
  std::vector<AlibabaNode> nodes;
  auto ns = ReadAlibabaNodes(spec.paths[0], [&](const AlibabaNode& n) { nodes.push_back(n); }, o.read);
  if (!ns.ok()) return ns.error();
  std::vector<AlibabaPod> pods;
  auto ps = ReadAlibabaPods(spec.paths[1], [&](const AlibabaPod& p) { pods.push_back(p); }, o.read);
  if (!ps.ok()) return ps.error();
  w->stats.rows = ns->rows + ps->rows;
  w->stats.skipped = ns->skipped + ps->skipped;
  w->stats.first_skip = !ns->first_skip.empty() ? ns->first_skip : ps->first_skip;
  // Every distinct multi-model constraint becomes a label that exactly the satisfying nodes carry.
  std::map<std::vector<std::string>, size_t> specs;
  for (const auto& p : pods)
    if (p.num_gpu > 0 && !p.gpu_spec.empty()) specs.emplace(p.gpu_spec, specs.size());
  std::set<std::string> models;
  for (const auto& n : nodes) {
    NodeSpec s;
    s.name = n.name;
    s.capacity = {{"cpu", n.cpu_milli}, {"memory", n.memory_mib * kMiB}};
    if (n.gpus > 0) {
      s.capacity["gpu"] = int64_t{n.gpus} * 1000;
      s.labels["gpu-model"] = n.model;
      models.insert(n.model);
      for (const auto& [models_ok, idx] : specs)
        if (std::find(models_ok.begin(), models_ok.end(), n.model) != models_ok.end()) s.labels[SpecLabel(idx)] = "true";
    }
    w->nodes.push_back(std::move(s));
  }
  for (const auto& p : pods) {
    if (p.num_gpu > 0 && !p.gpu_spec.empty()) {
      bool any = false;
      for (const auto& m : p.gpu_spec) any = any || models.count(m) > 0;
      if (!any) {
        std::string msg = spec.paths[1] + ": pod " + p.name + ": no node has a GPU of model " + p.gpu_spec[0];
        if (!o.read.skip_bad) return InvalidArgument(msg);
        w->stats.skipped++;
        continue;
      }
    }
    TraceJob j;
    j.id = p.name;
    j.submit = p.creation * 1000;
    if (p.scheduled) {
      j.run = (p.deletion - *p.scheduled) * 1000;
    } else {
      j.run = (p.deletion - p.creation) * 1000;
      j.wait = j.run;  // it was never scheduled and gave up at deletion
    }
    j.run = std::max<TimeMs>(j.run, 1);
    j.estimate = j.run;
    j.requests = {{"cpu", p.cpu_milli}, {"memory", p.memory_mib * kMiB}};
    if (p.num_gpu > 0) j.requests["gpu"] = p.GpuDemand();
    if (p.num_gpu > 0 && !p.gpu_spec.empty()) j.selector[SpecLabel(specs.at(p.gpu_spec))] = "true";
    w->jobs.push_back(std::move(j));
  }
  w->description =
      "alibaba-gpu2023: one node per node row; gpu is counted in milli per node (a share is milli of one "
      "device; device-level placement is `allot trace inflate`); gpu_spec is an exact node-label selector; "
      "a pod runs deletion - scheduled s (never-scheduled pods: deletion - creation, and give up then)";
  return Status::Ok();
}

Status LoadGoogle(const TraceSpec& spec, const LoadOptions& o, TraceWorkload* w) {
  namespace fs = std::filesystem;
  std::string dir = fs::path(spec.paths[0]).parent_path().string();
  if (dir.empty()) dir = ".";
  std::string cpu_csv = spec.paths.size() >= 2 ? spec.paths[1] : dir + "/machine-capacity-marginal-cpu.csv";
  std::string mem_csv = spec.paths.size() >= 3 ? spec.paths[2] : dir + "/machine-capacity-marginal-memory.csv";
  auto nodes = GoogleNodeModel(cpu_csv, mem_csv, o.google);
  if (!nodes.ok()) return nodes.error();
  w->nodes = std::move(*nodes);
  struct Open {
    TimeMs submit = -1, scheduled = -1;
    double cpu = 0, mem = 0;
  };
  std::unordered_map<uint64_t, Open> open;  // key: job_id * 2^20 ^ task index
  TimeMs last = 0;
  size_t episode = 0, never = 0, missing = 0;
  auto to_ms = [](int64_t us) { return us / 1000; };
  auto add = [&](const Open& t, int64_t job, int64_t index, TimeMs end) {
    TraceJob j;
    j.id = std::to_string(job) + "-" + std::to_string(index) + "-" + std::to_string(episode++);
    j.submit = t.submit;
    j.run = std::max<TimeMs>(end - t.scheduled, 1);
    j.estimate = j.run;
    j.requests = {{"cpu", std::max<int64_t>(1, std::llround(t.cpu * static_cast<double>(o.google.cpu_milli)))},
                  {"memory", std::max<int64_t>(1, std::llround(t.mem * static_cast<double>(o.google.memory_bytes)))}};
    w->jobs.push_back(std::move(j));
  };
  auto st = ReadGoogleTaskEvents(spec.paths[0], [&](const GoogleTaskEvent& e) {
    TimeMs t = to_ms(e.time_us);
    last = std::max(last, t);
    uint64_t key = (static_cast<uint64_t>(e.job_id) << 20) ^ static_cast<uint64_t>(e.task_index);
    if (e.type == 0) {  // SUBMIT
      Open& x = open[key];
      x = Open{};
      x.submit = t;
      if (!e.cpu || !e.memory) missing++;
      x.cpu = e.cpu.value_or(0);
      x.mem = e.memory.value_or(0);
    } else if (e.type == 1) {  // SCHEDULE
      auto it = open.find(key);
      if (it == open.end()) {  // submitted before the shard: it arrives when scheduled
        Open x;
        x.submit = t;
        x.cpu = e.cpu.value_or(0);
        x.mem = e.memory.value_or(0);
        it = open.emplace(key, x).first;
      }
      it->second.scheduled = t;
    } else if (e.type >= 2 && e.type <= 6) {  // EVICT FAIL FINISH KILL LOST
      auto it = open.find(key);
      if (it == open.end()) return;
      if (it->second.scheduled >= 0) add(it->second, e.job_id, e.task_index, t);
      else never++;
      open.erase(it);
    }
  }, o.read);
  if (!st.ok()) return st.error();
  w->stats = *st;
  // Still running at the end of the shard: they run until its last timestamp. In key order, for determinism.
  std::map<uint64_t, Open> rest(open.begin(), open.end());
  for (const auto& [key, t] : rest) {
    if (t.scheduled >= 0) add(t, static_cast<int64_t>(key >> 20), static_cast<int64_t>(key & 0xFFFFF), last);
    else never++;
  }
  w->dropped = never;
  w->dropped_reason = "tasks never scheduled in the shard";
  w->description = "google2011: " + std::to_string(w->nodes.size()) +
                   " machines paired from the cpu and memory capacity marginals (largest with largest); "
                   "1.0 cpu = " + std::to_string(o.google.cpu_milli / 1000) + " cores, 1.0 memory = " +
                   std::to_string(o.google.memory_bytes >> 30) + " GiB; one job per scheduled task episode "
                   "(SUBMIT to EVICT/FAIL/FINISH/KILL/LOST, run = end - SCHEDULE); " + std::to_string(missing) +
                   " submits without a cpu or memory request count as the smallest amount";
  return Status::Ok();
}

Status LoadSwf(const TraceSpec& spec, const LoadOptions& o, TraceWorkload* w) {
  SwfHeader h;
  std::vector<SwfJob> raw;
  auto st = ReadSwf(spec.paths[0], [&](const SwfJob& j) { raw.push_back(j); }, o.read, &h);
  if (!st.ok()) return st.error();
  w->stats = *st;
  int64_t procs = h.max_procs > 0 ? h.max_procs : h.max_nodes;
  if (procs <= 0) {
    for (const auto& j : raw) procs = std::max({procs, j.allocated_procs, j.requested_procs});
  }
  if (procs <= 0) return InvalidArgument(spec.paths[0] + ": no MaxProcs header and no job with processors");
  NodeSpec machine;
  machine.name = "machine";
  machine.capacity = {{"cpu", procs * 1000}};
  w->nodes.push_back(machine);
  size_t dropped = 0;
  for (const auto& r : raw) {
    int64_t p = r.requested_procs > 0 ? r.requested_procs : r.allocated_procs;
    if (p <= 0 || r.run_s < 0 || p > procs) {
      dropped++;
      continue;
    }
    TraceJob j;
    j.id = std::to_string(r.id);
    j.submit = r.submit_s * 1000;
    j.run = std::max<TimeMs>(r.run_s * 1000, 1);
    j.estimate = r.requested_time_s > 0 ? std::max(j.run, r.requested_time_s * 1000) : j.run;
    j.requests = {{"cpu", p * 1000}};
    w->jobs.push_back(std::move(j));
  }
  w->dropped = dropped;
  w->dropped_reason = "jobs with unknown processors or run time, or more processors than the machine";
  w->description = "swf: one node of " + std::to_string(procs) +
                   " cpus (1 processor = 1 cpu); a job takes its requested (else allocated) processors; the "
                   "backfill estimate is the requested time when known, else the run time";
  return Status::Ok();
}

}  // namespace

const char* FormatName(Format f) {
  switch (f) {
    case Format::kAlibabaGpu2023: return "alibaba-gpu2023";
    case Format::kGoogle2011: return "google2011";
    case Format::kSwf: return "swf";
  }
  return "?";
}

Result<TraceSpec> ParseTraceSpec(const std::string& text) {
  size_t colon = text.find(':');
  if (colon == std::string::npos)
    return InvalidArgument("trace '" + text + "': expected FORMAT:PATH[,PATH] (alibaba-gpu2023, google2011, swf)");
  std::string fmt = text.substr(0, colon);
  TraceSpec s;
  if (fmt == "alibaba-gpu2023") s.format = Format::kAlibabaGpu2023;
  else if (fmt == "google2011") s.format = Format::kGoogle2011;
  else if (fmt == "swf") s.format = Format::kSwf;
  else return InvalidArgument("trace '" + text + "': unknown format '" + fmt + "' (alibaba-gpu2023, google2011, swf)");
  std::vector<std::string_view> parts;
  SplitFields(std::string_view(text).substr(colon + 1), ',', &parts);
  for (auto p : parts) {
    if (p.empty()) return InvalidArgument("trace '" + text + "': empty path");
    s.paths.emplace_back(p);
  }
  size_t lo = s.format == Format::kAlibabaGpu2023 ? 2 : 1;
  size_t hi = s.format == Format::kAlibabaGpu2023 ? 2 : (s.format == Format::kGoogle2011 ? 3 : 1);
  if (s.paths.size() < lo || s.paths.size() > hi) {
    return InvalidArgument("trace '" + text + "': " + fmt + " takes " +
                           (s.format == Format::kAlibabaGpu2023 ? std::string("NODES,PODS")
                            : s.format == Format::kGoogle2011 ? std::string("EVENTS[,CPU_MARGINAL,MEMORY_MARGINAL]")
                                                              : std::string("one path")));
  }
  if (s.format == Format::kGoogle2011 && s.paths.size() == 2)
    return InvalidArgument("trace '" + text + "': give both marginal files or neither");
  return s;
}

Result<std::vector<NodeSpec>> GoogleNodeModel(const std::string& cpu_csv, const std::string& mem_csv,
                                              const GoogleScale& scale) {
  auto read = [](const std::string& path, const std::string& head, std::vector<double>* out) -> Status {
    LineReader r;
    if (auto st = r.Open(path); !st.ok()) return st;
    std::string line;
    std::vector<std::string_view> f;
    while (r.Next(&line)) {
      if (line.empty()) continue;
      std::string where = path + ":" + std::to_string(r.line_number()) + ": ";
      if (r.line_number() == 1) {
        if (line != head + ",number_of_machines") return InvalidArgument(where + "expected header '" + head + ",number_of_machines'");
        continue;
      }
      SplitFields(line, ',', &f);
      if (f.size() != 2) return InvalidArgument(where + "expected 2 columns");
      auto cap = ParseDouble(f[0]);
      auto n = ParseInt(f[1]);
      if (!cap || *cap < 0 || *cap > 1) return InvalidArgument(where + "capacity must be a number in [0, 1]");
      if (!n || *n < 0) return InvalidArgument(where + "number_of_machines must be a non-negative integer");
      if (*cap == 0) continue;  // unknown capacity
      if (*n > kMaxMachines - static_cast<int64_t>(out->size())) {
        return InvalidArgument(where + "more than " + std::to_string(kMaxMachines) + " machines in all");
      }
      for (int64_t i = 0; i < *n; i++) out->push_back(*cap);
    }
    if (!r.error().empty()) return InvalidArgument(r.error());
    std::sort(out->begin(), out->end(), std::greater<>());
    return Status::Ok();
  };
  std::vector<double> cpu, mem;
  if (auto st = read(cpu_csv, "cpu_capacity", &cpu); !st.ok()) return st.error();
  if (auto st = read(mem_csv, "memory_capacity", &mem); !st.ok()) return st.error();
  if (cpu.empty() || cpu.size() != mem.size())
    return InvalidArgument(cpu_csv + ": " + std::to_string(cpu.size()) + " machines with known cpu but " +
                           std::to_string(mem.size()) + " with known memory in " + mem_csv);
  std::vector<NodeSpec> nodes(cpu.size());
  for (size_t i = 0; i < cpu.size(); i++) {
    nodes[i].name = "m" + std::to_string(i);
    nodes[i].capacity = {{"cpu", std::llround(cpu[i] * static_cast<double>(scale.cpu_milli))},
                         {"memory", std::llround(mem[i] * static_cast<double>(scale.memory_bytes))}};
  }
  return nodes;
}

Result<TraceWorkload> LoadWorkload(const TraceSpec& spec, const LoadOptions& options) {
  TraceWorkload w;
  Status st;
  switch (spec.format) {
    case Format::kAlibabaGpu2023: st = LoadAlibaba(spec, options, &w); break;
    case Format::kGoogle2011: st = LoadGoogle(spec, options, &w); break;
    case Format::kSwf: st = LoadSwf(spec, options, &w); break;
  }
  if (!st.ok()) return st.error();
  if (options.tick_ms > 0) {
    const TimeMs k = options.tick_ms;
    auto up = [k](TimeMs x) { return (x + k - 1) / k * k; };
    for (auto& j : w.jobs) {
      j.submit = up(j.submit);
      j.run = std::max(k, up(j.run));
      j.estimate = std::max(k, up(j.estimate));
      if (j.wait) j.wait = up(*j.wait);
    }
  }
  std::stable_sort(w.jobs.begin(), w.jobs.end(), [](const TraceJob& a, const TraceJob& b) { return a.submit < b.submit; });
  if (options.limit_jobs > 0 && w.jobs.size() > options.limit_jobs) w.jobs.resize(options.limit_jobs);
  return w;
}

}  // namespace allot::trace
