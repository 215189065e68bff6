// The node agent: discovers this machine, registers it with an allot server and reports observed usage.
//
// Protocol (DESIGN.md HTTP API): `POST {server}/v1/nodes` with {"name", "capacity": {...}, "labels": {...},
// "gpus": [...]} (capacity values are Kubernetes quantity strings), then every `interval`
// `POST {server}/v1/nodes/{name}/heartbeat` with {"usage": {...}, "gpus": [...]}. A 409 on registration
// means the node is already known (an agent restart) and counts as success; a 404 on a heartbeat means
// the server forgot the node, and the agent registers again.
// Thread-safety: RunAgent runs on the calling thread; options.stop may be flipped from a signal handler.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "allot/host.h"
#include "allot/http.h"
#include "allot/result.h"

namespace allot::host {

struct AgentOptions {
  std::string server;                         // http://HOST:PORT[/base] or https://...
  std::string name;                           // empty: the host name
  std::map<std::string, std::string> labels;  // from --label k=v
  std::chrono::milliseconds interval{10000};
  ProbeRoots roots;
  std::vector<std::string> disks{"/"};  // one path per filesystem; ephemeral-storage is their sum
  std::string token;                    // bearer token, if the server wants one
  net::TlsClientOptions tls;            // https: the CA to trust, a client certificate
  bool once = false;                    // register, send one heartbeat, exit
  // Injected for tests; default std::this_thread::sleep_for (in slices, so `stop` is seen within 100 ms).
  std::function<void(std::chrono::milliseconds)> sleep;
  const std::atomic<bool>* stop = nullptr;
  std::ostream* log = nullptr;  // progress lines; nullptr: silent
};

struct NodeInfo {
  std::string name;
  int64_t cpu_milli = 0;
  int64_t memory = 0;
  std::vector<DiskUsage> disks;
  std::vector<GpuInfo> gpus;
  std::map<std::string, std::string> labels;
};

struct NodeUsage {
  int64_t cpu_milli = 0;
  int64_t memory = 0;
  int64_t disk = 0;
  int64_t gpu_milli = 0;  // sum of GPU utilisation: one device busy all the time = 1000
  std::vector<GpuInfo> gpus;
};

// Parses "k=v" into labels (keys and values as Kubernetes allows: [A-Za-z0-9._/-], values may be empty).
Status AddLabel(std::string_view text, std::map<std::string, std::string>* labels);
Result<NodeInfo> DiscoverNode(const AgentOptions& options);
nlohmann::ordered_json RegistrationBody(const NodeInfo& node);
nlohmann::ordered_json HeartbeatBody(const NodeUsage& usage);

// Runs the agent. Returns the process exit code: 0 after --once succeeded or a stop request, 1 when the
// server could not be reached or refused (with --once, or on a 4xx other than 404/409), 2 on bad input.
int RunAgent(const AgentOptions& options);

}  // namespace allot::host
