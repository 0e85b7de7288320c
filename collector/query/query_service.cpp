#include "collector/query/query_service.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "collector/query/timestamps.h"
#include "collector/sources/logs/status.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/version.h"

namespace outpost::query {

namespace {
// Clients of the query socket at once (outpost status, outpost-mcp calls, curl).
constexpr size_t kMaxConnections = 64;
}  // namespace

HttpResponse errorResponse(int status, std::string_view error, std::string_view detail) {
  nlohmann::json j = {{"error", error}, {"detail", detail}};
  return HttpResponse::json(status, j.dump());
}

QueryService::QueryService(uv_loop_t* loop, WorkerPool& workers, Telemetry& telemetry,
                           Options options)
    : loop_(loop),
      workers_(workers),
      telemetry_(telemetry),
      options_(std::move(options)),
      results_(options_.results_max_bytes, options_.results_ttl),
      cache_(options_.cache_max_bytes, options_.cache_ttl),
      requests_(telemetry.counter("outpost.query.requests", {}, "query socket requests")),
      errors_(telemetry.counter("outpost.query.errors", {},
                                "query socket requests answered with an error")),
      searches_(telemetry.counter("outpost.query.searches", {}, "log searches answered")),
      searches_queued_(telemetry.counter("outpost.query.searches_queued", {},
                                         "log searches that waited for a free search thread")),
      searches_cancelled_(telemetry.counter("outpost.query.searches_cancelled", {},
                                            "log searches stopped because the client went away")),
      searches_timed_out_(telemetry.counter("outpost.query.searches_timed_out", {},
                                            "log searches stopped at query.search_timeout")),
      searches_refused_(telemetry.counter("outpost.query.searches_refused", {},
                                          "log searches refused (429): the queue was full")),
      searches_cached_(telemetry.counter("outpost.query.searches_cached", {},
                                         "log searches answered from the cache")) {}

// One log search from arrival to answer.
struct QueryService::PendingSearch {
  std::shared_ptr<SearchRequest> request;
  HttpServer::Respond respond;
  PeerWatch peer;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  std::chrono::steady_clock::time_point arrived;
  std::chrono::steady_clock::time_point deadline;
  std::shared_ptr<nlohmann::json> result = std::make_shared<nlohmann::json>();
  // Results beyond the limit (for the result store), their size, and the search's cursor
  // after them.
  std::shared_ptr<nlohmann::json> overflow = std::make_shared<nlohmann::json>();
  std::shared_ptr<size_t> overflow_bytes = std::make_shared<size_t>(0);
  std::shared_ptr<std::string> search_cursor = std::make_shared<std::string>();
  std::string cache_key;
  // Set for /v1/logs/aggregate: makes the answer from the search's result (on its thread).
  std::function<nlohmann::json(const SearchResult&)> render;
  bool timed_out = false;
  bool client_gone = false;
  double queued_ms = 0;
};

QueryService::~QueryService() {
  *alive_ = false;
}

void QueryService::addSection(std::string name, Section section) {
  sections_.emplace_back(std::move(name), std::move(section));
}

bool QueryService::start() {
  search_pool_ =
      std::make_unique<WorkerPool>(loop_, std::max<size_t>(1, options_.max_concurrent_searches),
                                   options_.max_concurrent_searches, telemetry_);
  search_watchdog_ = std::make_unique<Timer>(loop_, [this] { watchSearches(); });
  search_watchdog_->unref();
  snapshotRates();
  rates_timer_ = std::make_unique<Timer>(loop_, [this] { snapshotRates(); });
  rates_timer_->unref();
  rates_timer_->start(10'000, 10'000);
  started_ = std::chrono::steady_clock::now();
  started_unix_ = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  const std::filesystem::path path(options_.socket_path);
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  HttpServer::Options o;
  o.name = "query";
  o.max_body_bytes = 1 << 20;
  o.max_connections = kMaxConnections;
  server_ = std::make_unique<HttpServer>(
      loop_, o,
      [this](HttpRequest& req, HttpServer::Respond respond) { handle(req, std::move(respond)); },
      telemetry_);
  std::string error;
  if (!server_->listenUnix(options_.socket_path, 0660, &error)) {
    // Not fatal: the agent still collects and forwards; only local questions go unanswered.
    LOG_ERROR("query", "query socket disabled: {}", error);
    server_.reset();
    return true;
  }
  if (!options_.group.empty()) {
    if (const group* g = ::getgrnam(options_.group.c_str()); g != nullptr) {
      if (::chown(options_.socket_path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
        LOG_WARN("query", "cannot give {} to group {}: {}", options_.socket_path, options_.group,
                 std::strerror(errno));
      }
    } else {
      LOG_INFO("query",
               "group '{}' does not exist: {} keeps the daemon's group (mode 0660: only that "
               "group and this user may ask)",
               options_.group, options_.socket_path);
    }
  }
  LOG_INFO("query", "answering on {} (curl --unix-socket {} http://outpost/v1/status)",
           options_.socket_path, options_.socket_path);
  return true;
}

void QueryService::stop(std::function<void()> done) {
  stopping_ = true;
  // Queued searches are answered at once, running ones stop at their next chunk.
  for (auto& ps : queued_) {
    ps->respond(errorResponse(503, "stopping", "outpost is stopping"));
  }
  queued_.clear();
  for (auto& ps : running_) {
    ps->cancel->store(true);
  }
  if (search_watchdog_) {
    disarmWatchdog();
  }
  if (rates_timer_) {
    rates_timer_->stop();
  }
  auto after_searches = [this, done = std::move(done)]() mutable {
    if (!server_) {
      done();
      return;
    }
    server_->shutdown([this, done = std::move(done)] {
      ::unlink(options_.socket_path.c_str());
      done();
    });
  };
  if (search_pool_) {
    search_pool_->drain(std::move(after_searches));
  } else {
    after_searches();
  }
}

void QueryService::resources(Resources& out) const {
  out.push_back({.name = "query.connections",
                 .unit = "connections",
                 .used = server_ ? server_->openConnections() : 0,
                 .limit = kMaxConnections,
                 .key = "",
                 .note = "clients of the query socket; past it new ones are closed at once"});
  out.push_back({.name = "query.searches_running",
                 .unit = "searches",
                 .used = running_.size(),
                 .limit = options_.max_concurrent_searches,
                 .key = "query.max_concurrent_searches",
                 .note = "past it searches wait in the queue",
                 .full_is_normal = true});
  out.push_back({.name = "query.searches_queued",
                 .unit = "searches",
                 .used = queued_.size(),
                 .limit = options_.max_queued_searches,
                 .key = "query.max_queued_searches",
                 .note = "past it searches are answered 429"});
  out.push_back({.name = "query.results",
                 .unit = "bytes",
                 .used = results_.bytes(),
                 .limit = results_.maxBytes(),
                 .key = "query.results_max_bytes",
                 .note = "search results kept beyond an answer; the oldest go first",
                 .full_is_normal = true});
  out.push_back({.name = "query.cache",
                 .unit = "bytes",
                 .used = cache_.bytes(),
                 .limit = options_.cache_max_bytes,
                 .key = "query.cache_max_bytes",
                 .note = "recent answers; the oldest go first",
                 .full_is_normal = true});
  auto sized = [](const nlohmann::json& j, const char* used, const char* limit) {
    return std::pair<uint64_t, uint64_t>{j.value(used, uint64_t{0}), j.value(limit, uint64_t{0})};
  };
  if (options_.recent_logs) {
    const auto [used, limit] = sized(options_.recent_logs->statusJson(), "bytes", "max_bytes");
    out.push_back({.name = "query.recent_logs",
                   .unit = "bytes",
                   .used = used,
                   .limit = limit,
                   .key = "query.logs_buffer_bytes",
                   .note = "a ring: the oldest lines are overwritten",
                   .full_is_normal = true});
  }
  if (options_.metrics) {
    const auto s = options_.metrics->stats();
    out.push_back({.name = "query.metric_contexts",
                   .unit = "contexts",
                   .used = s.contexts,
                   .limit = s.max_contexts,
                   .key = "query.metrics_max_contexts",
                   .note = fmt::format("about {:.1f} MiB now; past it new contexts are not kept "
                                       "(counted)",
                                       static_cast<double>(s.bytes) / 1048576.0)});
  }
  if (options_.traces) {
    const auto [used, limit] = sized(options_.traces->statusJson(), "bytes", "max_bytes");
    out.push_back({.name = "query.traces",
                   .unit = "bytes",
                   .used = used,
                   .limit = limit,
                   .key = "query.traces_max_bytes",
                   .note = "recent sampled traces; the oldest go first",
                   .full_is_normal = true});
  }
}

nlohmann::json QueryService::searchStatus() const {
  return {{"running", running_.size()},
          {"queued", queued_.size()},
          {"max_concurrent", options_.max_concurrent_searches},
          {"max_queued", options_.max_queued_searches},
          {"timeout_s", std::chrono::duration<double>(options_.search_timeout).count()},
          {"answered", searches_.value()},
          {"waited", searches_queued_.value()},
          {"cancelled", searches_cancelled_.value()},
          {"timed_out", searches_timed_out_.value()},
          {"refused", searches_refused_.value()},
          {"cached", searches_cached_.value()},
          {"cache",
           {{"entries", cache_.entries()},
            {"bytes", cache_.bytes()},
            {"max_bytes", options_.cache_max_bytes},
            {"ttl_s", std::chrono::duration<double>(options_.cache_ttl).count()}}},
          {"result_store",
           {{"entries", results_.entries()},
            {"bytes", results_.bytes()},
            {"max_bytes", results_.maxBytes()},
            {"evicted", results_.evicted()},
            {"ttl_s", std::chrono::duration<double>(options_.results_ttl).count()}}}};
}

nlohmann::json QueryService::status() const {
  const auto uptime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  nlohmann::json j = {
      {"version", versionString()},
      {"pid", static_cast<int64_t>(::getpid())},
      {"hostname", options_.hostname},
      {"config_file", options_.config_file},
      {"started_at", started_unix_},
      {"uptime_s", uptime},
      {"forwarding", options_.local_mode ? "off: local mode (no api_key)" : "on"},
      {"searches", searchStatus()},
  };
  for (const auto& [name, section] : sections_) {
    try {
      j[name] = section();
    } catch (const std::exception& e) {
      j[name] = {{"error", e.what()}};
    }
  }
  j["warnings"] = warnings(j);
  return j;
}

// What needs a person's attention, in one list: gathered from the sections.
nlohmann::json QueryService::warnings(const nlohmann::json& doc) const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& w : options_.config_warnings) {
    out.push_back("configuration: " + w);
  }
  auto array = [&](const char* section, const char* key) -> const nlohmann::json* {
    if (!doc.contains(section) || !doc[section].is_object() || !doc[section].contains(key) ||
        !doc[section][key].is_array()) {
      return nullptr;
    }
    return &doc[section][key];
  };
  if (const auto* endpoints = array("forwarder", "endpoints")) {
    for (const auto& e : *endpoints) {
      if (e.value("api_key_invalid", false)) {
        out.push_back(
            fmt::format("api_key rejected by the intake ({}): nothing is delivered "
                        "there until the key is fixed",
                        e.value("url", e.value("endpoint", std::string()))));
      }
    }
  }
  if (const auto* not_tailed = array("logs", "not_tailed"); not_tailed && !not_tailed->empty()) {
    out.push_back(fmt::format("{} log files not tailed: over logs_config.open_files_limit",
                              not_tailed->size()));
  }
  if (const auto* errors = array("logs", "errors")) {
    for (const auto& e : *errors) {
      out.push_back("logs: " + (e.is_string() ? e.get<std::string>() : e.dump()));
    }
  }
  if (doc.contains("resources") && doc["resources"].is_array()) {
    for (const auto& r : doc["resources"]) {
      if (!r.value("full_is_normal", false) && r.value("limit", uint64_t{0}) > 0 &&
          r.value("used", uint64_t{0}) >= r.value("limit", uint64_t{0})) {
        const std::string key = r.value("key", std::string());
        out.push_back(fmt::format("{} at its limit ({} {}){}: {}", r.value("name", std::string()),
                                  r.value("limit", uint64_t{0}), r.value("unit", std::string()),
                                  key.empty() ? "" : ", raised by " + key,
                                  r.value("note", std::string())));
      }
    }
  }
  if (const auto* instances = array("checks", "instances")) {
    for (const auto& c : *instances) {
      if (c.value("status", "") == "ERROR") {
        out.push_back(fmt::format("check {} failing: {}", c.value("check", std::string()),
                                  c.value("last_error", std::string())));
      }
    }
  }
  return out;
}

