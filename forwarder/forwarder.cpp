#include "forwarder/forwarder.h"

#include <charconv>
#include <chrono>
#include <filesystem>

#include "core/log.h"
#include "core/strings.h"
#include "core/version.h"

namespace outpost {
namespace {

constexpr uint64_t kLogEveryMs = 60'000;  // a repeated error is logged at most once a minute

int64_t unixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sanitize(std::string_view name) {
  std::string out;
  for (char c : name) {
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  }
  return out;
}

Encoding encodingFromConfig(const std::string& kind) {
  return parseEncoding(kind).value_or(Encoding::kZstd);
}

}  // namespace

// A compressed payload, shared by every endpoint it goes to.
struct Forwarder::Prepared {
  IntakeKind intake;
  std::string route;
  std::string content_type;
  Encoding encoding;
  std::shared_ptr<const std::string> body;
  size_t raw_size = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  bool spoolable = true;
  std::function<std::vector<Payload>()> split;
  int64_t created_unix_ms = 0;
  // What it holds in memory: the compressed body and, while it can still be split on a 413,
  // the encoded data its split function keeps (about the uncompressed size). Counting only the
  // body let an outage hold several times the budget (found by the chaos suite).
  uint64_t memoryCost() const { return body->size() + (split ? raw_size : 0); }
};

// Acknowledgement of one submitted payload at the primary endpoint; a 413 split adds parts.
struct AckState {
  OnAck on_ack;
  int pending = 1;
  bool dropped = false;
  std::string reason;
};

struct Forwarder::Item {
  std::shared_ptr<Prepared> p;
  std::shared_ptr<AckState> ack;  // primary endpoint only
  uint32_t attempts = 0;
  bool from_spool = false;  // still on disk: popped from the spool once resolved
  uint64_t spool_id = 0;    // the record's id when from_spool
};

struct Forwarder::EndpointQueue {
  Endpoint endpoint;
  std::deque<Item> queue;     // oldest first
  uint64_t memory_bytes = 0;  // queued + in flight + waiting for the spool writer
  uint64_t largest_cost = 0;  // the largest payload enqueued (how far past the budget it may go)
  size_t in_flight = 0;
  std::map<uint64_t, std::shared_ptr<Item>> requests;  // in flight, by http request id
  uint64_t blocked_until = 0;                          // loop ms
  uint32_t consecutive_failures = 0;
  std::unique_ptr<Timer> retry_timer;
  std::unique_ptr<Spool> spool;  // null: no disk spool (or not opened yet)
  bool spool_opening = false;
  size_t spool_records = 0;  // on disk, not popped (as the writer last reported)
  size_t spool_pending_writes = 0;
  bool spool_item_out = false;  // a spooled record is loaded in memory
  // Acknowledgements of spooled primary payloads, by record id, while this process lives.
  std::map<uint64_t, std::shared_ptr<AckState>> spooled_acks;
  std::string last_error;
  double last_latency_ms = 0;
  bool api_key_invalid = false;
  std::map<std::string, uint64_t> last_logged;  // reason -> loop ms
  Counter* delivered;
  Counter* retries;
  Counter* bytes_sent;
  Counter* bytes_raw;
  Gauge* queued_bytes;
  Gauge* queued_payloads;
  Gauge* latency_ms;
  Gauge* key_invalid;
  Telemetry* telemetry;
  Counter& drops(const std::string& reason) {
    return telemetry->counter("outpost.forwarder.dropped",
                              {"endpoint:" + endpoint.name, "reason:" + reason},
                              "payloads dropped, by reason");
  }
};

Forwarder::Options Forwarder::optionsFrom(const Config& c) {
  Options o;
  o.endpoints = resolveEndpoints(c);
  o.http.timeout_ms = c.forwarder_timeout * 1000;
  o.http.verify_tls = !c.skip_ssl_validation;
  o.http.proxy_http = c.proxy.http;
  o.http.proxy_https = c.proxy.https;
  o.http.no_proxy = c.proxy.no_proxy;
  o.http.max_host_connections = static_cast<long>(c.forwarder_num_workers);
  o.retry = RetryPolicy::Options{c.forwarder_backoff_base, c.forwarder_backoff_factor,
                                 c.forwarder_backoff_max};
  o.workers_per_endpoint = static_cast<size_t>(c.forwarder_num_workers);
  o.memory_budget_bytes = static_cast<uint64_t>(c.forwarder_retry_queue_payloads_max_size);
  if (c.forwarder_storage_max_size_in_bytes > 0) {
    o.spool_dir = c.forwarder_storage_path;
    o.spool_max_bytes = static_cast<uint64_t>(c.forwarder_storage_max_size_in_bytes);
  }
  o.spool_max_disk_ratio = c.forwarder_storage_max_disk_ratio;
  o.metrics_encoding = encodingFromConfig(c.serializer_compressor_kind);
  o.metrics_level = o.metrics_encoding == Encoding::kZstd
                        ? static_cast<int>(c.serializer_zstd_compressor_level)
                        : 6;
  if (!c.logs_config.use_compression) {
    o.logs_encoding = Encoding::kIdentity;
  } else {
    o.logs_encoding = encodingFromConfig(c.logs_config.compression_kind);
    o.logs_level = o.logs_encoding == Encoding::kZstd
                       ? static_cast<int>(c.logs_config.zstd_compression_level)
                       : static_cast<int>(c.logs_config.compression_level);
  }
  return o;
}

Forwarder::Forwarder(uv_loop_t* loop, WorkerPool& workers, Telemetry& telemetry, Options options)
    : loop_(loop),
      workers_(workers),
      telemetry_(telemetry),
      options_(std::move(options)),
      retry_(options_.retry),
      // Spool record ids stay unique across restarts: this run's ids start at its start time.
      next_id_(static_cast<uint64_t>(unixMs()) << 20),
      http_(loop, options_.http),
      submitted_(telemetry.counter("outpost.forwarder.submitted", {}, "payloads submitted")),
      refused_(telemetry.counter("outpost.forwarder.refused", {},
                                 "payloads refused with queue full (caller pushes back)")) {
  for (IntakeKind kind : {IntakeKind::kMetrics, IntakeKind::kLogs, IntakeKind::kTraces}) {
    for (const Endpoint& e : options_.endpoints.of(kind)) {
      auto q = std::make_unique<EndpointQueue>();
      q->endpoint = e;
      q->telemetry = &telemetry_;
      const std::vector<std::string> tag{"endpoint:" + e.name};
      auto tagged = [&](std::string extra) {
        auto t = tag;
        t.push_back(std::move(extra));
        return t;
      };
      q->delivered = &telemetry_.counter("outpost.forwarder.payloads", tagged("outcome:delivered"),
                                         "payloads delivered (2xx)");
      q->retries = &telemetry_.counter("outpost.forwarder.payloads", tagged("outcome:retried"),
                                       "attempts that will be retried");
      q->bytes_sent =
          &telemetry_.counter("outpost.forwarder.bytes_sent", tag, "compressed bytes delivered");
      q->bytes_raw =
          &telemetry_.counter("outpost.forwarder.bytes_raw", tag, "uncompressed bytes delivered");
      q->queued_bytes = &telemetry_.gauge("outpost.forwarder.queue_bytes", tag,
                                          "bytes waiting in memory (budget per endpoint)");
      q->queued_payloads = &telemetry_.gauge("outpost.forwarder.queue_payloads", tag);
      q->latency_ms =
          &telemetry_.gauge("outpost.forwarder.latency_ms", tag, "duration of the last request");
      q->key_invalid = &telemetry_.gauge("outpost.forwarder.api_key_invalid", tag,
                                         "1 when the intake answered 403");
      EndpointQueue* raw = q.get();
      q->retry_timer = std::make_unique<Timer>(loop_, [this, raw] { pump(*raw); });
      queues_.push_back(std::move(q));
    }
  }
  if (!options_.spool_dir.empty()) {
    spool_io_ = std::make_unique<WorkerPool>(loop_, 1, 1 << 16, telemetry_);
  }
}

Forwarder::~Forwarder() = default;

bool Forwarder::start() {
  if (!options_.http.verify_tls) {
    LOG_WARN("forwarder",
             "skip_ssl_validation is on: intake TLS certificates are NOT verified; anyone on the "
             "path can read and alter what is sent, API key included");
  }
  for (auto& q : queues_) {
    LOG_INFO("forwarder", "endpoint {}: {}{}", q->endpoint.name, q->endpoint.base_url,
             q->endpoint.primary ? " (primary)" : "");
    if (spool_io_) {
      EndpointQueue* raw = q.get();
      raw->spool_opening = true;
      Spool::Options so;
      so.dir = options_.spool_dir + "/" + sanitize(q->endpoint.name);
      so.max_bytes = options_.spool_max_bytes;
      so.max_disk_ratio = options_.spool_max_disk_ratio;
      so.name = q->endpoint.name;
      auto result = std::make_shared<std::pair<std::unique_ptr<Spool>, std::string>>();
      spool_io_->submit(
          [result, so, this] {
            result->first = Spool::open(so, telemetry_, &result->second);
            result->second += "";
          },
          [this, raw, result, dir = so.dir] {
            raw->spool_opening = false;
            if (!result->first) {
              LOG_ERROR("forwarder", "endpoint {}: disk spool disabled: {}", raw->endpoint.name,
                        result->second);
            } else {
              raw->spool = std::move(result->first);
              raw->spool_records = raw->spool->records();
              if (raw->spool_records > 0) {
                LOG_INFO("forwarder", "endpoint {}: {} payload{} spooled before the restart in {}",
                         raw->endpoint.name, raw->spool_records, raw->spool_records == 1 ? "" : "s",
                         dir);
              }
            }
            resume(*raw);  // after stop(): what waited for the spool goes on disk now
          });
    }
  }
  if (options_.validate_interval_ms > 0) {
    validate_timer_ = std::make_unique<Timer>(loop_, [this] { validateApiKey(); });
    validate_timer_->start(0, options_.validate_interval_ms);
    validate_timer_->unref();
  }
  return true;
}

void Forwarder::validateApiKey() {
  for (auto& q : queues_) {
    if (q->endpoint.kind != IntakeKind::kMetrics) {
      continue;
    }
    OutgoingRequest req;
    req.method = "GET";
    req.url = q->endpoint.base_url + "/api/v1/validate";
    req.headers = {"DD-API-KEY: " + q->endpoint.api_key};
    EndpointQueue* raw = q.get();
    http_.send(std::move(req), [raw](HttpResult r) {
      if (r.status == 403) {
        raw->api_key_invalid = true;
        raw->key_invalid->set(1);
        LOG_ERROR("forwarder",
                  "endpoint {}: the intake rejects the API key (403 on /api/v1/validate): "
                  "nothing sent there will be accepted; fix api_key",
                  raw->endpoint.name);
      } else if (r.status >= 200 && r.status < 300) {
        raw->api_key_invalid = false;
        raw->key_invalid->set(0);
        LOG_DEBUG("forwarder", "endpoint {}: API key valid", raw->endpoint.name);
      } else {
        LOG_DEBUG("forwarder", "endpoint {}: API key check inconclusive ({}{})", raw->endpoint.name,
                  r.status, r.transport_error);
      }
    });
  }
}

Forwarder::SubmitResult Forwarder::submit(Payload&& payload, OnAck on_ack) {
  if (stopping_) {
    return SubmitResult::kStopped;
  }
  EndpointQueue* primary = nullptr;
  for (auto& q : queues_) {
    if (q->endpoint.kind == payload.intake && q->endpoint.primary) {
      primary = q.get();
    }
  }
  if (primary == nullptr) {
    return SubmitResult::kStopped;
  }
  // A spool that failed to open is no place to wait: then the memory budget holds for all.
  const bool can_wait_on_disk =
      payload.spoolable && (primary->spool != nullptr || primary->spool_opening);
  if (!can_wait_on_disk &&
      (primary->memory_bytes + compressing_bytes_ >= options_.memory_budget_bytes)) {
    refused_.inc();
    return SubmitResult::kQueueFull;
  }
  Encoding encoding =
      payload.encoding.value_or(payload.intake == IntakeKind::kMetrics ? options_.metrics_encoding
                                : payload.intake == IntakeKind::kLogs  ? options_.logs_encoding
                                                                       : options_.traces_encoding);
  const int level = payload.intake == IntakeKind::kMetrics ? options_.metrics_level
                    : payload.intake == IntakeKind::kLogs  ? options_.logs_level
                                                           : options_.traces_level;
  // Small fields are copied; the body and split move only once the pool has taken the job.
  auto prepared = std::make_shared<Prepared>();
  prepared->intake = payload.intake;
  prepared->route = payload.route;
  prepared->content_type = payload.content_type;
  prepared->encoding = encoding;
  prepared->raw_size = payload.body.size();
  prepared->headers = payload.headers;
  prepared->spoolable = payload.spoolable;
  prepared->created_unix_ms = unixMs();
  auto ack = std::make_shared<AckState>();
  ack->on_ack = std::move(on_ack);
  auto raw = std::make_shared<std::string>(std::move(payload.body));
  auto compressed = std::make_shared<std::string>();
  auto error = std::make_shared<std::string>();
  const uint64_t size = raw->size();
  compressing_bytes_ += size;
  ++compressing_jobs_;
  // Payloads of one intake reach the endpoint queues in the order they were submitted, even
  // though they compress in parallel (logs lines stay in order).
  const size_t kind = static_cast<size_t>(payload.intake);
  const uint64_t seq = next_submit_seq_[kind]++;
  const bool queued = workers_.submit(
      [raw, compressed, error, encoding, level] {
        if (!compress(encoding, level, *raw, *compressed, error.get())) {
          compressed->clear();
        }
      },
      [this, prepared, ack, raw, compressed, error, size, kind, seq] {
        compressing_bytes_ -= size;
        --compressing_jobs_;
        in_order_[kind][seq] = [this, prepared, ack, compressed, error] {
          if (!error->empty()) {
            LOG_ERROR("forwarder", "compression failed, payload dropped: {}", *error);
            if (ack->on_ack) {
              ack->on_ack(AckResult{false, "compression_error"});
            }
            return;
          }
          prepared->body = compressed;
          for (auto& q : queues_) {
            if (q->endpoint.kind == prepared->intake) {
              enqueue(*q, prepared, q->endpoint.primary ? ack : nullptr, false);
            }
          }
        };
        auto& waiting = in_order_[kind];
        while (!waiting.empty() && waiting.begin()->first == next_enqueue_seq_[kind]) {
          auto action = std::move(waiting.begin()->second);
          waiting.erase(waiting.begin());
          ++next_enqueue_seq_[kind];
          action();
        }
        for (auto& q : queues_) {
          if (stopping_) {
            drainForStop(*q);  // finished after stop(): to the spool, or dropped and acked
          } else {
            pump(*q);
          }
        }
        checkStopped();
      });
  if (!queued) {
    --next_submit_seq_[kind];  // nothing was submitted since: the number is free again
    compressing_bytes_ -= size;
    --compressing_jobs_;
    payload.body = std::move(*raw);
    refused_.inc();
    return SubmitResult::kQueueFull;
  }
  prepared->split = std::move(payload.split);
  submitted_.inc();
  return SubmitResult::kAccepted;
}

void Forwarder::enqueue(EndpointQueue& q, std::shared_ptr<Prepared> p,
                        std::shared_ptr<AckState> ack, bool front) {
  const uint64_t size = p->memoryCost();
  Item item{std::move(p), std::move(ack), 0, false, 0};
  if (front) {
    q.queue.push_front(std::move(item));
  } else {
    q.queue.push_back(std::move(item));
  }
  q.memory_bytes += size;
  q.largest_cost = std::max(q.largest_cost, size);
  q.queued_bytes->set(static_cast<int64_t>(q.memory_bytes));
  q.queued_payloads->set(static_cast<int64_t>(q.queue.size()));
}

void Forwarder::pump(EndpointQueue& q) {
  if (stopping_) {
    return;
  }
  // While the endpoint is failing, spoolable payloads wait on disk rather than in memory.
  if (q.consecutive_failures > 0 && q.spool) {
    std::deque<Item> keep;
    for (auto& item : q.queue) {
      // A record loaded from the spool stays: it is the next attempt.
      if (item.p->spoolable && !item.from_spool) {
        spoolItem(q, std::move(item));
      } else {
        keep.push_back(std::move(item));
      }
    }
    q.queue.swap(keep);
    q.queued_payloads->set(static_cast<int64_t>(q.queue.size()));
  }
  // Over budget: the newest spoolable payloads wait on disk, the rest are dropped oldest-first
  // (only non-primary endpoints get here for unspoolable payloads: submit() pushes back first).
  while (q.memory_bytes > options_.memory_budget_bytes && q.queue.size() > 1) {
    Item& newest = q.queue.back();
    const bool to_disk = newest.p->spoolable && q.spool;
    if (!to_disk && q.endpoint.primary) {
      break;  // admitted by submit(), which pushes back before the primary overflows
    }
    Item victim = std::move(newest);
    q.queue.pop_back();
    q.queued_payloads->set(static_cast<int64_t>(q.queue.size()));
    if (to_disk) {
      spoolItem(q, std::move(victim));
    } else {
      resolve(q, victim, false, "queue_full");
    }
  }
  const uint64_t now = uv_now(loop_);
  if (now < q.blocked_until) {
    q.retry_timer->start(q.blocked_until - now);
    return;
  }
  // Logs go one request at a time per endpoint (as the Agent's batch_max_concurrent_send 0):
  // lines stay in order and a restart re-sends at most the one batch in flight.
  const size_t concurrency = concurrencyOf(q);
  while (q.in_flight < concurrency && !q.queue.empty()) {
    sendOne(q);
  }
  if (q.queue.empty() && q.in_flight == 0) {
    loadFromSpool(q);
  }
}

void Forwarder::sendOne(EndpointQueue& q) {
  Item item = std::move(q.queue.front());
  q.queue.pop_front();
  q.queued_payloads->set(static_cast<int64_t>(q.queue.size()));
  ++q.in_flight;
  ++item.attempts;
  const Prepared& p = *item.p;
  OutgoingRequest req;
  req.url = q.endpoint.base_url + p.route;
  req.body = p.body;
  req.headers.push_back("DD-API-KEY: " + q.endpoint.api_key);
  req.headers.push_back("Content-Type: " + p.content_type);
  if (p.encoding != Encoding::kIdentity) {
    req.headers.push_back("Content-Encoding: " + std::string(encodingName(p.encoding)));
  }
  const std::string compat = kDatadogAgentCompatVersion;
  req.headers.push_back("DD-Agent-Version: " + compat);
  if (p.intake == IntakeKind::kTraces) {
    req.headers.push_back("User-Agent: Datadog Trace Agent/" + compat + "/outpost-" +
                          versionString());
  } else {
    req.headers.push_back("User-Agent: datadog-agent/" + compat + " (outpost " + versionString() +
                          ")");
  }
  if (p.intake == IntakeKind::kLogs) {
    req.headers.push_back("DD-PROTOCOL: agent-json");
    req.headers.push_back("DD-EVP-ORIGIN: agent");
    req.headers.push_back("DD-EVP-ORIGIN-VERSION: " + compat);
    req.headers.push_back("dd-current-timestamp: " + std::to_string(unixMs()));
  }
  for (const auto& [k, v] : p.headers) {
    req.headers.push_back(k + ": " + v);
  }
  auto holder = std::make_shared<Item>(std::move(item));
  EndpointQueue* raw = &q;
  auto id = std::make_shared<uint64_t>(0);
  *id = http_.send(std::move(req), [this, raw, holder, id](HttpResult r) {
    raw->requests.erase(*id);
    onResult(*raw, std::move(*holder), std::move(r));
  });
  q.requests[*id] = holder;
}

void Forwarder::onResult(EndpointQueue& q, Item item, HttpResult r) {
  --q.in_flight;
  q.last_latency_ms = r.seconds * 1000.0;
  q.latency_ms->set(static_cast<int64_t>(q.last_latency_ms));
  const RetryPolicy::Decision d = RetryPolicy::classify(r.status, r.transport_error);
  const uint64_t now = uv_now(loop_);
  switch (d.outcome) {
    case RetryPolicy::Outcome::kDelivered:
      q.consecutive_failures = 0;
      q.delivered->inc();
      q.bytes_sent->inc(item.p->body->size());
      q.bytes_raw->inc(item.p->raw_size);
      if (q.api_key_invalid) {
        q.api_key_invalid = false;
        q.key_invalid->set(0);
      }
      resolve(q, item, true, "");
      break;
    case RetryPolicy::Outcome::kRetry: {
      q.retries->inc();
      ++q.consecutive_failures;
      q.last_error = r.status != 0 ? fmt::format("HTTP {}", r.status)
                                   : fmt::format("{}: {}", r.transport_error, r.error_detail);
      auto retry_after =
          RetryPolicy::parseRetryAfter(r.retry_after, std::chrono::system_clock::now());
      const auto wait = retry_.backoff(q.consecutive_failures, retry_after);
      q.blocked_until = std::max(q.blocked_until, now + static_cast<uint64_t>(wait.count()));
      if (now >= q.last_logged[d.reason] + kLogEveryMs || q.last_logged[d.reason] == 0) {
        q.last_logged[d.reason] = now;
        LOG_WARN("forwarder", "endpoint {}: {} on {}; retrying in {} ms (attempt {})",
                 q.endpoint.name, q.last_error, item.p->route, wait.count(), item.attempts);
      }
      if (item.p->spoolable && q.spool) {
        // A failing endpoint keeps what it owes on disk, where a crash cannot take it.
        spoolItem(q, std::move(item));
      } else {
        q.queue.push_front(std::move(item));
        q.queued_payloads->set(static_cast<int64_t>(q.queue.size()));
      }
      break;
    }
    case RetryPolicy::Outcome::kSplit:
      splitAndResend(q, std::move(item));
      break;
    case RetryPolicy::Outcome::kDrop: {
      q.consecutive_failures = 0;
      if (d.reason == "invalid_api_key" && !q.api_key_invalid) {
        q.api_key_invalid = true;
        q.key_invalid->set(1);
        LOG_ERROR("forwarder",
                  "endpoint {}: 403 Forbidden: the API key is invalid; payloads "
                  "are dropped until it is fixed",
                  q.endpoint.name);
      }
      q.last_error = fmt::format("HTTP {}: {}", r.status, escapeBytes(trim(r.body), 200));
      if (now >= q.last_logged[d.reason] + kLogEveryMs || q.last_logged[d.reason] == 0) {
        q.last_logged[d.reason] = now;
        LOG_ERROR("forwarder", "endpoint {}: {} on {}, payload dropped: {}", q.endpoint.name,
                  d.reason, item.p->route, q.last_error);
      }
      resolve(q, item, false, d.reason);
      break;
    }
  }
  q.queued_bytes->set(static_cast<int64_t>(q.memory_bytes));
  pump(q);
  checkStopped();
}

void Forwarder::release(EndpointQueue& q, Item& item) {
  q.memory_bytes -= item.p->memoryCost();
  q.queued_bytes->set(static_cast<int64_t>(q.memory_bytes));
  if (item.from_spool) {
    q.spool_item_out = false;
    --q.spool_records;
    EndpointQueue* raw = &q;
    spool_io_->submit([raw] { raw->spool->pop(); });
  }
}

void Forwarder::resolve(EndpointQueue& q, Item& item, bool delivered, const std::string& reason) {
  release(q, item);
  if (!delivered) {
    q.drops(reason).inc();
  }
  if (item.ack) {
    if (!delivered) {
      item.ack->dropped = true;
      item.ack->reason = reason;
    }
    if (--item.ack->pending == 0 && item.ack->on_ack) {
      item.ack->on_ack(AckResult{!item.ack->dropped, item.ack->reason});
    }
  }
}

void Forwarder::splitAndResend(EndpointQueue& q, Item item) {
  std::vector<Payload> parts;
  if (item.p->split) {
    parts = item.p->split();
  }
  if (parts.empty()) {
    resolve(q, item, false, "too_large");
    return;
  }
  LOG_INFO("forwarder", "endpoint {}: 413 on {}: resending as {} smaller payloads", q.endpoint.name,
           item.p->route, parts.size());
  // The original is replaced by its parts: released without an acknowledgement of its own.
  auto ack = item.ack;
  if (ack) {
    ack->pending += static_cast<int>(parts.size()) - 1;
  }
  release(q, item);
  auto base = item.p;
  auto inputs = std::make_shared<std::vector<Payload>>(std::move(parts));
  auto outputs = std::make_shared<std::vector<std::string>>(inputs->size());
  const int level = base->intake == IntakeKind::kMetrics ? options_.metrics_level
                    : base->intake == IntakeKind::kLogs  ? options_.logs_level
                                                         : options_.traces_level;
  EndpointQueue* raw = &q;
  auto finish_part_failed = [](const std::shared_ptr<AckState>& a, const char* reason) {
    if (a) {
      a->dropped = true;
      a->reason = reason;
      if (--a->pending == 0 && a->on_ack) {
        a->on_ack(AckResult{false, a->reason});
      }
    }
  };
  ++compressing_jobs_;  // stop() waits for the parts too
  const bool queued = workers_.submit(
      [inputs, outputs, base, level] {
        for (size_t i = 0; i < inputs->size(); ++i) {
          std::string error;
          if (!compress(base->encoding, level, (*inputs)[i].body, (*outputs)[i], &error)) {
            (*outputs)[i].clear();
          }
        }
      },
      [this, raw, inputs, outputs, base, ack, finish_part_failed] {
        --compressing_jobs_;
        // In order, ahead of newer payloads, to this endpoint only.
        for (size_t i = inputs->size(); i-- > 0;) {
          if ((*outputs)[i].empty()) {
            finish_part_failed(ack, "compression_error");
            continue;
          }
          auto part = std::make_shared<Prepared>(*base);
          part->raw_size = (*inputs)[i].body.size();
          part->split = std::move((*inputs)[i].split);
          part->body = std::make_shared<const std::string>(std::move((*outputs)[i]));
          enqueue(*raw, part, ack, true);
        }
        resume(*raw);
      });
  if (!queued) {
    --compressing_jobs_;
    for (size_t i = 0; i < inputs->size(); ++i) {
      finish_part_failed(ack, "queue_full");
    }
  }
}

void Forwarder::spoolItem(EndpointQueue& q, Item item) {
  if (item.from_spool) {
    // Already on disk: forget the in-memory copy; it is loaded again when its turn comes.
    q.memory_bytes -= item.p->memoryCost();
    q.queued_bytes->set(static_cast<int64_t>(q.memory_bytes));
    q.spool_item_out = false;
    if (item.ack) {
      q.spooled_acks[item.spool_id] = item.ack;
    }
    return;
  }
  SpooledPayload sp;
  const Prepared& p = *item.p;
  sp.route = p.route;
  sp.content_type = p.content_type;
  sp.content_encoding = std::string(encodingName(p.encoding));
  sp.headers = p.headers;
  sp.headers.emplace_back("x-outpost-intake", std::string(intakeKindName(p.intake)));
  sp.headers.emplace_back("x-outpost-raw-size", std::to_string(p.raw_size));
  sp.body = *p.body;
  sp.created_unix_ms = p.created_unix_ms;
  sp.attempts = item.attempts;
  if (item.ack) {
    sp.id = next_id_++;
    q.spooled_acks[sp.id] = item.ack;
    // On a refused append resolve() acknowledges through the item: keep it there until then.
  }
  auto record = std::make_shared<SpooledPayload>(std::move(sp));
  auto result = std::make_shared<Spool::AppendResult>(Spool::AppendResult::kOk);
  auto held = std::make_shared<Item>(std::move(item));
  ++q.spool_pending_writes;
  EndpointQueue* raw = &q;
  const bool queued =
      spool_io_->submit([raw, record, result] { *result = raw->spool->append(*record); },
                        [this, raw, held, result, record] {
                          --raw->spool_pending_writes;
                          if (*result == Spool::AppendResult::kOk) {
                            raw->memory_bytes -= held->p->memoryCost();
                            raw->queued_bytes->set(static_cast<int64_t>(raw->memory_bytes));
                            ++raw->spool_records;
                            // The acknowledgement waits in spooled_acks for delivery from the
                            // spool; after a restart nobody is waiting for it.
                          } else {
                            raw->spooled_acks.erase(record->id);
                            resolve(*raw, *held, false, "spool_refused");
                          }
                          // Reading the spool waits for pending writes (to keep the order): the
                          // last write to finish restarts the endpoint.
                          if (stopping_) {
                            checkStopped();
                          } else {
                            pump(*raw);
                          }
                        });
  if (!queued) {
    --q.spool_pending_writes;
    q.spooled_acks.erase(record->id);
    resolve(q, *held, false, "spool_queue_full");
  }
}

void Forwarder::loadFromSpool(EndpointQueue& q) {
  if (!q.spool || q.spool_item_out || q.spool_records == 0 || q.spool_pending_writes > 0) {
    return;
  }
  q.spool_item_out = true;
  auto record = std::make_shared<std::optional<SpooledPayload>>();
  EndpointQueue* raw = &q;
  const bool queued = spool_io_->submit(
      [raw, record] { *record = raw->spool->front(); },
      [this, raw, record] {
        if (!record->has_value()) {
          raw->spool_item_out = false;
          raw->spool_records = 0;
          return;
        }
        SpooledPayload& sp = **record;
        auto p = std::make_shared<Prepared>();
        p->intake = IntakeKind::kMetrics;
        p->route = sp.route;
        p->content_type = sp.content_type;
        p->encoding = parseEncoding(sp.content_encoding).value_or(Encoding::kIdentity);
        for (auto& [k, v] : sp.headers) {
          if (k == "x-outpost-intake") {
            p->intake = v == "traces" ? IntakeKind::kTraces
                        : v == "logs" ? IntakeKind::kLogs
                                      : IntakeKind::kMetrics;
          } else if (k == "x-outpost-raw-size") {
            // Telemetry only; an unparsable value leaves 0.
            std::from_chars(v.data(), v.data() + v.size(), p->raw_size);
          } else {
            p->headers.emplace_back(k, v);
          }
        }
        p->body = std::make_shared<const std::string>(std::move(sp.body));
        p->created_unix_ms = sp.created_unix_ms;
        std::shared_ptr<AckState> ack;
        if (auto it = raw->spooled_acks.find(sp.id); it != raw->spooled_acks.end()) {
          ack = it->second;
          raw->spooled_acks.erase(it);
        }
        raw->queue.push_front(Item{p, ack, sp.attempts, true, sp.id});
        raw->memory_bytes += p->memoryCost();
        if (stopping_) {
          checkStopped();
          return;
        }
        pump(*raw);
      });
  if (!queued) {
    q.spool_item_out = false;  // tried again on the next pump
  }
}

std::vector<Forwarder::EndpointStatus> Forwarder::status() const {
  std::vector<EndpointStatus> out;
  for (const auto& q : queues_) {
    EndpointStatus s;
    s.name = q->endpoint.name;
    s.url = q->endpoint.base_url;
    s.primary = q->endpoint.primary;
    s.delivered = q->delivered->value();
    s.retries = q->retries->value();
    for (const auto& sample : telemetry_.snapshot()) {
      if (sample.name == "outpost.forwarder.dropped" &&
          std::find(sample.tags.begin(), sample.tags.end(), "endpoint:" + s.name) !=
              sample.tags.end()) {
        s.dropped += static_cast<uint64_t>(sample.value);
      }
    }
    s.bytes_sent = q->bytes_sent->value();
    s.queued = q->queue.size() + q->in_flight;
    s.queued_bytes = q->memory_bytes;
    s.spool_records = q->spool_records;
    s.spool_bytes = static_cast<uint64_t>(
        std::max<int64_t>(0, telemetry_.valueOf("outpost.spool.bytes", {"endpoint:" + s.name})));
    s.last_error = q->last_error;
    s.last_latency_ms = q->last_latency_ms;
    s.api_key_invalid = q->api_key_invalid;
    out.push_back(std::move(s));
  }
  return out;
}

size_t Forwarder::concurrencyOf(const EndpointQueue& q) const {
  return q.endpoint.kind == IntakeKind::kLogs ? std::max<size_t>(1, options_.logs_concurrency)
                                              : options_.workers_per_endpoint;
}

void Forwarder::resources(Resources& out) const {
  const bool spool = !options_.spool_dir.empty() && options_.spool_max_bytes > 0;
  for (const auto& qp : queues_) {
    const EndpointQueue& q = *qp;
    const std::string& name = q.endpoint.name;
    // Admission looks at the budget, but what is being sent (up to concurrencyOf(q) payloads)
    // and what waits for the spool's writer cannot go to disk meanwhile: past the budget by
    // that many payloads at most, plus the last one admitted.
    out.push_back({.name = fmt::format("forwarder.memory{{endpoint:{}}}", name),
                   .unit = "bytes",
                   .used = q.memory_bytes,
                   .limit = options_.memory_budget_bytes,
                   .key = "forwarder_retry_queue_payloads_max_size",
                   .note = spool ? "payloads are taken while under it; past it they wait in "
                                   "the disk spool (those being sent or written stay counted)"
                                 : "payloads are taken while under it (those being sent stay "
                                   "counted); past it the sources are pushed back",
                   .slack = q.largest_cost * (concurrencyOf(q) + 1 + q.spool_pending_writes)});
    if (spool) {
      out.push_back({.name = fmt::format("forwarder.spool{{endpoint:{}}}", name),
                     .unit = "bytes",
                     .used = static_cast<uint64_t>(std::max<int64_t>(
                         0, telemetry_.valueOf("outpost.spool.bytes", {"endpoint:" + name}))),
                     .limit = options_.spool_max_bytes,
                     .key = "forwarder_storage_max_size_in_bytes",
                     .note = "past it (or forwarder_storage_max_disk_ratio) the oldest payloads "
                             "are dropped and counted"});
    }
  }
}

void Forwarder::reconfigure(const LoadedConfig& config) {
  const Endpoints next = resolveEndpoints(config.config);
  size_t matched = 0;
  size_t total = 0;
  for (IntakeKind kind : {IntakeKind::kMetrics, IntakeKind::kLogs, IntakeKind::kTraces}) {
    for (const Endpoint& e : next.of(kind)) {
      ++total;
      for (auto& q : queues_) {
        if (q->endpoint.name != e.name) {
          continue;
        }
        ++matched;
        if (q->endpoint.api_key != e.api_key) {
          q->endpoint.api_key = e.api_key;
          q->api_key_invalid = false;
          q->key_invalid->set(0);
          LOG_INFO("forwarder", "endpoint {}: API key changed", e.name);
        }
        if (q->endpoint.base_url != e.base_url) {
          LOG_INFO("forwarder", "endpoint {}: now {}", e.name, e.base_url);
          q->endpoint.base_url = e.base_url;
        }
      }
    }
  }
  if (matched != total || total != queues_.size()) {
    LOG_WARN("forwarder", "the set of endpoints changed: takes effect after a restart");
  }
  if (options_.validate_interval_ms > 0 && validate_timer_) {
    validateApiKey();
  }
}

void Forwarder::stop(std::function<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  validate_timer_.reset();
  for (auto& q : queues_) {
    q->retry_timer->stop();
    // Requests in flight are abandoned: whether the intake took them is unknown, so spoolable
    // ones are kept on disk (at-least-once) and the rest are dropped.
    for (auto& [id, item] : q->requests) {
      http_.cancel(id);
      q->queue.push_front(std::move(*item));
    }
    q->requests.clear();
    q->in_flight = 0;
    drainForStop(*q);
  }
  checkStopped();
}

void Forwarder::resume(EndpointQueue& q) {
  if (stopping_) {
    drainForStop(q);  // finished after stop(): to the spool, or dropped and acked
    checkStopped();
  } else {
    pump(q);
  }
}

void Forwarder::drainForStop(EndpointQueue& q) {
  std::deque<Item> items;
  items.swap(q.queue);
  for (auto& item : items) {
    if (item.p->spoolable && q.spool) {
      spoolItem(q, std::move(item));
    } else if (item.p->spoolable && q.spool_opening) {
      q.queue.push_back(std::move(item));  // drained again once the spool is open
    } else {
      resolve(q, item, false, "shutdown");
    }
  }
  q.queued_payloads->set(static_cast<int64_t>(q.queue.size()));
}

void Forwarder::checkStopped() {
  if (!stopping_ || !stop_done_ || compressing_jobs_ > 0) {
    return;
  }
  for (auto& q : queues_) {
    if (q->spool_pending_writes > 0 || (q->spool_opening && !q->queue.empty())) {
      return;
    }
  }
  auto done = std::exchange(stop_done_, nullptr);
  if (spool_io_) {
    for (auto& q : queues_) {
      if (q->spool) {
        EndpointQueue* raw = q.get();
        spool_io_->submit([raw] { raw->spool->flush(); });
      }
    }
    spool_io_->drain(std::move(done));
  } else {
    done();
  }
}

}  // namespace outpost
