#pragma once

#include <uv.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "collector/query/log_ring.h"
#include "collector/query/log_search.h"
#include "collector/query/metric_store.h"
#include "collector/query/search_store.h"
#include "collector/query/trace_store.h"
#include "core/component.h"
#include "core/http_server.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "core/worker_pool.h"

// The query socket (issue 8): HTTP/1.1 with JSON bodies on a Unix stream socket, mode 0660,
// group query_socket_group, never on TCP. Each request is logged with the peer's pid and uid
// (SO_PEERCRED). Errors are JSON {"error", "detail"} with a proper status code. Built so far:
// GET /v1/status (every section, or ?section=NAME), GET /v1/checks, POST /v1/logs/search
// (log_search.h, on the worker pool), GET /v1/logs/sources, /v1/metrics/query and
// /v1/metrics/list (metric_store.h), /v1/traces and /v1/traces/{id} (trace_store.h),
// /v1/logs/tail (log_ring.h) (docs/query-api.md).
namespace outpost::query {

class QueryService : public Component {
 public:
  struct Options {
    std::string socket_path;  // absolute
    std::string group;        // chgrp'ed to it when the group exists
    std::string hostname;
    std::string config_file;
    bool local_mode = false;
    // What loading the configuration warned about (shown in /v1/status "warnings").
    std::vector<std::string> config_warnings;
    // The configuration as `outpost configcheck` prints it (secrets redacted), for /v1/config;
    // null: not offered.
    std::function<std::string()> config_text;
    // The file log sources of the configuration: what /v1/logs/search reads (whether or not
    // logs_enabled ships them).
    std::vector<logs::LogSourceConfig> log_sources;
    // Log searches run on their own threads, this many at once; up to max_queued_searches more
    // wait (beyond that: 429). A search still queued or running after search_timeout answers
    // what it found so far with a cursor to go on; a client that goes away cancels its search.
    size_t max_concurrent_searches = 4;
    size_t max_queued_searches = 32;
    std::chrono::milliseconds search_timeout{30'000};
    // Results found beyond a search's limit, read at /v1/logs/results/{id}: a byte budget for
    // all of them and how long they stay.
    size_t results_max_bytes = 64u << 20;
    std::chrono::milliseconds results_ttl{600'000};
    // Answers of identical searches (same body) within cache_ttl come from a cache of this
    // many bytes; a zero TTL turns it off.
    std::chrono::milliseconds cache_ttl{10'000};
    size_t cache_max_bytes = 16u << 20;
    // A plain file range at least this long is searched in two halves at once (0: never).
    uint64_t search_split_bytes = 64u << 20;
    // What /v1/metrics/* answer from; null: those endpoints say the store is off.
    std::shared_ptr<MetricStore> metrics;
    // What /v1/traces answers from; null: the trace store is off (or APM is).
    std::shared_ptr<TraceStore> traces;
    // What /v1/logs/tail answers from; null: logs are off or query.logs_buffer_bytes is 0.
    std::shared_ptr<LogRing> recent_logs;
  };
  // A status section: computed on the loop when asked for.
  using Section = std::function<nlohmann::json()>;

  QueryService(uv_loop_t* loop, WorkerPool& workers, Telemetry& telemetry, Options options);
  ~QueryService() override;

  // Sections appear in /v1/status in the order they were added.
  void addSection(std::string name, Section section);

  std::string_view name() const override { return "query"; }
  bool start() override;
  void stop(std::function<void()> done) override;

  // The whole status document (also what `outpost status` prints).
  nlohmann::json status() const;
  // Searches running and waiting now, and the limits.
  nlohmann::json searchStatus() const;
  // Its connections, searches, kept results and cache, and the stores it answers from (recent
  // logs, metrics, traces), each against its limit.
  void resources(Resources& out) const override;
  // The status document's "warnings": configuration warnings, a rejected API key, files not
  // tailed, failing checks.
  nlohmann::json warnings(const nlohmann::json& doc) const;

 private:
  void handle(HttpRequest& req, HttpServer::Respond respond);
  void search(HttpRequest& req, HttpServer::Respond respond);
  void sources(HttpServer::Respond respond);
  void metricsQuery(HttpRequest& req, HttpServer::Respond respond);
  void metricsList(HttpRequest& req, HttpServer::Respond respond);
  void tracesSearch(HttpRequest& req, HttpServer::Respond respond);
  void logsTail(HttpRequest& req, HttpServer::Respond respond);
  void traceGet(HttpRequest& req, std::string_view id, HttpServer::Respond respond);
  void searchResults(HttpRequest& req, std::string_view id, HttpServer::Respond respond);
  void aggregate(HttpRequest& req, HttpServer::Respond respond);
  // Runs a parsed search through the queue and the search threads; `render` (when set) makes
  // the answer instead of the search's JSON.
  void schedule(HttpRequest& req, std::shared_ptr<SearchRequest> request, std::string cache_key,
                std::function<nlohmann::json(const SearchResult&)> render,
                HttpServer::Respond respond);

  uv_loop_t* loop_;
  WorkerPool& workers_;
  Telemetry& telemetry_;
  Options options_;
  std::vector<std::pair<std::string, Section>> sections_;
  std::unique_ptr<HttpServer> server_;
  std::chrono::steady_clock::time_point started_;
  int64_t started_unix_ = 0;
  struct PendingSearch;
  void startSearch(const std::shared_ptr<PendingSearch>& ps);
  void finishSearch(const std::shared_ptr<PendingSearch>& ps);
  void watchSearches();
  void startQueued();
  void armWatchdog();
  void disarmWatchdog();

  // Per tailed file, the pipeline's counters a while ago (every 10 s), for the rates in
  // /v1/logs/sources: the newest snapshot and the one before.
  struct RateSnapshot {
    std::chrono::steady_clock::time_point at;
    std::map<std::string, std::pair<uint64_t, uint64_t>> files;  // path → (lines, bytes)
  };
  void snapshotRates();
  nlohmann::json logsSection() const;
  RateSnapshot rates_newest_;
  RateSnapshot rates_before_;
  std::unique_ptr<Timer> rates_timer_;
  std::unique_ptr<WorkerPool> search_pool_;
  std::unique_ptr<Timer> search_watchdog_;
  ResultStore results_;
  SearchCache cache_;
  std::deque<std::shared_ptr<PendingSearch>> queued_;
  std::vector<std::shared_ptr<PendingSearch>> running_;
  bool stopping_ = false;
  bool watchdog_armed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Counter& requests_;
  Counter& errors_;
  Counter& searches_;
  Counter& searches_queued_;
  Counter& searches_cancelled_;
  Counter& searches_timed_out_;
  Counter& searches_refused_;
  Counter& searches_cached_;
};

// {"error": error, "detail": detail} with `status`.
HttpResponse errorResponse(int status, std::string_view error, std::string_view detail);

}  // namespace outpost::query
