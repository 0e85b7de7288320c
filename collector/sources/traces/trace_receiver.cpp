#include "collector/sources/traces/trace_receiver.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "collector/sources/traces/stats_payload.h"
#include "core/log.h"
#include "core/version.h"
#include "forwarder/encoders/json_writer.h"
#include "forwarder/endpoints.h"
#include "forwarder/forwarder.h"

namespace outpost::traces {

namespace {

constexpr size_t kMaxServiceCounters = 200;

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Datadog-Client-Computed-Stats: empty is false; otherwise Go's ParseBool, where a value it
// cannot parse counts as true (§4.4).
bool clientComputedStats(std::string_view v) {
  if (v.empty()) {
    return false;
  }
  return !(v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False");
}

// FNV-1a, for Datadog-Agent-State (a hash of the /info document).
std::string hashHex(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

const std::vector<std::string_view>& infoEndpoints() {
  static const std::vector<std::string_view> kEndpoints = {
      "/v0.3/traces",        "/v0.3/services",      "/v0.4/traces", "/v0.4/services",
      "/v0.5/traces",        "/v0.7/traces",        "/v0.6/stats",  "/telemetry/proxy/",
      "/dogstatsd/v1/proxy", "/dogstatsd/v2/proxy",
  };
  return kEndpoints;
}

// Routes tracers may call that Outpost does not forward: answered 202 and counted, so tracers
// log no errors (profiling, remote debugging, event platform, telemetry, data streams).
bool isDiscardedProxy(std::string_view path) {
  static constexpr std::string_view kPrefixes[] = {
      "/telemetry/proxy/", "/evp_proxy/",          "/profiling/v1/input", "/debugger/",
      "/symdb/",           "/v0.1/pipeline_stats", "/tracer_flare/",
  };
  for (auto p : kPrefixes) {
    if (path.starts_with(p)) {
      return true;
    }
  }
  return false;
}

}  // namespace

TraceReceiver::Options TraceReceiver::optionsFrom(const Config& c) {
  Options o;
  o.bind_host = c.apm_config.apm_non_local_traffic ? "0.0.0.0" : "127.0.0.1";
  o.port = static_cast<int>(c.apm_config.receiver_port);
  o.socket_path = c.apm_config.receiver_socket;
  o.max_payload_bytes = static_cast<size_t>(c.apm_config.max_payload_size);
  o.receiver_timeout_ms = static_cast<uint64_t>(c.apm_config.receiver_timeout * 1000);
  o.connection_limit =
      c.apm_config.connection_limit > 0 ? static_cast<size_t>(c.apm_config.connection_limit) : 2000;
  o.hostname = c.hostname;
  o.env = c.apm_config.env.empty() ? "none" : c.apm_config.env;
  o.target_tps = c.apm_config.max_traces_per_second;
  o.errors_per_second = c.apm_config.errors_per_second;
  o.rare_sampler = c.apm_config.enable_rare_sampler;
  o.ignore_resources = c.apm_config.ignore_resources;
  o.obfuscation.redis = c.apm_config.obfuscation_redis;
  o.obfuscation.memcached = c.apm_config.obfuscation_memcached;
  o.obfuscation.http_remove_query_string = c.apm_config.obfuscation_remove_query_string;
  o.obfuscation.http_remove_paths_with_digits = c.apm_config.obfuscation_remove_paths_with_digits;
  o.obfuscation.credit_cards = c.apm_config.obfuscation_credit_cards;
  o.obfuscation.cache = c.apm_config.obfuscation_cache_enabled;
  o.obfuscation.cache_max_bytes = static_cast<size_t>(c.apm_config.obfuscation_cache_max_size);
  return o;
}

namespace {

TracePipeline::Options pipelineOptions(const TraceReceiver::Options& o) {
  TracePipeline::Options p;
  p.hostname = o.hostname;
  p.env = o.env;
  p.agent_version = kDatadogAgentCompatVersion;
  p.target_tps = o.target_tps;
  p.errors_per_second = o.errors_per_second;
  p.rare_sampler = o.rare_sampler;
  p.ignore_resources = o.ignore_resources;
  p.obfuscation = o.obfuscation;
  return p;
}

}  // namespace

TraceReceiver::TraceReceiver(uv_loop_t* loop, Telemetry& telemetry, Options options,
                             Forwarder* forwarder)
    : loop_(loop),
      telemetry_(telemetry),
      options_(std::move(options)),
      forwarder_(forwarder),
      pipeline_(pipelineOptions(options_)),
      requests_(telemetry.counter("outpost.traces.requests", {}, "trace requests received")),
      bytes_received_(
          telemetry.counter("outpost.traces.bytes_received", {}, "trace request body bytes")),
      decode_errors_(telemetry.counter("outpost.traces.decode_errors", {},
                                       "trace requests refused as malformed (400)")),
      traces_received_(telemetry.counter("outpost.traces.received", {}, "traces received")),
      spans_received_(telemetry.counter("outpost.traces.spans_received", {}, "spans received")),
      dropped_invalid_(telemetry.counter("outpost.traces.dropped", {"reason:invalid"},
                                         "traces dropped by normalization")),
      dropped_ignored_(telemetry.counter("outpost.traces.dropped", {"reason:ignore_resources"},
                                         "traces dropped by apm_config.ignore_resources")),
      dropped_sampling_(telemetry.counter("outpost.traces.dropped", {"reason:sampling"},
                                          "traces the samplers did not keep")),
      dropped_overload_(telemetry.counter("outpost.traces.dropped", {"reason:overload"},
                                          "trace requests refused while the intake is behind")),
      kept_(telemetry.counter("outpost.traces.kept", {}, "traces kept and sent")),
      payloads_sent_(telemetry.counter("outpost.traces.payloads_sent", {},
                                       "AgentPayloads the intake acknowledged")),
      stats_payloads_sent_(telemetry.counter("outpost.traces.stats_payloads_sent", {},
                                             "APM stats payloads the intake acknowledged")),
      client_stats_(telemetry.counter("outpost.traces.client_stats_payloads", {},
                                      "client-computed stats payloads received (/v0.6/stats)")),
      local_dropped_(telemetry.counter("outpost.traces.local_dropped", {},
                                       "payloads dropped because forwarding is off (local mode)")),
      dogstatsd_lines_(telemetry.counter("outpost.traces.dogstatsd_proxy_bytes", {},
                                         "bytes received on /dogstatsd/v1|v2/proxy")),
      proxied_discarded_(telemetry.counter(
          "outpost.traces.proxy_discarded", {},
          "requests to tracer proxies Outpost does not forward (telemetry, profiling, ...)")) {
  info_json_ = buildInfo();
  agent_state_ = hashHex(info_json_);
}

TraceReceiver::~TraceReceiver() = default;

std::string TraceReceiver::buildInfo() const {
  std::string j = "{\n\t\"version\": \"";
  j += kDatadogAgentCompatVersion;
  j += "\",\n\t\"git_commit\": \"outpost-";
  j += versionString();
  j += "\",\n\t\"endpoints\": [";
  bool first = true;
  for (auto e : infoEndpoints()) {
    j += first ? "\n\t\t\"" : ",\n\t\t\"";
    j += e;
    j += "\"";
    first = false;
  }
  j += "\n\t],\n\t\"client_drop_p0s\": true,\n\t\"span_meta_structs\": true,"
       "\n\t\"long_running_spans\": true,\n\t\"span_events\": true,"
       "\n\t\"evp_proxy_allowed_headers\": [],\n\t\"peer_tags\": [],"
       "\n\t\"span_kinds_stats_computed\": [\"server\", \"consumer\", \"client\", \"producer\"],"
       "\n\t\"config\": {\n\t\t\"default_env\": ";
  appendJsonString(j, options_.env);
  j += fmt::format(
      ",\n\t\t\"target_tps\": {},\n\t\t\"max_eps\": 200,\n\t\t\"receiver_port\": {},"
      "\n\t\t\"receiver_socket\": ",
      options_.target_tps, options_.port);
  appendJsonString(j, options_.socket_path);
  j += fmt::format(
      ",\n\t\t\"connection_limit\": {},\n\t\t\"receiver_timeout\": {},"
      "\n\t\t\"max_request_bytes\": {},\n\t\t\"statsd_port\": 8125,\n\t\t\"max_memory\": 0,"
      "\n\t\t\"max_cpu\": 0,\n\t\t\"analyzed_spans_by_service\": {{}},"
      "\n\t\t\"obfuscation\": {{\n\t\t\t\"elastic_search\": false,\n\t\t\t\"mongo\": false,"
      "\n\t\t\t\"sql_exec_plan\": false,\n\t\t\t\"sql_exec_plan_normalize\": false,"
      "\n\t\t\t\"http\": {{\n\t\t\t\t\"remove_query_string\": {},"
      "\n\t\t\t\t\"remove_paths_with_digits\": {}\n\t\t\t}},"
      "\n\t\t\t\"remove_stack_traces\": false,\n\t\t\t\"redis\": {},\n\t\t\t\"memcached\": {}"
      "\n\t\t}}\n\t}}\n}}\n",
      options_.connection_limit, options_.receiver_timeout_ms / 1000, options_.max_payload_bytes,
      options_.obfuscation.http_remove_query_string,
      options_.obfuscation.http_remove_paths_with_digits, options_.obfuscation.redis,
      options_.obfuscation.memcached);
  return j;
}

bool TraceReceiver::start() {
  std::string error;
  if (!pipeline_.init(&error)) {
    LOG_ERROR("traces", "apm_config.ignore_resources: {}", error);
    return false;
  }
  HttpServer::Options so;
  so.name = "traces";
  so.max_body_bytes = options_.max_payload_bytes;
  so.header_timeout_ms = options_.receiver_timeout_ms;
  so.max_connections = options_.connection_limit;
  server_ = std::make_unique<HttpServer>(
      loop_, so,
      [this](HttpRequest& req, HttpServer::Respond respond) { handle(req, std::move(respond)); },
      telemetry_);
  if (options_.port > 0 && !server_->listenTcp(options_.bind_host, options_.port, &error)) {
    LOG_ERROR("traces", "trace receiver: {}", error);
    return false;
  }
  if (!options_.socket_path.empty() && !server_->listenUnix(options_.socket_path, 0722, &error)) {
    LOG_ERROR("traces", "trace receiver: {}", error);
    return false;
  }
  flush_timer_ = std::make_unique<Timer>(loop_, [this] { flushTraces(); });
  flush_timer_->start(static_cast<uint64_t>(options_.flush_interval_ms),
                      static_cast<uint64_t>(options_.flush_interval_ms));
  stats_timer_ = std::make_unique<Timer>(loop_, [this] { flushStats(false); });
  stats_timer_->start(static_cast<uint64_t>(options_.stats_flush_interval_ms),
                      static_cast<uint64_t>(options_.stats_flush_interval_ms));
  rates_timer_ =
      std::make_unique<Timer>(loop_, [this] { pipeline_.sampler().updateRates(nowNs()); });
  rates_timer_->start(1000, 1000);
  LOG_INFO("traces", "trace receiver listening on {}{}{}",
           options_.port > 0 ? fmt::format("{}:{}", options_.bind_host, port()) : "",
           options_.port > 0 && !options_.socket_path.empty() ? " and " : "", options_.socket_path);
  if (forwarder_ == nullptr) {
    LOG_INFO("traces", "local mode: traces and APM stats are processed and counted, not sent");
  }
  return true;
}

void TraceReceiver::stop(std::function<void()> done) {
  stopping_ = true;
  flush_timer_.reset();
  stats_timer_.reset();
  rates_timer_.reset();
  auto finish = [this, done = std::move(done)] {
    flushTraces();
    flushStats(true);
    done();
  };
  if (!server_) {
    finish();
    return;
  }
  server_->shutdown(std::move(finish));
}

int TraceReceiver::port() const {
  return server_ ? server_->port() : 0;
}

HttpResponse TraceReceiver::withAgentHeaders(HttpResponse r) const {
  r.headers.emplace_back("Datadog-Agent-Version", kDatadogAgentCompatVersion);
  r.headers.emplace_back("Datadog-Agent-State", agent_state_);
  return r;
}

void TraceReceiver::handle(HttpRequest& req, HttpServer::Respond respond) {
  const std::string_view path = req.path;
  if (req.header("sec-fetch-site") == "cross-site") {
    respond(withAgentHeaders(HttpResponse::text(403, "cross-site requests are refused\n")));
    return;
  }
  if (path == "/v0.4/traces") {
    handleTraces(TraceApiVersion::kV04, req, std::move(respond));
  } else if (path == "/v0.5/traces") {
    handleTraces(TraceApiVersion::kV05, req, std::move(respond));
  } else if (path == "/v0.7/traces") {
    handleTraces(TraceApiVersion::kV07, req, std::move(respond));
  } else if (path == "/v0.3/traces") {
    handleTraces(TraceApiVersion::kV03, req, std::move(respond));
  } else if (path == "/v0.6/stats") {
    handleClientStats(req, std::move(respond));
  } else if (path == "/info") {
    HttpResponse r = HttpResponse::json(200, info_json_);
    respond(withAgentHeaders(std::move(r)));
  } else if (path == "/v0.3/services" || path == "/v0.4/services") {
    respond(withAgentHeaders(HttpResponse::text(200, "OK\n")));
  } else if (path == "/dogstatsd/v1/proxy" || path == "/dogstatsd/v2/proxy") {
    handleDogstatsd(req, std::move(respond));
  } else if (isDiscardedProxy(path)) {
    proxied_discarded_.inc();
    respond(withAgentHeaders(HttpResponse::json(202, "{}")));
  } else {
    respond(withAgentHeaders(HttpResponse::json(
        404,
        fmt::format(R"({{"error":"not found","detail":"no endpoint {}"}})", jsonString(path)))));
  }
}

Counter& TraceReceiver::serviceCounter(std::string_view name, std::string_view service,
                                       std::string_view lang) {
  std::string key = fmt::format("{}|{}|{}", name, service, lang);
  auto it = service_counters_.find(key);
  if (it != service_counters_.end()) {
    return *it->second;
  }
  if (service_counters_.size() >= kMaxServiceCounters) {
    key = fmt::format("{}|other|{}", name, lang);
    if (auto o = service_counters_.find(key); o != service_counters_.end()) {
      return *o->second;
    }
    service = "other";
  }
  Counter& c = telemetry_.counter(
      name,
      {fmt::format("service:{}", service), fmt::format("lang:{}", lang.empty() ? "unknown" : lang)},
      "per service and tracer language");
  service_counters_.emplace(std::move(key), &c);
  return c;
}

void TraceReceiver::handleTraces(TraceApiVersion version, HttpRequest& req,
                                 HttpServer::Respond respond) {
  requests_.inc();
  bytes_received_.inc(req.body.size());
  const std::string_view lang_header = req.header("datadog-meta-lang");
  auto rates = [&](int status) {
    if (version == TraceApiVersion::kV03) {
      return withAgentHeaders(HttpResponse::text(status, "OK\n"));
    }
    Sampler& sampler = pipeline_.sampler();
    const std::string version_now = std::to_string(sampler.ratesVersion());
    HttpResponse r =
        HttpResponse::json(status, req.header("datadog-rates-payload-version") == version_now
                                       ? std::string("{}")
                                       : sampler.rateByServiceJson());
    r.headers.emplace_back("Datadog-Rates-Payload-Version", version_now);
    return withAgentHeaders(std::move(r));
  };
  if (stopping_ || *pending_bytes_ > options_.max_pending_bytes) {
    dropped_overload_.inc();
    respond(rates(req.hasHeader("datadog-send-real-http-status") ? 429 : 200));
    return;
  }

  auto dp = std::make_unique<DecodedPayload>();
  dp->body = std::move(req.body);
  std::string error;
  if (!decodeTraces(version, req.header("content-type"), *dp, &error)) {
    decode_errors_.inc();
    LOG_DEBUG("traces", "{} from {}: {} (400)", req.path, req.peer_address, error);
    respond(withAgentHeaders(HttpResponse::text(400, error + "\n")));
    return;
  }
  TracerPayload& p = dp->payload;
  if (version != TraceApiVersion::kV07) {
    p.language_name = lang_header;
    p.language_version = req.header("datadog-meta-lang-version");
    p.tracer_version = req.header("datadog-meta-tracer-version");
    p.container_id = req.header("datadog-container-id");
  }
  TracePipeline::Request request;
  request.client_computed_top_level = !req.header("datadog-client-computed-top-level").empty();
  request.client_computed_stats = clientComputedStats(req.header("datadog-client-computed-stats"));
  const TracePipeline::Result r = pipeline_.process(*dp, request, nowNs());
  LOG_DEBUG("traces",
            "{} from {}: {} traces, {} spans; kept {}, sampled out {}, invalid {}, ignored {}",
            req.path, p.language_name.empty() ? "?" : p.language_name, r.traces, r.spans, r.kept,
            r.dropped_sampling, r.dropped_invalid, r.dropped_ignored);
  traces_received_.inc(r.traces);
  spans_received_.inc(r.spans);
  dropped_invalid_.inc(r.dropped_invalid);
  dropped_ignored_.inc(r.dropped_ignored);
  dropped_sampling_.inc(r.dropped_sampling);
  kept_.inc(r.kept);
  for (const auto& chunk : p.chunks) {
    const Span& root = chunk.spans[rootSpanIndex(chunk)];
    serviceCounter("outpost.traces.received_by_service", root.service, p.language_name).inc();
    serviceCounter("outpost.traces.spans_by_service", root.service, p.language_name)
        .inc(chunk.spans.size());
  }
  if (pipeline_.buffer().bytes() >= options_.max_buffer_bytes) {
    flushTraces();
  }
  respond(rates(200));
  if (r.kept > 0 && options_.on_kept) {
    options_.on_kept(std::move(dp));
  }
}

void TraceReceiver::handleClientStats(HttpRequest& req, HttpServer::Respond respond) {
  requests_.inc();
  bytes_received_.inc(req.body.size());
  ClientStatsPayload cs;
  std::string error;
  if (!decodeClientStatsPayload(req.body, &cs, &error)) {
    decode_errors_.inc();
    respond(withAgentHeaders(HttpResponse::text(400, error + "\n")));
    return;
  }
  client_stats_.inc();
  submit("/api/v0.2/stats", "application/msgpack", wrapClientStats(cs, pipeline_.statsOptions()),
         {}, stats_payloads_sent_);
  respond(withAgentHeaders(HttpResponse::text(200, "")));
}

void TraceReceiver::handleDogstatsd(HttpRequest& req, HttpServer::Respond respond) {
  dogstatsd_lines_.inc(req.body.size());
  if (options_.dogstatsd) {
    options_.dogstatsd(req.body);
  }
  respond(withAgentHeaders(HttpResponse::text(200, "")));
}

void TraceReceiver::flushTraces() {
  AgentPayloadBuffer& buffer = pipeline_.buffer();
  if (buffer.empty()) {
    return;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  const std::string langs = buffer.languages();
  if (!langs.empty()) {
    headers.emplace_back("X-Datadog-Reported-Languages", langs);
  }
  submit("/api/v0.2/traces", "application/x-protobuf", buffer.take(), std::move(headers),
         payloads_sent_);
}

void TraceReceiver::flushStats(bool force) {
  for (auto& body : pipeline_.concentrator().flush(nowNs(), force)) {
    submit("/api/v0.2/stats", "application/msgpack", std::move(body), {}, stats_payloads_sent_);
  }
}

void TraceReceiver::submit(std::string route, std::string content_type, std::string body,
                           std::vector<std::pair<std::string, std::string>> headers,
                           Counter& sent) {
  if (forwarder_ == nullptr) {
    local_dropped_.inc();
    return;
  }
  Payload p;
  p.intake = IntakeKind::kTraces;
  p.route = std::move(route);
  p.content_type = std::move(content_type);
  p.headers = std::move(headers);
  const size_t size = body.size();
  p.body = std::move(body);
  *pending_bytes_ += size;
  Counter* delivered = &sent;  // telemetry outlives every component
  const auto result = forwarder_->submit(
      std::move(p), [pending = pending_bytes_, size, delivered](const AckResult& r) {
        *pending -= std::min<uint64_t>(*pending, size);
        if (r.delivered) {
          delivered->inc();
        }
      });
  if (result != Forwarder::SubmitResult::kAccepted) {
    *pending_bytes_ -= std::min<uint64_t>(*pending_bytes_, size);
    dropped_overload_.inc();
  }
}

void TraceReceiver::resources(Resources& out) const {
  out.push_back({.name = "traces.connections",
                 .unit = "connections",
                 .used = server_ ? server_->openConnections() : 0,
                 .limit = options_.connection_limit,
                 .key = "apm_config.connection_limit",
                 .note = "past it new connections are closed at once and counted"});
  out.push_back({.name = "traces.pending",
                 .unit = "bytes",
                 .used = *pending_bytes_,
                 .limit = options_.max_pending_bytes,
                 .key = "",
                 .note = "handed to the forwarder, not acknowledged; past it requests are "
                         "refused as overload (counted); the last request taken may pass it",
                 .slack = options_.max_payload_bytes + options_.max_buffer_bytes});
  out.push_back({.name = "traces.buffer",
                 .unit = "bytes",
                 .used = pipeline_.buffer().bytes(),
                 .limit = options_.max_buffer_bytes,
                 .key = "",
                 .note = "kept chunks encoded; sent as an AgentPayload when it passes the limit",
                 .full_is_normal = true});
  const Concentrator& stats = pipeline_.concentrator();
  out.push_back({.name = "traces.stats_groups",
                 .unit = "groups",
                 .used = stats.memoryEntries(),
                 .limit = stats.maxEntries(),
                 .key = "",
                 .note = fmt::format("APM stats aggregation keys in the open buckets; past it "
                                     "spans of new keys are left out ({} so far)",
                                     stats.droppedSpans())});
  out.push_back({.name = "traces.sampler_signatures",
                 .unit = "signatures",
                 .used = pipeline_.sampler().signatures(),
                 .limit = pipeline_.sampler().maxSignatures(),
                 .key = "",
                 .note = "(service, env) pairs with a rate of their own; more share the default"});
  const Obfuscator& obfuscator = pipeline_.obfuscator();
  if (obfuscator.options().cache) {
    out.push_back({.name = "traces.obfuscation_cache",
                   .unit = "bytes",
                   .used = obfuscator.cacheStats().bytes,
                   .limit = obfuscator.options().cache_max_bytes,
                   .key = "apm_config.obfuscation.cache.max_size",
                   .note = "SQL obfuscations already computed; when full it starts over",
                   .full_is_normal = true});
  }
}

}  // namespace outpost::traces
