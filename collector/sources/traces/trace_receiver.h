#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collector/sources/traces/decoder.h"
#include "collector/sources/traces/pipeline.h"
#include "core/component.h"
#include "core/config.h"
#include "core/http_server.h"
#include "core/loop.h"
#include "core/telemetry.h"

namespace outpost {
class Forwarder;
}

namespace outpost::traces {

// The APM trace receiver, the local agent for Datadog tracers (wire-formats.md §4–§5):
//   HTTP :8126 (and apm_config.receiver_socket) → decode (v0.3/v0.4 msgpack or JSON, v0.5,
//   v0.7) → normalize + top-level → ignore_resources → obfuscate → stats concentrator →
//   samplers → AgentPayloadBuffer → every 5 s or 1 MB: /api/v0.2/traces (protobuf)
//   stats every 10 s (and client stats from /v0.6/stats): /api/v0.2/stats (msgpack)
// Responses carry rate_by_service from the priority sampler. Without a forwarder (local mode)
// payloads are counted and dropped. Everything runs on the loop thread.
class TraceReceiver : public Component {
 public:
  struct Options {
    std::string bind_host = "127.0.0.1";
    int port = 8126;          // 0: no TCP listener
    std::string socket_path;  // empty: no Unix socket
    size_t max_payload_bytes = 26'214'400;
    uint64_t receiver_timeout_ms = 5000;
    size_t connection_limit = 2000;
    std::string hostname;
    std::string env = "none";
    double target_tps = 10;
    double errors_per_second = 10;
    bool rare_sampler = false;
    std::vector<std::string> ignore_resources;
    ObfuscationOptions obfuscation;
    int64_t flush_interval_ms = 5000;                   // trace writer
    size_t max_buffer_bytes = kAgentPayloadFlushBytes;  // flush as soon as the buffer passes it
    int64_t stats_flush_interval_ms = 10'000;
    // Most bytes of payloads handed to the forwarder and not acknowledged yet; beyond it new
    // requests are refused as overload (200 + counted, or 429 if the tracer asked for it).
    size_t max_pending_bytes = 64u << 20;
    // DogStatsD lines received on /dogstatsd/v1|v2/proxy (null: counted and dropped).
    std::function<void(std::string_view)> dogstatsd;
    // Shown each request with a kept chunk after processing (chunks marked `kept`): the query
    // socket's trace store takes it whole. Null: the request is freed.
    std::function<void(std::unique_ptr<DecodedPayload>)> on_kept;
  };

  static Options optionsFrom(const Config& config);

  TraceReceiver(uv_loop_t* loop, Telemetry& telemetry, Options options, Forwarder* forwarder);
  ~TraceReceiver() override;

  std::string_view name() const override { return "traces"; }
  bool start() override;
  void stop(std::function<void()> done) override;

  int port() const;  // bound TCP port (tests use port 0)
  // Tracer connections, bytes waiting for the intake, the trace buffer, the stats groups, the
  // sampler's signatures and the obfuscation cache, each against its limit.
  void resources(Resources& out) const override;
  // The /info document (tab-indented JSON) and its hash (Datadog-Agent-State).
  const std::string& infoJson() const { return info_json_; }

  // Flushes the trace buffer / closed stats buckets now (timers call these; tests too).
  void flushTraces();
  void flushStats(bool force);

 private:
  void handle(HttpRequest& req, HttpServer::Respond respond);
  void handleTraces(TraceApiVersion version, HttpRequest& req, HttpServer::Respond respond);
  void handleClientStats(HttpRequest& req, HttpServer::Respond respond);
  void handleDogstatsd(HttpRequest& req, HttpServer::Respond respond);
  HttpResponse withAgentHeaders(HttpResponse r) const;
  void submit(std::string route, std::string content_type, std::string body,
              std::vector<std::pair<std::string, std::string>> headers, Counter& sent);
  Counter& serviceCounter(std::string_view name, std::string_view service, std::string_view lang);
  std::string buildInfo() const;

  uv_loop_t* loop_;
  Telemetry& telemetry_;
  Options options_;
  Forwarder* forwarder_;
  std::unique_ptr<HttpServer> server_;
  TracePipeline pipeline_;
  std::unique_ptr<Timer> flush_timer_;
  std::unique_ptr<Timer> stats_timer_;
  std::unique_ptr<Timer> rates_timer_;
  std::string info_json_;
  std::string agent_state_;
  // Bytes handed to the forwarder and not acknowledged; shared with the acknowledgement
  // callbacks, which may outlive this component at shutdown.
  std::shared_ptr<uint64_t> pending_bytes_ = std::make_shared<uint64_t>(0);
  bool stopping_ = false;
  bool local_logged_ = false;
  std::map<std::string, Counter*, std::less<>> service_counters_;

  Counter& requests_;
  Counter& bytes_received_;
  Counter& decode_errors_;
  Counter& traces_received_;
  Counter& spans_received_;
  Counter& dropped_invalid_;
  Counter& dropped_ignored_;
  Counter& dropped_sampling_;
  Counter& dropped_overload_;
  Counter& kept_;
  Counter& payloads_sent_;
  Counter& stats_payloads_sent_;
  Counter& client_stats_;
  Counter& local_dropped_;
  Counter& dogstatsd_lines_;
  Counter& proxied_discarded_;
};

}  // namespace outpost::traces
