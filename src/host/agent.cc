#include "allot/host/agent.h"

#include <algorithm>
#include <random>
#include <thread>

#include "allot/guard.h"
#include "allot/quantity.h"
#include "allot/http.h"

namespace allot::host {
namespace {

bool LabelChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '/';
}

std::string PathEscape(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

nlohmann::ordered_json GpusJson(const std::vector<GpuInfo>& gpus, bool usage) {
  auto arr = nlohmann::ordered_json::array();
  for (const auto& g : gpus) {
    nlohmann::ordered_json j{{"index", g.index}, {"model", g.model}, {"memory", g.memory_total}};
    if (usage) {
      j["memory_used"] = g.memory_used;
      j["utilization"] = g.utilization;
    }
    arr.push_back(j);
  }
  return arr;
}

class Agent {
 public:
  explicit Agent(const AgentOptions& o) : o_(o) {
    if (o_.token.empty()) return;
    headers_.push_back({"Authorization", "Bearer " + o_.token});
  }

  int Run() {
    // --server is http(s)://HOST:PORT with an optional path prefix, or several replicas' URLs
    // comma-separated: one keep-alive connection per replica; every call is safe to repeat (a registration
    // replaces the node's spec, a heartbeat its usage), so each fails over to the next replica and follows
    // redirects.
    for (size_t pos = 0; pos != std::string::npos;) {
      size_t comma = o_.server.find(',', pos);
      std::string url = o_.server.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      pos = comma == std::string::npos ? comma : comma + 1;
      url.erase(0, url.find_first_not_of(' '));
      if (url.find("://") != std::string::npos && url.rfind("http://", 0) != 0 &&
          url.rfind("https://", 0) != 0) {
        return Say("server " + url + ": expected an http:// or https:// URL", 2);
      }
    }
    net::FailoverOptions fo;
    fo.timeout_ms = 5000;
    fo.retry_for_ms = 10'000;
    fo.tls = o_.tls;
    auto client = net::FailoverClient::Create(o_.server, fo);
    if (!client.ok()) return Say(client.error().message, 2);
    client_ = std::make_unique<net::FailoverClient>(std::move(*client));
    auto node = DiscoverNode(o_);
    if (!node.ok()) return Say(node.error().message, 2);
    node_ = *node;
    if (auto t = ReadCpuTimes(o_.roots); t.ok()) {
      last_cpu_ = *t;
      have_cpu_ = true;
    }
    Log("node " + node_.name + ": " + RegistrationBody(node_)["capacity"].dump());
    int backoff_ms = 1000;
    while (true) {
      int rc = Register();
      if (rc == 0) break;
      if (o_.once || rc == 2) return 1;
      if (!Sleep(std::chrono::milliseconds(backoff_ms))) return 0;
      backoff_ms = std::min(backoff_ms * 2, 30000);
    }
    while (true) {
      if (!o_.once && !Sleep(o_.interval)) return 0;
      int rc = Heartbeat();
      if (o_.once) return rc == 0 ? 0 : 1;
      if (rc == 2) return 1;
    }
  }

 private:
  int Say(const std::string& msg, int code) {
    if (o_.log != nullptr) *o_.log << "allot: agent: " << msg << "\n";
    return code;
  }
  void Log(const std::string& msg) {
    if (o_.log != nullptr) *o_.log << "agent: " << msg << "\n";
  }

  // Sleeps in slices so that a stop request is seen quickly; false when stopped.
  bool Sleep(std::chrono::milliseconds total) {
    if (o_.sleep) {
      o_.sleep(total);
      return o_.stop == nullptr || !o_.stop->load();
    }
    auto end = std::chrono::steady_clock::now() + total;
    while (std::chrono::steady_clock::now() < end) {
      if (o_.stop != nullptr && o_.stop->load()) return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
    }
    return o_.stop == nullptr || !o_.stop->load();
  }

  // 0 registered, 1 retry later, 2 refused for good.
  int Register() {
    auto r = client_->Request("POST", "/v1/nodes", RegistrationBody(node_).dump(), headers_, true);
    if (!r.ok()) return Say("register: " + r.error().message, 1);
    if (r->status / 100 == 2 || r->status == 409) {
      Log("registered " + node_.name + (r->status == 409 ? " (already known)" : "") + " at " +
          client_->answered_by());
      return 0;
    }
    bool permanent = r->status / 100 == 4 && r->status != 429 && r->status != 408;
    return Say("register: HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 300), permanent ? 2 : 1);
  }

  // 0 sent, 1 failed (retry next interval), 2 refused for good.
  int Heartbeat() {
    NodeUsage u;
    if (auto s = Observe(&u); !s.ok()) return Say("heartbeat: " + s.message(), 1);
    std::string path = "/v1/nodes/" + PathEscape(node_.name) + "/heartbeat";
    auto r = client_->Request("POST", path, HeartbeatBody(u).dump(), headers_, true);
    if (!r.ok()) return Say("heartbeat: " + r.error().message, 1);
    if (r->status == 404) {
      Log("server does not know " + node_.name + ": registering again");
      int rc = Register();
      if (rc != 0) return rc;
      r = client_->Request("POST", path, HeartbeatBody(u).dump(), headers_, true);
      if (!r.ok()) return Say("heartbeat: " + r.error().message, 1);
    }
    if (r->status / 100 != 2) {
      bool permanent = r->status == 401 || r->status == 403;
      return Say("heartbeat: HTTP " + std::to_string(r->status) + ": " + r->body.substr(0, 300), permanent ? 2 : 1);
    }
    if (client_->answered_by() != answered_by_) {
      answered_by_ = client_->answered_by();
      Log("heartbeats go to " + answered_by_);
    }
    Log("heartbeat " + HeartbeatBody(u)["usage"].dump());
    return 0;
  }

  Status Observe(NodeUsage* u) {
    auto times = ReadCpuTimes(o_.roots);
    if (!times.ok()) return times.error();
    std::optional<int64_t> bp;
    if (have_cpu_) bp = CpuBusyBasisPoints(last_cpu_, *times);
    if (!bp) {
      auto sample = SampleCpu(o_.roots, *times, {});
      if (!sample.ok()) return sample.error();
      bp = sample->used_bp;
    }
    last_cpu_ = *times;
    have_cpu_ = true;
    u->cpu_milli = static_cast<int64_t>(static_cast<__int128>(int64_t{times->cores} * 1000) * *bp / 10000);
    auto mem = ReadMemInfo(o_.roots);
    if (!mem.ok()) return mem.error();
    u->memory = mem->total - mem->available;
    auto cg = ReadCgroupLimits(o_.roots);
    if (cg.ok() && cg->memory_max && *cg->memory_max < mem->total && cg->memory_current) u->memory = *cg->memory_current;
    for (const auto& p : o_.disks) {
      auto d = ProbeDisk(p);
      if (!d.ok()) return d.error();
      u->disk += d->used;
    }
    auto gpus = ProbeGpus(o_.roots);
    if (!gpus.ok()) return gpus.error();
    u->gpus = *gpus;
    for (const auto& g : u->gpus) u->gpu_milli += int64_t{g.utilization} * 10;
    return Status::Ok();
  }

  const AgentOptions& o_;
  std::unique_ptr<net::FailoverClient> client_;
  std::string answered_by_;  // the replica that took the last heartbeat
  NodeInfo node_;
  std::vector<std::pair<std::string, std::string>> headers_;
  CpuTimes last_cpu_;
  bool have_cpu_ = false;
};

}  // namespace

Status AddLabel(std::string_view text, std::map<std::string, std::string>* labels) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return InvalidArgument("label \"" + std::string(text) + "\": expected KEY=VALUE");
  }
  std::string_view k = text.substr(0, eq), v = text.substr(eq + 1);
  if (k.size() > 253 || v.size() > 63 || !std::all_of(k.begin(), k.end(), LabelChar) ||
      !std::all_of(v.begin(), v.end(), LabelChar) || v.find('/') != std::string_view::npos) {
    return InvalidArgument("label \"" + std::string(text) +
                           "\": keys and values may hold letters, digits, '.', '_', '-' (keys also '/'); values at most 63 characters");
  }
  (*labels)[std::string(k)] = std::string(v);
  return Status::Ok();
}

