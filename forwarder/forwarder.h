#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/component.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "core/worker_pool.h"
#include "forwarder/compression.h"
#include "forwarder/endpoints.h"
#include "forwarder/retry_policy.h"
#include "forwarder/spool/spool.h"
#include "forwarder/transport/http_client.h"

namespace outpost {

// One intake payload as an encoder produced it (uncompressed).
struct Payload {
  IntakeKind intake = IntakeKind::kMetrics;
  std::string route;         // "/api/v2/series"
  std::string content_type;  // "application/x-protobuf"
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // per-intake extras
  // Metrics and traces may wait on disk while the intake is down; logs may not (they push back
  // instead, and the tailer re-reads from its registry after a restart).
  bool spoolable = true;
  // On 413 the forwarder asks the encoder for smaller payloads holding the same data; empty
  // (or no function): it cannot be split and is dropped.
  std::function<std::vector<Payload>()> split;
  std::optional<Encoding> encoding;  // default: the intake's configured compression
};

// What became of a payload at the primary endpoint.
struct AckResult {
  bool delivered = false;
  std::string reason;  // why it was dropped
};
using OnAck = std::function<void(const AckResult&)>;

// Every payload leaves the process here. Compresses on the worker pool, sends to each endpoint
// of the payload's intake (the primary and the additional_endpoints, independently: a slow or
// failing one never delays another), retries per RetryPolicy, keeps what waits within a memory
// budget per endpoint and spools the rest to disk (spoolable payloads), and calls on_ack once
// per payload when the primary endpoint delivered it or finally dropped it. Loop thread only.
class Forwarder : public Component {
 public:
  struct Options {
    Endpoints endpoints;
    HttpClient::Options http;
    RetryPolicy::Options retry;
    size_t workers_per_endpoint = 4;
    size_t logs_concurrency = 1;  // logs requests in flight per endpoint (order, few duplicates)
    uint64_t memory_budget_bytes = 15ull << 20;  // per endpoint
    std::string spool_dir;                       // empty: no disk spool
    uint64_t spool_max_bytes = 512ull << 20;     // per endpoint
    double spool_max_disk_ratio = 0.8;
    Encoding metrics_encoding = Encoding::kZstd;
    int metrics_level = 1;
    Encoding logs_encoding = Encoding::kZstd;
    int logs_level = 1;
    Encoding traces_encoding = Encoding::kGzip;
    int traces_level = 1;                      // the trace-agent writes gzip at its best speed
    uint64_t validate_interval_ms = 3600'000;  // API key check against /api/v1/validate; 0: off
  };
  static Options optionsFrom(const Config& config);

  Forwarder(uv_loop_t* loop, WorkerPool& workers, Telemetry& telemetry, Options options);
  ~Forwarder() override;

  enum class SubmitResult { kAccepted, kQueueFull, kStopped };
  // kQueueFull: the primary endpoint's queue is over budget for a payload that cannot spool, or
  // the worker pool is full; `payload` is left untouched for the caller to try again later
  // (push-back). It is consumed only when kAccepted.
  SubmitResult submit(Payload&& payload, OnAck on_ack = nullptr);

  struct EndpointStatus {
    std::string name;
    std::string url;
    bool primary;
    uint64_t delivered = 0;
    uint64_t retries = 0;
    uint64_t dropped = 0;
    uint64_t bytes_sent = 0;
    size_t queued = 0;
    uint64_t queued_bytes = 0;
    uint64_t spool_bytes = 0;
    size_t spool_records = 0;
    std::string last_error;
    double last_latency_ms = 0;
    bool api_key_invalid = false;
  };
  std::vector<EndpointStatus> status() const;
  // Per endpoint: the payloads waiting in memory against memory_budget_bytes, and the spool on
  // disk against spool_max_bytes.
  void resources(Resources& out) const override;

  std::string_view name() const override { return "forwarder"; }
  bool start() override;
  // Stops sending; spoolable payloads still queued in memory are written to the spool so they
  // are sent after a restart; others are dropped (acked with reason "shutdown").
  void stop(std::function<void()> done) override;
  // SIGHUP: API keys and URLs of existing endpoints change at once (a rotated key needs no
  // restart); adding or removing endpoints and the other forwarder settings need a restart.
  void reconfigure(const LoadedConfig& config) override;

  struct EndpointQueue;
  struct Prepared;
  struct Item;

 private:
  void enqueue(EndpointQueue& q, std::shared_ptr<Prepared> p, std::shared_ptr<struct AckState> ack,
               bool front);
  void release(EndpointQueue& q, Item& item);
  void splitAndResend(EndpointQueue& q, Item item);
  void pump(EndpointQueue& q);
  // Requests in flight at most on q (logs: one at a time, so lines stay in order).
  size_t concurrencyOf(const EndpointQueue& q) const;
  void sendOne(EndpointQueue& q);
  void onResult(EndpointQueue& q, Item item, HttpResult result);
  void resolve(EndpointQueue& q, Item& item, bool delivered, const std::string& reason);
  void loadFromSpool(EndpointQueue& q);
  void spoolItem(EndpointQueue& q, Item item);
  void validateApiKey();
  void checkStopped();
  // Shutdown: what an endpoint holds goes to its spool if it can, else it is dropped ("shutdown").
  void drainForStop(EndpointQueue& q);
  // After work for `q` finished on another thread: pump it, or after stop() drain it.
  void resume(EndpointQueue& q);

  uv_loop_t* loop_;
  WorkerPool& workers_;
  Telemetry& telemetry_;
  Options options_;
  RetryPolicy retry_;
  uint64_t next_id_;
  HttpClient http_;
  std::unique_ptr<WorkerPool> spool_io_;  // one thread: spool file I/O, in order
  std::vector<std::unique_ptr<EndpointQueue>> queues_;
  std::unique_ptr<Timer> validate_timer_;
  // Per intake kind: submit order numbers, and compressed payloads waiting for their turn.
  uint64_t next_submit_seq_[3] = {0, 0, 0};
  uint64_t next_enqueue_seq_[3] = {0, 0, 0};
  std::map<uint64_t, std::function<void()>> in_order_[3];
  uint64_t compressing_bytes_ = 0;
  size_t compressing_jobs_ = 0;  // stop() waits for them
  bool stopping_ = false;
  std::function<void()> stop_done_;
  Counter& submitted_;
  Counter& refused_;
};

}  // namespace outpost