void QueryService::handle(HttpRequest& req, HttpServer::Respond respond) {
  requests_.inc();
  LOG_INFO("query", "{} {} from pid {} uid {}", req.method, req.target,
           req.peer_pid ? std::to_string(*req.peer_pid) : "?",
           req.peer_uid ? std::to_string(*req.peer_uid) : "?");
  auto fail = [&](int status, std::string_view error, std::string_view detail) {
    errors_.inc();
    respond(errorResponse(status, error, detail));
  };
  const bool is_get = req.method == "GET" || req.method == "HEAD";
  if (req.path == "/v1/status") {
    if (!is_get) {
      fail(405, "method not allowed", "/v1/status answers GET");
      return;
    }
    nlohmann::json doc = status();
    std::string section;
    if (req.query.rfind("section=", 0) == 0) {
      section = req.query.substr(8);
    } else if (!req.query.empty()) {
      fail(400, "bad query", "the only parameter of /v1/status is section=NAME");
      return;
    }
    if (!section.empty()) {
      if (!doc.contains(section) || (!doc[section].is_object() && !doc[section].is_array())) {
        std::string known = "searches, warnings";
        for (const auto& [name, s] : sections_) {
          known += ", " + name;
        }
        fail(404, "unknown section", "sections: " + known);
        return;
      }
      doc = doc[section];
    }
    respond(HttpResponse::json(200, doc.dump()));
    return;
  }
  if (req.path == "/v1/checks") {
    if (!is_get) {
      fail(405, "method not allowed", "/v1/checks answers GET");
      return;
    }
    nlohmann::json doc = status();
    respond(HttpResponse::json(200, doc.contains("checks") ? doc["checks"].dump() : "{}"));
    return;
  }
  if (req.path == "/v1/logs/sources") {
    if (!is_get) {
      fail(405, "method not allowed", "/v1/logs/sources answers GET");
      return;
    }
    sources(std::move(respond));
    return;
  }
  if (req.path == "/v1/logs/search") {
    if (req.method != "POST") {
      fail(405, "method not allowed", "/v1/logs/search answers POST with a JSON body");
      return;
    }
    search(req, std::move(respond));
    return;
  }
  if (req.path == "/v1/config") {
    if (!is_get) {
      fail(405, "method not allowed", "/v1/config answers GET");
      return;
    }
    if (!options_.config_text) {
      fail(503, "not offered", "this daemon does not offer its configuration");
      return;
    }
    respond(HttpResponse::json(
        200, nlohmann::json{{"config_file", options_.config_file}, {"text", options_.config_text()}}
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    return;
  }
  if (req.path == "/v1/logs/aggregate") {
    if (req.method != "POST") {
      fail(405, "method not allowed", "/v1/logs/aggregate answers POST with a JSON body");
      return;
    }
    aggregate(req, std::move(respond));
    return;
  }
  if (req.path.rfind("/v1/logs/results/", 0) == 0) {
    if (!is_get) {
      fail(405, "method not allowed", "/v1/logs/results/{id} answers GET");
      return;
    }
    searchResults(req, std::string_view(req.path).substr(17), std::move(respond));
    return;
  }
  if (req.path == "/v1/metrics/query") {
    if (!is_get && req.method != "POST") {
      fail(405, "method not allowed", "/v1/metrics/query answers GET and POST");
      return;
    }
    metricsQuery(req, std::move(respond));
    return;
  }
  if (req.path == "/v1/metrics/list") {
    if (!is_get) {
      fail(405, "method not allowed", "/v1/metrics/list answers GET");
      return;
    }
    metricsList(req, std::move(respond));
    return;
  }
  if (req.path == "/v1/logs/tail") {
    if (!is_get && req.method != "POST") {
      fail(405, "method not allowed", "/v1/logs/tail answers GET and POST");
      return;
    }
    logsTail(req, std::move(respond));
    return;
  }
  if (req.path == "/v1/traces") {
    if (!is_get && req.method != "POST") {
      fail(405, "method not allowed", "/v1/traces answers GET and POST");
      return;
    }
    tracesSearch(req, std::move(respond));
    return;
  }
  if (req.path.rfind("/v1/traces/", 0) == 0) {
    if (!is_get) {
      fail(405, "method not allowed", "/v1/traces/{trace_id} answers GET");
      return;
    }
    traceGet(req, std::string_view(req.path).substr(11), std::move(respond));
    return;
  }
  fail(404, "not found",
       "endpoints: GET /v1/status[?section=NAME], GET /v1/checks, GET /v1/config, GET "
       "/v1/logs/sources, "
       "POST /v1/logs/search, POST /v1/logs/aggregate, GET /v1/logs/results/{id}, GET|POST "
       "/v1/logs/tail, GET|POST "
       "/v1/metrics/query, GET "
       "/v1/metrics/list, GET|POST "
       "/v1/traces, GET /v1/traces/{trace_id} (docs/query-api.md)");
}

// Every log source of the configuration with its files (rotated siblings included) and, for
// the files the pipeline tails, how far it got. Globs are expanded on the worker pool.
nlohmann::json QueryService::logsSection() const {
  for (const auto& [name, section] : sections_) {
    if (name == "logs") {
      return section();
    }
  }
  return nlohmann::json();
}

void QueryService::snapshotRates() {
  const nlohmann::json logs = logsSection();
  if (!logs.is_object() || !logs.contains("files")) {
    return;
  }
  RateSnapshot now{std::chrono::steady_clock::now(), {}};
  for (const auto& f : logs["files"]) {
    now.files[f.value("path", "")] = {f.value("lines", uint64_t{0}),
                                      f.value("bytes_read", uint64_t{0})};
  }
  rates_before_ = std::move(rates_newest_);
  rates_newest_ = std::move(now);
}

void QueryService::sources(HttpServer::Respond respond) {
  nlohmann::json tailed = nlohmann::json::object();  // path → the pipeline's view
  const nlohmann::json logs = logsSection();
  if (logs.is_object() && logs.contains("files")) {
    // Rates over the last 10-20 s: since the newest snapshot when it is a second old or more,
    // else since the one before.
    const auto now = std::chrono::steady_clock::now();
    const RateSnapshot& base =
        now - rates_newest_.at >= std::chrono::seconds(1) ? rates_newest_ : rates_before_;
    const double span = std::chrono::duration<double>(now - base.at).count();
    for (auto f : logs["files"]) {
      const std::string path = f.value("path", "");
      auto it = base.files.find(path);
      if (span >= 1 && base.at.time_since_epoch().count() != 0) {
        const uint64_t lines0 = it == base.files.end() ? 0 : it->second.first;
        const uint64_t bytes0 = it == base.files.end() ? 0 : it->second.second;
        const uint64_t lines = f.value("lines", uint64_t{0});
        const uint64_t bytes = f.value("bytes_read", uint64_t{0});
        f["rates"] = {{"lines_per_s", static_cast<double>(lines - std::min(lines, lines0)) / span},
                      {"bytes_per_s", static_cast<double>(bytes - std::min(bytes, bytes0)) / span},
                      {"over_s", span}};
      }
      tailed[path] = std::move(f);
    }
  }
  auto result = std::make_shared<nlohmann::json>();
  auto sources = std::make_shared<std::vector<logs::LogSourceConfig>>(options_.log_sources);
  std::weak_ptr<bool> alive = alive_;
  const bool queued = workers_.submit(
      [sources, result, tailed] { *result = describeSources(*sources, tailed); },
      [alive, result, respond] {
        if (alive.expired()) {
          return;
        }
        respond(HttpResponse::json(
            200, result->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
      });
  if (!queued) {
    errors_.inc();
    respond(errorResponse(429, "busy", "the worker queue is full"));
  }
}

void QueryService::search(HttpRequest& req, HttpServer::Respond respond) {
  const nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
  if (body.is_discarded()) {
    errors_.inc();
    respond(errorResponse(400, "bad request", "the body is not JSON"));
    return;
  }
  auto request = std::make_shared<SearchRequest>();
  std::string error;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (!parseSearchRequest(body, now_ms, request.get(), &error)) {
    errors_.inc();
    respond(errorResponse(400, "bad request", error));
    return;
  }
  std::string cache_key = body.dump();
  request->keep_max_bytes = options_.results_max_bytes / 2;
  request->split_bytes = options_.search_split_bytes;
  schedule(req, std::move(request), std::move(cache_key), nullptr, std::move(respond));
}

void QueryService::schedule(HttpRequest& req, std::shared_ptr<SearchRequest> request,
                            std::string cache_key,
                            std::function<nlohmann::json(const SearchResult&)> render,
                            HttpServer::Respond respond) {
  // The same question within query.cache_ttl: the same answer, no scan.
  double age_ms = 0;
  if (auto cached = cache_.get(cache_key, std::chrono::steady_clock::now(), &age_ms)) {
    searches_cached_.inc();
    (*cached)["cached"] = true;
    (*cached)["cached_age_ms"] = age_ms;
    (*cached)["took_ms"] = 0.0;
    (*cached)["queued_ms"] = 0.0;
    respond(HttpResponse::json(
        200, cached->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    return;
  }
  auto ps = std::make_shared<PendingSearch>();
  ps->cache_key = std::move(cache_key);
  ps->render = std::move(render);
  ps->request = std::move(request);
  ps->respond = std::move(respond);
  ps->peer = req.peer;
  ps->arrived = std::chrono::steady_clock::now();
  ps->deadline = ps->arrived + options_.search_timeout;
  if (stopping_) {
    errors_.inc();
    ps->respond(errorResponse(503, "stopping", "outpost is stopping"));
    return;
  }
  if (running_.size() < options_.max_concurrent_searches) {
    startSearch(ps);
    return;
  }
  if (queued_.size() >= options_.max_queued_searches) {
    errors_.inc();
    searches_refused_.inc();
    ps->respond(errorResponse(
        429, "too many searches",
        fmt::format("{} searches are running and {} waiting (query.max_concurrent_searches); try "
                    "again when one is done",
                    running_.size(), queued_.size())));
    return;
  }
  searches_queued_.inc();
  queued_.push_back(std::move(ps));
  armWatchdog();
}

void QueryService::startSearch(const std::shared_ptr<PendingSearch>& ps) {
  ps->queued_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ps->arrived)
          .count();
  auto sources = std::make_shared<std::vector<logs::LogSourceConfig>>(options_.log_sources);
  std::weak_ptr<bool> alive = alive_;
  running_.push_back(ps);
  armWatchdog();
  auto request = ps->request;
  auto cancel = ps->cancel;
  auto result = ps->result;
  auto overflow = ps->overflow;
  auto overflow_bytes = ps->overflow_bytes;
  auto search_cursor = ps->search_cursor;
  auto render = ps->render;
  const bool queued = search_pool_->submit(
      [request, sources, result, cancel, overflow, overflow_bytes, search_cursor, render] {
        const auto files = searchFiles(*sources, *request);
        SearchResult r = runSearch(*request, files, cancel.get());
        *result = render ? render(r) : toJson(r, request->limit);
        if (!render && r.hits.size() > request->limit) {
          *overflow = overflowJson(r, request->limit, overflow_bytes.get());
          *search_cursor = r.next_cursor;
        }
        if (files.empty()) {
          (*result)["hints"] = nlohmann::json::array(
              {"no log file matches: the logs configuration (conf.d/*.d/conf.yaml, type: file) "
               "names none with these filters"});
        }
      },
      [this, alive, ps] {
        if (!alive.expired()) {
          finishSearch(ps);
        }
      });
  if (!queued) {  // cannot happen: at most max_concurrent_searches are submitted
    running_.pop_back();
    errors_.inc();
    ps->respond(errorResponse(503, "busy", "the search threads refused the search"));
  }
}

void QueryService::finishSearch(const std::shared_ptr<PendingSearch>& ps) {
  running_.erase(std::remove(running_.begin(), running_.end(), ps), running_.end());
  searches_.inc();
  nlohmann::json& result = *ps->result;
  result["took_ms"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ps->arrived)
          .count();
  result["queued_ms"] = ps->queued_ms;
  const auto now = std::chrono::steady_clock::now();
  if (ps->overflow->is_array() && !ps->overflow->empty()) {
    const size_t kept = ps->overflow->size();
    const std::string id =
        results_.put(std::move(*ps->overflow), *ps->overflow_bytes, *ps->search_cursor, now);
    if (!id.empty()) {
      result["result_id"] = id;
      result["kept"] = kept;
    }
  }
  if (!ps->timed_out && !ps->client_gone) {
    const std::string text = result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    cache_.put(ps->cache_key, result, text.size(), now);
  }
  if (ps->timed_out) {
    result["timed_out"] = true;
    result["hints"] = nlohmann::json::array(
        {fmt::format("stopped at query.search_timeout ({} s): these are the lines found so far; "
                     "next_cursor goes on from where it stopped (or narrow the time range)",
                     std::chrono::duration<double>(options_.search_timeout).count())});
  }
  // Lines are not always UTF-8: invalid bytes become U+FFFD rather than an exception.
  ps->respond(HttpResponse::json(
      200, result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  startQueued();
}

// Started once when the first search arrives (restarting it on every arrival would postpone it
// forever under a steady stream of searches).
void QueryService::armWatchdog() {
  if (!watchdog_armed_) {
    watchdog_armed_ = true;
    search_watchdog_->start(100, 100);
  }
}

void QueryService::disarmWatchdog() {
  watchdog_armed_ = false;
  search_watchdog_->stop();
}

void QueryService::startQueued() {
  while (!stopping_ && running_.size() < options_.max_concurrent_searches && !queued_.empty()) {
    auto next = std::move(queued_.front());
    queued_.pop_front();
    startSearch(next);
  }
  if (running_.empty() && queued_.empty()) {
    disarmWatchdog();
  }
}

// Every 100 ms while searches wait or run: a client gone cancels its search; a search past
// query.search_timeout stops (running) or is answered 503 (still queued).
void QueryService::watchSearches() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = queued_.begin(); it != queued_.end();) {
    PendingSearch& ps = **it;
    const bool gone = ps.peer.gone();
    if (gone || now >= ps.deadline) {
      if (gone) {
        searches_cancelled_.inc();
      } else {
        searches_timed_out_.inc();
      }
      errors_.inc();
      ps.respond(errorResponse(
          503, "search timeout",
          fmt::format("the search waited {} s for a free search thread (query.search_timeout); "
                      "{} searches are running",
                      std::chrono::duration<double>(options_.search_timeout).count(),
                      running_.size())));
      it = queued_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& ps : running_) {
    if (ps->cancel->load()) {
      continue;
    }
    if (ps->peer.gone()) {
      ps->client_gone = true;
      searches_cancelled_.inc();
      ps->cancel->store(true);
    } else if (now >= ps->deadline) {
      ps->timed_out = true;
      searches_timed_out_.inc();
      ps->cancel->store(true);
    }
  }
  if (running_.empty() && queued_.empty()) {
    disarmWatchdog();
  }
}

namespace {

// The arguments of a request as one JSON object: the JSON body of a POST, or the query string
// of a GET (every value a string). False with *error when neither reads.
bool requestArgs(const HttpRequest& req, nlohmann::json* args, std::string* error) {
  if (req.method == "POST") {
    *args = nlohmann::json::parse(req.body, nullptr, false);
    if (args->is_discarded() || !args->is_object()) {
      *error = "the body is not a JSON object";
      return false;
    }
    return true;
  }
  *args = nlohmann::json::object();
  for (auto& [k, v] : parseQueryString(req.query)) {
    (*args)[k] = v;
  }
  return true;
}

// A field that may come as a JSON number or as digits in a string (GET).
bool intArg(const nlohmann::json& args, const char* key, int64_t lo, int64_t hi, int64_t* out,
            std::string* error) {
  if (!args.contains(key)) {
    return true;
  }
  const auto& v = args[key];
  int64_t n = 0;
  const std::string text = v.is_string() ? v.get<std::string>() : std::string();
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
  } else if (!text.empty() && text.size() < 12 &&
             std::all_of(text.begin(), text.end(), ::isdigit)) {
    n = std::stoll(text);
  } else {
    *error = fmt::format("'{}' must be an integer", key);
    return false;
  }
  if (n < lo || n > hi) {
    *error = fmt::format("'{}' must be between {} and {}", key, lo, hi);
    return false;
  }
  *out = n;
  return true;
}

// from/to: RFC 3339, epoch ms or relative ("-15m", "now"); defaults: the last 15 minutes.
bool timeArgs(const nlohmann::json& args, int64_t now_ms, int64_t* from_ms, int64_t* to_ms,
              std::string* error) {
  *to_ms = now_ms;
  *from_ms = now_ms - 15 * 60 * 1000;
  for (const char* key : {"from", "to"}) {
    if (!args.contains(key)) {
      continue;
    }
    const std::optional<int64_t> t = parseTimeArgJson(args[key], now_ms);
    if (!t) {
      *error = fmt::format("'{}' is not a time (RFC 3339, epoch ms, or relative like -15m)", key);
      return false;
    }
    *(std::string_view(key) == "from" ? from_ms : to_ms) = *t;
  }
  if (*to_ms < *from_ms) {
    *error = "'to' is before 'from'";
    return false;
  }
  return true;
}

bool onlyKnown(const nlohmann::json& args, std::initializer_list<std::string_view> known,
               std::string* error) {
  for (const auto& [k, v] : args.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      *error = fmt::format("unknown field '{}' (known: {})", k, fmt::join(known, ", "));
      return false;
    }
  }
  return true;
}

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void QueryService::metricsQuery(HttpRequest& req, HttpServer::Respond respond) {
  auto fail = [&](int status, std::string_view error, std::string_view detail) {
    errors_.inc();
    respond(errorResponse(status, error, detail));
  };
  if (!options_.metrics) {
    fail(503, "metric store off", "query.metrics_max_contexts is 0");
    return;
  }
  nlohmann::json args;
  std::string error;
  if (!requestArgs(req, &args, &error) ||
      !onlyKnown(args, {"query", "from", "to", "max_points", "max_series"}, &error)) {
    fail(400, "bad request", error);
    return;
  }
  if (!args.contains("query") || !args["query"].is_string()) {
    fail(400, "bad request",
         "'query' (a string) is required, e.g. avg:system.cpu.user{*} by {host}");
    return;
  }
  auto q = std::make_shared<MetricQuery>();
  if (!parseMetricQuery(args["query"].get<std::string>(), q.get(), &error)) {
    fail(400, "bad query", error);
    return;
  }
  int64_t from_ms = 0, to_ms = 0, max_points = 360, max_series = 100;
  if (!timeArgs(args, nowMs(), &from_ms, &to_ms, &error) ||
      !intArg(args, "max_points", 1, 10000, &max_points, &error) ||
      !intArg(args, "max_series", 1, 10000, &max_series, &error)) {
    fail(400, "bad request", error);
    return;
  }
  MetricQueryOptions o;
  o.from_s = from_ms / 1000;
  o.to_s = to_ms / 1000;
  o.max_points = static_cast<size_t>(max_points);
  o.max_series = static_cast<size_t>(max_series);
  auto result = std::make_shared<std::optional<nlohmann::json>>();
  auto err = std::make_shared<std::string>();
  std::shared_ptr<MetricStore> store = options_.metrics;
  std::weak_ptr<bool> alive = alive_;
  const auto t0 = std::chrono::steady_clock::now();
  const bool queued = workers_.submit(
      [store, q, o, result, err] { *result = store->query(*q, o, err.get()); },
      [this, alive, result, err, respond, t0] {
        if (alive.expired()) {
          return;
        }
        if (!*result) {
          errors_.inc();
          respond(errorResponse(400, "bad query", *err));
          return;
        }
        (**result)["took_ms"] =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        respond(HttpResponse::json(
            200, (*result)->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
      });
  if (!queued) {
    fail(429, "busy", "the worker queue is full");
  }
}

void QueryService::metricsList(HttpRequest& req, HttpServer::Respond respond) {
  auto fail = [&](int status, std::string_view error, std::string_view detail) {
    errors_.inc();
    respond(errorResponse(status, error, detail));
  };
  if (!options_.metrics) {
    fail(503, "metric store off", "query.metrics_max_contexts is 0");
    return;
  }
  nlohmann::json args;
  std::string error;
  if (!requestArgs(req, &args, &error) ||
      !onlyKnown(args, {"prefix", "tag_filter", "limit", "cursor"}, &error)) {
    fail(400, "bad request", error);
    return;
  }
  int64_t limit = 100;
  if (!intArg(args, "limit", 1, 10000, &limit, &error)) {
    fail(400, "bad request", error);
    return;
  }
  const std::string prefix = args.value("prefix", "");
  const std::string cursor = args.value("cursor", "");
  MetricQuery filters;
  if (const std::string tf = args.value("tag_filter", ""); !tf.empty()) {
    // Parsed as the braces of a query: "host:a,!device:sda".
    if (!parseMetricQuery("m{" + tf + "}", &filters, &error)) {
      fail(400, "bad tag_filter", error);
      return;
    }
  }
  nlohmann::json out =
      options_.metrics->list(prefix, filters.filters, static_cast<size_t>(limit), cursor);
  out["store"] = options_.metrics->statusJson();
  respond(
      HttpResponse::json(200, out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

namespace {

// A boolean that may come as JSON true/false or as "true"/"false"/"1"/"0" (GET).
bool boolArg(const nlohmann::json& args, const char* key, bool* out, std::string* error) {
  if (!args.contains(key)) {
    return true;
  }
  const auto& v = args[key];
  if (v.is_boolean()) {
    *out = v.get<bool>();
    return true;
  }
  if (v.is_string()) {
    const std::string t = v.get<std::string>();
    if (t == "true" || t == "1" || t == "false" || t == "0") {
      *out = t == "true" || t == "1";
      return true;
    }
  }
  *error = fmt::format("'{}' must be true or false", key);
  return false;
}

bool stringArg(const nlohmann::json& args, const char* key, std::string* out, std::string* error) {
  if (!args.contains(key)) {
    return true;
  }
  if (!args[key].is_string()) {
    *error = fmt::format("'{}' must be a string", key);
    return false;
  }
  *out = args[key].get<std::string>();
  return true;
}

}  // namespace

void QueryService::tracesSearch(HttpRequest& req, HttpServer::Respond respond) {
  auto fail = [&](int status, std::string_view error, std::string_view detail) {
    errors_.inc();
    respond(errorResponse(status, error, detail));
  };
  if (!options_.traces) {
    fail(503, "trace store off",
         "APM is disabled (apm_config.enabled) or query.traces_max_bytes is 0");
    return;
  }
  nlohmann::json args;
  std::string error;
  if (!requestArgs(req, &args, &error) ||
      !onlyKnown(args,
                 {"service", "operation", "resource", "min_duration_ms", "error_only", "from", "to",
                  "sort", "limit", "cursor"},
                 &error)) {
    fail(400, "bad request", error);
    return;
  }
  auto search = std::make_shared<TraceSearch>();
  std::string sort = "newest", cursor;
  int64_t limit = 20, offset = 0;
  if (!stringArg(args, "service", &search->service, &error) ||
      !stringArg(args, "operation", &search->operation, &error) ||
      !stringArg(args, "resource", &search->resource, &error) ||
      !stringArg(args, "sort", &sort, &error) || !stringArg(args, "cursor", &cursor, &error) ||
      !boolArg(args, "error_only", &search->error_only, &error) ||
      !intArg(args, "limit", 1, 500, &limit, &error)) {
    fail(400, "bad request", error);
    return;
  }
  if (args.contains("min_duration_ms")) {
    const auto& v = args["min_duration_ms"];
    char* end = nullptr;
    const std::string text = v.is_string() ? v.get<std::string>() : "";
    if (v.is_number()) {
      search->min_duration_ms = v.get<double>();
    } else if (!text.empty() && (search->min_duration_ms = std::strtod(text.c_str(), &end),
                                 end == text.c_str() + text.size())) {
    } else {
      fail(400, "bad request", "'min_duration_ms' must be a number");
      return;
    }
  }
  if (sort == "newest" || sort == "start") {
    search->sort = TraceSearch::Sort::kNewest;
  } else if (sort == "oldest") {
    search->sort = TraceSearch::Sort::kOldest;
  } else if (sort == "slowest" || sort == "duration") {
    search->sort = TraceSearch::Sort::kSlowest;
  } else {
    fail(400, "bad request", "'sort' is newest, oldest or slowest (or start, duration)");
    return;
  }
  if (!cursor.empty()) {
    if (cursor.size() > 9 || !std::all_of(cursor.begin(), cursor.end(), ::isdigit)) {
      fail(400, "bad request", "'cursor' is not one this API returned");
      return;
    }
    offset = std::stoll(cursor);
  }
  search->limit = static_cast<size_t>(limit);
  search->offset = static_cast<size_t>(offset);
  if (args.contains("from") || args.contains("to")) {
    int64_t from_ms = 0, to_ms = 0;
    nlohmann::json range = nlohmann::json::object();
    range["from"] = args.value("from", nlohmann::json("0"));
    range["to"] = args.value("to", nlohmann::json("now"));
    if (!timeArgs(range, nowMs(), &from_ms, &to_ms, &error)) {
      fail(400, "bad request", error);
      return;
    }
    search->from_ms = from_ms;
    search->to_ms = to_ms;
  }
  auto result = std::make_shared<nlohmann::json>();
  std::shared_ptr<TraceStore> store = options_.traces;
  std::weak_ptr<bool> alive = alive_;
  const bool queued = workers_.submit(
      [store, search, result] { *result = store->search(*search); },
      [alive, result, respond] {
        if (alive.expired()) {
          return;
        }
        respond(HttpResponse::json(
            200, result->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
      });
  if (!queued) {
    fail(429, "busy", "the worker queue is full");
  }
}

void QueryService::traceGet(HttpRequest& req, std::string_view id, HttpServer::Respond respond) {
  auto fail = [&](int status, std::string_view error, std::string_view detail) {
    errors_.inc();
    respond(errorResponse(status, error, detail));
  };
  if (!options_.traces) {
    fail(503, "trace store off",
         "APM is disabled (apm_config.enabled) or query.traces_max_bytes is 0");
    return;
  }
  nlohmann::json args;
  std::string error;
  int64_t max_spans = 1000;
  bool include_meta = true;
  if (!requestArgs(req, &args, &error) || !onlyKnown(args, {"max_spans", "include_meta"}, &error) ||
      !intArg(args, "max_spans", 1, 100000, &max_spans, &error) ||
      !boolArg(args, "include_meta", &include_meta, &error)) {
    fail(400, "bad request", error);
    return;
  }
  if (!parseTraceId(id)) {
    fail(400, "bad trace id",
         "a trace id is decimal (as tracers send it) or hex (16 or 32 digits, or 0x...)");
    return;
  }
  auto j = options_.traces->trace(id, static_cast<size_t>(max_spans), include_meta);
  if (!j) {
    fail(404, "trace not found",
         fmt::format("trace {} is not among the recent sampled traces kept "
                     "(query.traces_max_bytes); GET /v1/traces lists them",
                     id));
    return;
  }
  respond(
      HttpResponse::json(200, j->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

// The ring lives on the loop, like this handler: answered at once.
void QueryService::logsTail(HttpRequest& req, HttpServer::Respond respond) {
  auto fail = [&](int status, std::string_view error, std::string_view detail) {
    errors_.inc();
    respond(errorResponse(status, error, detail));
  };
  if (!options_.recent_logs) {
    fail(503, "recent logs off",
         "logs_enabled is false or query.logs_buffer_bytes is 0; POST /v1/logs/search reads "
         "the files themselves");
    return;
  }
  nlohmann::json args;
  std::string error;
  TailRequest t;
  int64_t lines = 50;
  if (!requestArgs(req, &args, &error) ||
      !onlyKnown(args, {"service", "source", "path", "status", "contains", "lines"}, &error) ||
      !stringArg(args, "service", &t.service, &error) ||
      !stringArg(args, "source", &t.source, &error) || !stringArg(args, "path", &t.path, &error) ||
      !stringArg(args, "status", &t.status, &error) ||
      !stringArg(args, "contains", &t.contains, &error) ||
      !intArg(args, "lines", 1, 10000, &lines, &error)) {
    fail(400, "bad request", error);
    return;
  }
  if (!t.status.empty()) {
    const std::string_view normal = logs::normalizeStatus(t.status);
    if (normal.empty()) {
      fail(400, "bad request",
           "'status' is one of emergency, alert, critical, error, warning, notice, info, debug");
      return;
    }
    t.status = std::string(normal);
  }
  t.lines = static_cast<size_t>(lines);
  nlohmann::json out = options_.recent_logs->tail(t);
  if (out["lines"].empty()) {
    out["hints"] = nlohmann::json::array(
        {"no recent line matches; the ring holds what the pipeline processed since start (GET "
         "/v1/logs/sources lists the sources; POST /v1/logs/search reads the files)"});
  }
  respond(
      HttpResponse::json(200, out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

// A page of the results a search kept beyond its limit: ?cursor= (from the previous page)
// &limit= (default 100).
void QueryService::searchResults(HttpRequest& req, std::string_view id,
                                 HttpServer::Respond respond) {
  auto fail = [&](int status, std::string_view error, std::string_view detail) {
    errors_.inc();
    respond(errorResponse(status, error, detail));
  };
  nlohmann::json args;
  std::string error;
  int64_t limit = 100;
  if (!requestArgs(req, &args, &error) || !onlyKnown(args, {"cursor", "limit"}, &error) ||
      !intArg(args, "limit", 1, 10000, &limit, &error)) {
    fail(400, "bad request", error);
    return;
  }
  // A page cursor is "p<index>".
  size_t from = 0;
  const std::string cursor = args.value("cursor", "");
  if (!cursor.empty()) {
    if (cursor.size() < 2 || cursor.size() > 10 || cursor[0] != 'p' ||
        !std::all_of(cursor.begin() + 1, cursor.end(), ::isdigit)) {
      fail(400, "bad cursor", "use the next_cursor of the previous page");
      return;
    }
    from = std::stoul(cursor.substr(1));
  }
  auto page = results_.get(std::string(id), from, static_cast<size_t>(limit),
                           std::chrono::steady_clock::now());
  if (!page) {
    fail(404, "unknown result id",
         fmt::format("no results under '{}': they expire after query.results_ttl ({} s) or "
                     "make room for newer ones (query.results_max_bytes); search again",
                     id, std::chrono::duration<double>(options_.results_ttl).count()));
    return;
  }
  const bool more = page->next < page->total;
  nlohmann::json out = {
      {"result_id", id},
      {"results", std::move(page->results)},
      {"total", page->total},
      {"truncated", more || !page->search_cursor.empty()},
      {"next_cursor", more ? nlohmann::json("p" + std::to_string(page->next)) : nlohmann::json()},
  };
  if (!more && !page->search_cursor.empty()) {
    // Kept results end here but the search found more: it goes on from this cursor.
    out["search_cursor"] = page->search_cursor;
    out["hints"] = nlohmann::json::array(
        {"these are the last kept results; POST /v1/logs/search with the same body and "
         "cursor: search_cursor for the matches after them"});
  }
  respond(
      HttpResponse::json(200, out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

// Counts of matching lines over time, grouped by service, source, path or status: a count_only
// search whose matches go to a tally (two search threads at once: under a lock).
void QueryService::aggregate(HttpRequest& req, HttpServer::Respond respond) {
  auto fail = [&](int status, std::string_view error, std::string_view detail) {
    errors_.inc();
    respond(errorResponse(status, error, detail));
  };
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    fail(400, "bad request", "the body is not a JSON object");
    return;
  }
  const std::string cache_key = "aggregate " + body.dump();
  std::string group_by = "service";
  int64_t interval_s = 0;
  int64_t top = 10;
  std::string error;
  if (body.contains("group_by")) {
    if (!body["group_by"].is_string()) {
      fail(400, "bad request", "group_by must be service, source, path or status");
      return;
    }
    group_by = body["group_by"].get<std::string>();
    if (group_by != "service" && group_by != "source" && group_by != "path" &&
        group_by != "status") {
      fail(400, "bad request", "group_by must be service, source, path or status");
      return;
    }
  }
  if (!intArg(body, "interval_s", 1, 86400, &interval_s, &error) ||
      !intArg(body, "top", 1, 1000, &top, &error)) {
    fail(400, "bad request", error);
    return;
  }
  for (const char* k : {"group_by", "interval_s", "top"}) {
    body.erase(k);
  }
  for (const char* k : {"limit", "keep", "count_only", "cursor", "max_line_bytes"}) {
    if (body.contains(k)) {
      fail(400, "bad request",
           fmt::format("'{}' is not an argument of /v1/logs/aggregate (it counts every line)", k));
      return;
    }
  }
  if (!body.contains("from")) {
    body["from"] = "-15m";
  }
  body["count_only"] = true;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  auto request = std::make_shared<SearchRequest>();
  if (!parseSearchRequest(body, now_ms, request.get(), &error)) {
    fail(400, "bad request", error);
    return;
  }
  const int64_t from = *request->from_ms;
  const int64_t to = request->to_ms.value_or(now_ms);
  if (interval_s == 0) {
    // At most 60 points, on a round step.
    const int64_t span_s = std::max<int64_t>(1, (to - from) / 1000);
    interval_s = 10;
    for (int64_t step : {10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400}) {
      interval_s = step;
      if (span_s / step <= 60) {
        break;
      }
    }
  }
  if ((to - from) / (interval_s * 1000) > 10000) {
    fail(400, "bad request", "more than 10,000 points: raise interval_s or narrow from/to");
    return;
  }
  struct Tally {
    std::mutex mu;
    std::map<std::string, std::map<int64_t, uint64_t>> counts;  // group → bucket → lines
    std::map<std::string, uint64_t> without_time;
  };
  auto tally = std::make_shared<Tally>();
  const int64_t step_ms = interval_s * 1000;
  request->on_match = [tally, group_by, from, step_ms](const SearchFile& f, std::string_view line,
                                                       std::optional<int64_t> when) {
    std::string key = group_by == "service"  ? f.service
                      : group_by == "source" ? f.source
                      : group_by == "path"   ? f.path
                                             : std::string(logs::detectStatus(line));
    std::lock_guard<std::mutex> lock(tally->mu);
    if (!when) {
      ++tally->without_time[key];
      return;
    }
    ++tally->counts[key][from + (*when - from) / step_ms * step_ms];
  };
  request->split_bytes = options_.search_split_bytes;
  auto render = [tally, group_by, interval_s, top, from, to](const SearchResult& r) {
    std::lock_guard<std::mutex> lock(tally->mu);
    std::vector<std::pair<uint64_t, std::string>> order;
    std::set<std::string> keys;
    for (const auto& [k, v] : tally->counts) {
      keys.insert(k);
    }
    for (const auto& [k, v] : tally->without_time) {
      keys.insert(k);
    }
    for (const auto& k : keys) {
      uint64_t total = 0;
      if (auto it = tally->counts.find(k); it != tally->counts.end()) {
        for (const auto& [b, n] : it->second) {
          total += n;
        }
      }
      if (auto it = tally->without_time.find(k); it != tally->without_time.end()) {
        total += it->second;
      }
      order.emplace_back(total, k);
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    nlohmann::json groups = nlohmann::json::array();
    uint64_t other = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      if (i >= static_cast<size_t>(top)) {
        other += order[i].first;
        continue;
      }
      const std::string& k = order[i].second;
      nlohmann::json counts = nlohmann::json::array();
      if (auto it = tally->counts.find(k); it != tally->counts.end()) {
        for (const auto& [b, n] : it->second) {
          counts.push_back({b, n});
        }
      }
      nlohmann::json g = {{"key", k}, {"total", order[i].first}, {"counts", std::move(counts)}};
      if (auto it = tally->without_time.find(k); it != tally->without_time.end()) {
        g["without_timestamp"] = it->second;
      }
      groups.push_back(std::move(g));
    }
    nlohmann::json out = {{"group_by", group_by},
                          {"interval_s", interval_s},
                          {"from", formatUtc(from)},
                          {"to", formatUtc(to)},
                          {"total", r.count},
                          {"groups", std::move(groups)},
                          {"groups_total", order.size()},
                          {"other_total", other},
                          {"truncated", order.size() > static_cast<size_t>(top) || r.cancelled},
                          {"next_cursor", nullptr},
                          {"scanned_bytes", r.scanned_bytes},
                          {"files_scanned", r.files_scanned},
                          {"no_timestamps", r.no_timestamps},
                          {"unreadable", r.unreadable}};
    if (order.empty()) {
      out["hints"] = nlohmann::json::array(
          {"no line matched in that range: widen from/to (default: the last 15 minutes) or "
           "drop a filter"});
    }
    return out;
  };
  schedule(req, std::move(request), cache_key, std::move(render), std::move(respond));
}

}  // namespace outpost::query