Result<NodeInfo> DiscoverNode(const AgentOptions& o) {
  NodeInfo n;
  n.name = o.name.empty() ? Hostname(o.roots) : o.name;
  auto times = ReadCpuTimes(o.roots);
  if (!times.ok()) return times.error();
  n.cpu_milli = int64_t{times->cores} * 1000;
  auto mem = ReadMemInfo(o.roots);
  if (!mem.ok()) return mem.error();
  n.memory = mem->total;
  auto cg = ReadCgroupLimits(o.roots);
  if (!cg.ok()) return cg.error();
  if (cg->memory_max && *cg->memory_max < n.memory) n.memory = *cg->memory_max;
  if (cg->cpu_max_milli && *cg->cpu_max_milli < n.cpu_milli) n.cpu_milli = *cg->cpu_max_milli;
  for (const auto& p : o.disks) {
    auto d = ProbeDisk(p);
    if (!d.ok()) return d.error();
    n.disks.push_back(*d);
  }
  auto gpus = ProbeGpus(o.roots);
  if (!gpus.ok()) return gpus.error();
  n.gpus = *gpus;
  n.labels = o.labels;
  return n;
}

nlohmann::ordered_json RegistrationBody(const NodeInfo& n) {
  nlohmann::ordered_json cap;
  cap["cpu"] = FormatMilli(n.cpu_milli);
  cap["memory"] = FormatBytes(n.memory);
  int64_t disk = 0;
  for (const auto& d : n.disks) disk += d.capacity;
  if (!n.disks.empty()) cap["ephemeral-storage"] = FormatBytes(disk);
  if (!n.gpus.empty()) cap["gpu"] = std::to_string(n.gpus.size());
  nlohmann::ordered_json body;
  body["name"] = n.name;
  body["capacity"] = cap;
  body["labels"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : n.labels) body["labels"][k] = v;
  if (!n.gpus.empty()) body["gpus"] = GpusJson(n.gpus, false);
  return body;
}

nlohmann::ordered_json HeartbeatBody(const NodeUsage& u) {
  nlohmann::ordered_json usage;
  usage["cpu"] = FormatMilli(u.cpu_milli);
  usage["memory"] = FormatBytes(u.memory);
  usage["ephemeral-storage"] = FormatBytes(u.disk);
  if (!u.gpus.empty()) usage["gpu"] = FormatMilli(u.gpu_milli);
  nlohmann::ordered_json body;
  body["usage"] = usage;
  if (!u.gpus.empty()) body["gpus"] = GpusJson(u.gpus, true);
  return body;
}

int RunAgent(const AgentOptions& options) { return Agent(options).Run(); }

}  // namespace allot::host
