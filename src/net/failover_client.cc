// FailoverClient: the server list, redirect following and the retry policy over HttpClient (see
// include/allot/http.h).
#include <chrono>
#include <thread>

#include "allot/http.h"

namespace allot::net {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// "http://host:port/prefix" -> ("http://host:port", "/prefix"); false when it is not such a URL.
bool SplitUrl(const std::string& url, std::string* base, std::string* rest) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos || scheme == 0) return false;
  size_t slash = url.find('/', scheme + 3);
  if (slash == scheme + 3) return false;
  *base = url.substr(0, slash);
  *rest = slash == std::string::npos ? "" : url.substr(slash);
  return true;
}

// Nothing reached the server: the request may go anywhere else, whatever it is.
bool NotSent(const Error& e) {
  return e.message.rfind("cannot connect to", 0) == 0 || e.message.rfind("cannot resolve", 0) == 0;
}

// A 503 from a replica that cannot serve now (not a deliberate answer such as a degradation refusal).
bool Unavailable(const ClientResponse& r) {
  return r.status == 503 && r.body.find("\"code\":\"unavailable\"") != std::string::npos;
}

}  // namespace

Result<FailoverClient> FailoverClient::Create(const std::string& servers, const FailoverOptions& options) {
  FailoverClient c;
  c.opt_ = options;
  size_t pos = 0;
  while (pos <= servers.size()) {
    size_t comma = servers.find(',', pos);
    if (comma == std::string::npos) comma = servers.size();
    std::string url = servers.substr(pos, comma - pos);
    pos = comma + 1;
    while (!url.empty() && url.front() == ' ') url.erase(0, 1);
    while (!url.empty() && (url.back() == ' ' || url.back() == '/')) url.pop_back();
    if (url.empty()) continue;
    if (url.find("://") == std::string::npos) url = "http://" + url;
    std::string base, prefix;
    if (!SplitUrl(url, &base, &prefix))
      return InvalidArgument("server \"" + url + "\": expected http://HOST:PORT or https://HOST:PORT");
    // The same checks HttpClient makes, at once, so that a bad entry is named before anything is sent.
    if (auto h = HttpClient::Create(base, c.opt_.timeout_ms, c.opt_.tls); !h.ok()) return h.error();
    c.urls_.push_back(url);
    c.bases_.push_back(base);
    c.prefixes_.push_back(prefix);
  }
  if (c.urls_.empty())
    return InvalidArgument("server \"" + servers + "\": expected one or more URLs, comma-separated");
  return c;
}

Result<HttpClient*> FailoverClient::ClientOf(const std::string& base) {
  for (auto& [b, client] : clients_) {
    if (b == base) return client.get();
  }
  auto h = HttpClient::Create(base, opt_.timeout_ms, opt_.tls);
  if (!h.ok()) return h.error();
  clients_.emplace_back(base, std::make_unique<HttpClient>(std::move(h.value())));
  return clients_.back().second.get();
}

Result<ClientResponse> FailoverClient::SendFollowing(
    std::string base, std::string target, const std::string& method, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers, std::string* where) {
  for (int redirects = 0;; redirects++) {
    *where = base;
    auto client = ClientOf(base);
    if (!client.ok()) return client.error();
    auto r = (*client)->Request(method, target, body, headers);
    if (!r.ok() || (r->status != 307 && r->status != 308)) return r;
    std::string location = r->headers["location"];
    if (location.empty()) return r;
    if (redirects >= opt_.max_redirects) {
      return Error{ErrorCode::kUnavailable, "more than " + std::to_string(opt_.max_redirects) +
                                                " redirects (the last from " + base + " to " + location +
                                                ")"};
    }
    trail_.push_back(base + ": HTTP " + std::to_string(r->status) + " to " + location);
    if (location[0] == '/') {
      target = location;
    } else if (!SplitUrl(location, &base, &target)) {
      return Error{ErrorCode::kUnavailable, base + " redirected to \"" + location + "\", which is not a URL"};
    }
    if (target.empty()) target = "/";
  }
}

Result<ClientResponse> FailoverClient::Request(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers, bool idempotent) {
  trail_.clear();
  const int64_t deadline = NowMs() + opt_.retry_for_ms;
  int64_t backoff = opt_.backoff_ms;
  size_t failed_in_row = 0;
  int refused_rounds = 0;
  bool all_refused = true;  // in this round, every replica refused the connection
  for (;;) {
    std::string where;
    auto r = SendFollowing(bases_[current_], prefixes_[current_] + target, method, body, headers, &where);
    bool again = false;
    if (!r.ok()) {
      again = idempotent || NotSent(r.error());
      all_refused = all_refused && NotSent(r.error());
      trail_.push_back(where + ": " + r.error().message);
    } else if (idempotent && Unavailable(*r)) {
      all_refused = false;
      again = true;
      trail_.push_back(where + ": HTTP 503 (not ready)");
    }
    if (!again || NowMs() >= deadline) {
      if (r.ok()) {
        answered_by_ = where;
        // Stay with the replica that answered (a redirect's target included, when it is listed).
        for (size_t i = 0; i < bases_.size(); i++) {
          if (bases_[i] == where) current_ = i;
        }
      }
      return r;
    }
    current_ = (current_ + 1) % bases_.size();
    if (++failed_in_row % bases_.size() == 0) {
      // Nothing listens anywhere, round after round: no replica runs (rather than one taking over).
      if (all_refused && ++refused_rounds >= opt_.refused_rounds) return r;
      all_refused = true;
      // Every replica failed once in a row: wait a little before the next round.
      int64_t pause = std::min(backoff, deadline - NowMs());
      if (pause > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause));
      backoff = std::min(backoff * 2, opt_.max_backoff_ms);
    }
  }
}

}  // namespace allot::net
