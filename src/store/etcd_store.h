// The etcd-backed Store (the scale-out path): the same interface as SQLite, over etcd v3's JSON gateway.
//
// Layout under `prefix` (default "/allot"): a table's record KEY lives at PREFIX/<table>/KEY (tables as in
// TableName: nodes, tenants, reservations, allocations, idempotency, meta, history); the audit events of one
// transaction share one key, PREFIX/events/<its first SEQ as 20 zero-padded digits>, whose JSON value is
// the event (one) or an array of them (numbered on from that SEQ), so key order is sequence order and an
// allocation costs one key per transaction rather than one per event.
// Commits: a committer thread turns queued batches into etcd transactions (group commit). One batch never
// spans two transactions, so it is atomic; a transaction holds as many whole batches, in order, as fit in
// `max_txn_ops` distinct keys and `max_txn_bytes` (etcd rejects duplicate keys in a txn, so a later write to
// a key replaces an earlier one of the same transaction: the outcome is the same). Transactions are sent
// one after another, so batches become durable in Commit order.
// Fencing: with `fence_key` set, every transaction compares fence_key == fence_value (the leader key and
// this replica's campaign value, see leader.h): once another replica holds the leadership, this store's
// writes fail and it refuses every later Commit, so a deposed leader can never overwrite the new one.
// Load() reads each prefix in pages of `page_size` at one revision (a consistent snapshot).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "allot/store.h"

namespace allot {

struct EtcdStoreOptions {
  std::vector<std::string> endpoints;   // http://HOST:PORT of etcd members (clients fail over between them)
  std::string prefix = "/allot";        // every key lives under it; no trailing '/'
  std::string fence_key, fence_value;   // see the header comment; empty: no fencing
  size_t max_txn_ops = 128;             // etcd's --max-txn-ops default
  size_t max_txn_bytes = 1 << 20;       // encoded request size; etcd's --max-request-bytes default is 1.5 MiB
  size_t page_size = 1000;              // keys per range request in Load/Events/PruneEvents
  int64_t request_timeout_ms = 5000;    // one HTTP exchange with etcd
  int64_t retry_ms = 10'000;            // a transaction etcd did not answer is retried this long, then fails
  std::function<bool()> keep_trying;    // if set and false, stop retrying at once (e.g. leadership lost)
};

// Connects to etcd (checks that an endpoint answers) and reads the last event sequence number.
// Errors name the endpoint.
Result<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options);


}  // namespace allot
