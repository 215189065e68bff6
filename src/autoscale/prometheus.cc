// The Prometheus range queries of `allot recommend --prometheus`, over allot's HTTP client (loopback only).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "allot/autoscale.h"
#include "allot/http.h"

namespace allot::autoscale {
namespace {

struct Url {
  std::string host;
  int port = 80;
  std::string path = "/";
};

Result<Url> ParseUrl(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return InvalidArgument("URL must start with http:// (got \"" + url + "\")");
  std::string rest = url.substr(scheme.size());
  Url u;
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) u.path = rest.substr(slash);
  if (!hostport.empty() && hostport[0] == '[') {  // [::1]:9090
    size_t close = hostport.find(']');
    if (close == std::string::npos) return InvalidArgument("bad IPv6 host in \"" + url + "\"");
    u.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':') hostport = hostport.substr(close + 2);
    else hostport.clear();
  } else {
    size_t colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    hostport = colon == std::string::npos ? "" : hostport.substr(colon + 1);
  }
  if (!hostport.empty()) {
    try {
      size_t pos = 0;
      u.port = std::stoi(hostport, &pos);
      if (pos != hostport.size() || u.port <= 0 || u.port > 65535) throw std::out_of_range("port");
    } catch (const std::exception&) {
      return InvalidArgument("bad port in \"" + url + "\"");
    }
  }
  if (u.host.empty()) return InvalidArgument("no host in \"" + url + "\"");
  return u;
}

bool IsLoopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

std::string UrlEncode(const std::string& s) {
  std::ostringstream o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') o << c;
    else o << '%' << std::uppercase << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(c) << std::dec;
  }
  return o.str();
}

}  // namespace

Result<HttpResponse> HttpGet(const std::string& url, int timeout_ms) {
  auto u = ParseUrl(url);
  if (!u.ok()) return u.error();
  // Refuse anything but loopback before connecting: the tool only queries a local Prometheus.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(u->host.c_str(), std::to_string(u->port).c_str(), &hints, &res);
  if (rc != 0) return InvalidArgument(u->host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (!IsLoopback(ai->ai_addr)) {
      return InvalidArgument(url + ": only loopback addresses are allowed (" + u->host + " is not loopback)");
    }
  }
  std::string host = u->host.find(':') != std::string::npos ? "[" + u->host + "]" : u->host;
  auto client = net::HttpClient::Create("http://" + host + ":" + std::to_string(u->port), timeout_ms);
  if (!client.ok()) return client.error();
  auto r = client->Request("GET", u->path, "", {{"Accept", "application/json"}});
  if (!r.ok()) return Error{r.error().code, url + ": " + r.error().message};
  return HttpResponse{r->status, std::move(r->body)};
}

std::string WorkloadFromPodName(const std::string& pod) {
  // Deployment pods: <name>-<replicaset hash>-<5 chars>; StatefulSet pods: <name>-<ordinal>;
  // DaemonSet / Job pods: <name>-<5 chars>.
  static const std::regex kDeployment("^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$");
  static const std::regex kOrdinal("^(.+)-[0-9]+$");
  static const std::regex kSuffix("^(.+)-[a-z0-9]{5}$");
  std::smatch m;
  if (std::regex_match(pod, m, kDeployment)) return m[1];
  if (std::regex_match(pod, m, kOrdinal)) return m[1];
  if (std::regex_match(pod, m, kSuffix)) return m[1];
  return pod;
}

Result<std::vector<UsageSample>> FetchPrometheusSamples(const PrometheusQuery& q) {
  if (!(q.step > 0) || !(q.end >= q.start)) return InvalidArgument("prometheus: need step > 0 and end >= start");
  std::string base = q.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string selector = "{container!=\"\",container!=\"POD\"}";
  std::string cpu_q = "sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total" + selector + "[" +
                      q.rate_window + "]))";
  std::string mem_q = "sum by (namespace, pod, container) (container_memory_working_set_bytes" + selector + ")";
  struct Key {
    std::string ns, pod, container;
    double t;
    bool operator<(const Key& o) const { return std::tie(ns, pod, container, t) < std::tie(o.ns, o.pod, o.container, o.t); }
  };
  std::map<Key, std::pair<std::optional<double>, std::optional<double>>> merged;
  for (int which = 0; which < 2; which++) {
    std::ostringstream path;
    path.precision(17);
    path << base << "/api/v1/query_range?query=" << UrlEncode(which == 0 ? cpu_q : mem_q) << "&start=" << q.start
         << "&end=" << q.end << "&step=" << q.step;
    auto resp = HttpGet(path.str(), q.timeout_ms);
    if (!resp.ok()) return resp.error();
    if (resp->status != 200)
      return Error{ErrorCode::kUnavailable, "prometheus: HTTP " + std::to_string(resp->status) + ": " + resp->body.substr(0, 300)};
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(resp->body);
      if (j.value("status", "") != "success") return Error{ErrorCode::kUnavailable, "prometheus: " + resp->body.substr(0, 300)};
      for (const auto& series : j.at("data").at("result")) {
        const auto& m = series.at("metric");
        std::string ns = m.value("namespace", "default"), pod = m.value("pod", ""), container = m.value("container", "");
        if (pod.empty() || container.empty()) continue;
        for (const auto& v : series.at("values")) {
          double t = v.at(0).get<double>();
          double val = std::stod(v.at(1).get<std::string>());
          if (!std::isfinite(val)) continue;
          auto& slot = merged[{ns, pod, container, t}];
          (which == 0 ? slot.first : slot.second) = val;
        }
      }
    } catch (const std::exception& e) {
      return Error{ErrorCode::kUnavailable, std::string("prometheus: unexpected response: ") + e.what()};
    }
  }
  std::vector<UsageSample> out;
  for (const auto& [k, v] : merged) {
    if (!v.first && !v.second) continue;
    UsageSample s;
    s.time = k.t;
    s.ns = k.ns;
    s.workload = WorkloadFromPodName(k.pod);
    s.container = k.container;
    s.cpu_milli = v.first ? static_cast<int64_t>(std::ceil(*v.first * 1000.0 - 1e-9)) : 0;
    s.memory_bytes = v.second ? static_cast<int64_t>(std::ceil(*v.second)) : 0;
    out.push_back(s);
  }
  return out;
}

}  // namespace allot::autoscale
