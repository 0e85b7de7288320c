#include "collector/cli.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "checks/host_metadata.h"
#include "checks/runner.h"
#include "collector/daemon.h"
#include "collector/query/query_client.h"
#include "collector/query/query_service.h"
#include "collector/sources/dogstatsd/dogstatsd_source.h"
#include "collector/sources/logs/logs_source.h"
#include "collector/sources/logs/source_config.h"
#include "collector/sources/traces/trace_receiver.h"
#include "core/allocator.h"
#include "core/config.h"
#include "core/config_render.h"
#include "core/log.h"
#include "core/version.h"
#include "forwarder/forwarder.h"

namespace outpost {
namespace {

constexpr const char* kUsage =
    "usage: outpost COMMAND [options]\n"
    "\n"
    "Outpost: a light host agent for Datadog users.\n"
    "\n"
    "commands:\n"
    "  run           run the agent in the foreground\n"
    "  configcheck   print the resolved configuration (secrets redacted) and every conf.d entry\n"
    "  check NAME    run one host check (twice, for its rates) and print what it reports\n"
    "  status        ask the running agent for its status over the query socket\n"
    "  version       print the version, build and linked library versions\n"
    "\n"
    "`outpost COMMAND --help` describes one command.\n";

constexpr const char* kRunUsage =
    "usage: outpost run [-c PATH]\n"
    "\n"
    "Runs the agent in the foreground until SIGTERM or SIGINT (graceful; a second signal exits\n"
    "at once). SIGHUP reloads the configuration; a broken one is rejected and the old one kept.\n"
    "Logs go to stderr (journald under systemd, which it notifies when ready).\n"
    "\n"
    "options:\n"
    "  -c, --config PATH   directory holding outpost.yaml and conf.d/, or the outpost.yaml\n"
    "                      file itself (default /etc/outpost)\n"
    "  -h, --help          this text\n";

constexpr const char* kConfigcheckUsage =
    "usage: outpost configcheck [-c PATH]\n"
    "\n"
    "Loads the configuration as `outpost run` would (outpost.yaml, then DD_* environment\n"
    "variables, then conf.d), prints it as YAML with secrets redacted and each value's origin,\n"
    "then every conf.d entry. Warnings and errors go to stderr. Exits 0 when the configuration\n"
    "is valid, 1 when it is not.\n"
    "\n"
    "options:\n"
    "  -c, --config PATH   directory holding outpost.yaml and conf.d/, or the file itself\n"
    "                      (default /etc/outpost)\n"
    "  -h, --help          this text\n";

constexpr const char* kCheckUsage =
    "usage: outpost check NAME [-c PATH] [--json]\n"
    "\n"
    "Runs the host check NAME (cpu, load, memory, uptime, file_handle, disk, io, network,\n"
    "process) with each instance configured in conf.d/NAME.d (or one default instance when\n"
    "none is), twice one second apart so that rates have a previous value, and prints the\n"
    "second run's series and service checks. Nothing is sent. Exits 1 when a run fails.\n"
    "\n"
    "options:\n"
    "  -c, --config PATH   directory holding outpost.yaml and conf.d/, or the file itself\n"
    "                      (default /etc/outpost)\n"
    "  --json              print JSON instead of a table\n"
    "  -h, --help          this text\n";

constexpr const char* kStatusUsage =
    "usage: outpost status [-c PATH] [--json]\n"
    "\n"
    "Asks the running agent over its query socket (query_socket) for its status: forwarding,\n"
    "endpoints, log files, check runs, DogStatsD and its own counters. Exits 1 when the agent\n"
    "does not answer, saying why.\n"
    "\n"
    "options:\n"
    "  -c, --config PATH   directory holding outpost.yaml and conf.d/, or the file itself\n"
    "                      (default /etc/outpost)\n"
    "  --json              print the JSON document as the socket returns it\n"
    "  -h, --help          this text\n";

constexpr const char* kVersionUsage =
    "usage: outpost version\n"
    "\n"
    "Prints the version, git commit, build type and the versions of the linked libraries.\n";

struct Options {
  std::string config = kDefaultConfigPath;
  bool help = false;
  bool json = false;       // check
  std::string check_name;  // check
};

// Parses `-c PATH`, `--config PATH`, `--config=PATH`, `-h`, `--help`. Returns false after
// printing the reason on a bad argument.
bool parseOptions(std::string_view command, const std::vector<std::string_view>& args,
                  bool takes_config, Options& opts) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "-h" || a == "--help") {
      opts.help = true;
    } else if (takes_config && (a == "-c" || a == "--config")) {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "outpost %.*s: %.*s needs a PATH\n", int(command.size()),
                     command.data(), int(a.size()), a.data());
        return false;
      }
      opts.config = std::string(args[++i]);
    } else if (takes_config && a.starts_with("--config=")) {
      opts.config = std::string(a.substr(9));
    } else if ((command == "check" || command == "status") && a == "--json") {
      opts.json = true;
    } else if (command == "check" && opts.check_name.empty() && !a.starts_with("-")) {
      opts.check_name = std::string(a);
    } else {
      std::fprintf(stderr, "outpost %.*s: unknown argument '%.*s' (see outpost %.*s --help)\n",
                   int(command.size()), command.data(), int(a.size()), a.data(),
                   int(command.size()), command.data());
      return false;
    }
  }
  return true;
}

void printMessages(const std::vector<ConfigMessage>& messages, const char* kind) {
  for (const auto& m : messages) {
    std::fprintf(stderr, "%s: %s\n", kind, m.format().c_str());
  }
}

// The log sources of conf.d are typed and validated by the logs pipeline (their rules are
// compiled); their errors count as configuration errors.
void checkLogSources(ConfigResult& result) {
  if (!result.loaded) {
    return;
  }
  std::vector<ConfigMessage> errors;
  logs::parseLogSources(result.loaded->confd, errors, result.warnings);
  logs::parseGlobalRules(result.loaded->config.logs_config.processing_rules, errors);
  if (!errors.empty()) {
    result.errors.insert(result.errors.end(), errors.begin(), errors.end());
    result.loaded.reset();
  }
}

// The host checks' instances are configured once here, so a bad setting is a configuration
// error with its file, line and key (configcheck and run).
void checkHostChecks(ConfigResult& result) {
  if (!result.loaded) {
    return;
  }
  std::vector<ConfigMessage> errors;
  checks::parseCheckInstances(result.loaded->confd, errors, result.warnings);
  if (!errors.empty()) {
    result.errors.insert(result.errors.end(), errors.begin(), errors.end());
    result.loaded.reset();
  }
}

// apm_config.ignore_resources patterns are compiled here too, so a bad one is a configuration
// error with its file and line (configcheck and run), not a receiver that fails to start.
void checkTraceConfig(ConfigResult& result) {
  if (!result.loaded) {
    return;
  }
  const auto& patterns = result.loaded->config.apm_config.ignore_resources;
  traces::ResourceFilter filter;
  std::string error;
  if (filter.compile(patterns, &error)) {
    return;
  }
  ConfigMessage m;
  m.key = "apm_config.ignore_resources";
  m.text = error;
  if (auto it = result.loaded->origins.find(m.key); it != result.loaded->origins.end()) {
    m.file = it->second.file;
    m.line = it->second.line;
    m.column = it->second.column;
    m.env = it->second.env;
  }
  result.errors.push_back(std::move(m));
  result.loaded.reset();
}

int cmdConfigcheck(const Options& opts) {
  ConfigResult result = loadConfig(opts.config);
  checkLogSources(result);
  checkTraceConfig(result);
  checkHostChecks(result);
  printMessages(result.warnings, "warning");
  if (!result.loaded) {
    printMessages(result.errors, "error");
    std::fprintf(stderr, "configuration is invalid: %zu error%s\n", result.errors.size(),
                 result.errors.size() == 1 ? "" : "s");
    return 1;
  }
  std::fputs(renderConfigcheck(*result.loaded).c_str(), stdout);
  return 0;
}

// query_socket as configured; in local mode, when left at its default, run_path/query.sock
// (a newcomer's `./dev run` need not own /run/outpost).
std::string querySocketPath(const LoadedConfig& loaded) {
  const Config& c = loaded.config;
  const auto it = loaded.origins.find("query_socket");
  const bool defaulted =
      it == loaded.origins.end() || it->second.kind == ConfigOrigin::Kind::kDefault;
  if (c.localMode() && defaulted) {
    return c.run_path + "/query.sock";
  }
  return c.query_socket;
}

nlohmann::json forwarderStatus(const Forwarder& f) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : f.status()) {
    out.push_back({{"endpoint", e.name},
                   {"url", e.url},
                   {"primary", e.primary},
                   {"delivered", e.delivered},
                   {"retries", e.retries},
                   {"dropped", e.dropped},
                   {"bytes_sent", e.bytes_sent},
                   {"queued", e.queued},
                   {"queued_bytes", e.queued_bytes},
                   {"spool_bytes", e.spool_bytes},
                   {"spool_records", e.spool_records},
                   {"last_error", e.last_error},
                   {"last_latency_ms", e.last_latency_ms},
                   {"api_key_invalid", e.api_key_invalid}});
  }
  return nlohmann::json{{"endpoints", out}};
}

nlohmann::json logsStatus(const logs::LogsSource& l) {
  const auto st = l.status();
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : st.files) {
    files.push_back({{"path", f.path},
                     {"source", f.source},
                     {"draining", f.draining},
                     {"size", f.size},
                     {"offset_read", f.offset_read},
                     {"offset_committed", f.offset_committed},
                     {"lag_bytes", f.size > f.offset_committed ? f.size - f.offset_committed : 0},
                     {"bytes_read", f.stats.bytes_read},
                     {"lines", f.stats.lines},
                     {"dropped_by_rule", f.stats.dropped_by_rule},
                     {"truncated", f.stats.truncated},
                     {"truncations_seen", f.stats.truncations_seen},
                     {"last_error", f.stats.last_error}});
  }
  return nlohmann::json{{"files", files},
                        {"not_tailed", st.not_tailed},
                        {"errors", st.errors},
                        {"rotations", st.rotations}};
}

nlohmann::json checksStatus(const checks::CheckRunner& r) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& i : r.status()) {
    out.push_back({{"check", i.check},
                   {"config", i.file},
                   {"interval_s", i.interval_s},
                   {"runs", i.runs},
                   {"failures", i.failures},
                   {"skipped", i.skipped},
                   {"last_run", i.last_run},
                   {"last_duration_ms", i.last_duration_ms},
                   {"last_series", i.last_series},
                   {"last_error", i.last_error},
                   {"status", i.runs == 0            ? "pending"
                              : i.last_error.empty() ? "OK"
                                                     : "ERROR"}});
  }
  return nlohmann::json{{"instances", out}};
}

nlohmann::json resourcesStatus(const Resources& resources) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : resources) {
    out.push_back({{"name", r.name},
                   {"unit", r.unit},
                   {"used", r.used},
                   {"limit", r.limit},
                   {"used_ratio",
                    r.limit > 0 ? static_cast<double>(r.used) / static_cast<double>(r.limit) : 0.0},
                   {"key", r.key},
                   {"note", r.note},
                   {"full_is_normal", r.full_is_normal},
                   {"slack", r.slack}});
  }
  return out;
}

nlohmann::json telemetryStatus(const Telemetry& t) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& s : t.snapshot()) {
    std::string key = s.name;
    if (!s.tags.empty()) {
      key += "{";
      for (size_t i = 0; i < s.tags.size(); ++i) {
        key += (i ? "," : "") + s.tags[i];
      }
      key += "}";
    }
    out[key] = s.value;
  }
  return out;
}

const char* seriesTypeName(SeriesType t) {
  switch (t) {
    case SeriesType::kCount:
      return "count";
    case SeriesType::kRate:
      return "rate";
    case SeriesType::kGauge:
      return "gauge";
  }
  return "gauge";
}

int cmdCheck(const Options& opts) {
  if (opts.check_name.empty()) {
    std::fputs(kCheckUsage, stderr);
    return 2;
  }
  const auto& names = checks::builtinChecks();
  if (std::find(names.begin(), names.end(), opts.check_name) == names.end()) {
    std::fprintf(stderr,
                 "outpost check: no check named '%s' (built in: cpu, load, memory, "
                 "uptime, file_handle, disk, io, network, process)\n",
                 opts.check_name.c_str());
    return 2;
  }
  ConfigResult result = loadConfig(opts.config);
  checkHostChecks(result);
  printMessages(result.warnings, "warning");
  if (!result.loaded) {
    printMessages(result.errors, "error");
    return 1;
  }
  std::vector<ConfigMessage> errors, warnings;
  std::vector<checks::InstanceConfig> instances;
  for (auto& i : checks::parseCheckInstances(result.loaded->confd, errors, warnings)) {
    if (i.check == opts.check_name) {
      instances.push_back(std::move(i));
    }
  }
  if (instances.empty()) {
    checks::InstanceConfig i;
    i.check = opts.check_name;
    i.file = "(no conf.d/" + opts.check_name + ".d: a default instance)";
    instances.push_back(std::move(i));
  }
  const checks::HostPaths paths = checks::hostPathsFrom(result.loaded->config);
  const std::string& host = result.loaded->config.hostname;
  nlohmann::json out = nlohmann::json::array();
  int rc = 0;
  for (const auto& inst : instances) {
    auto check = checks::makeCheck(inst.check, paths);
    checks::Sender sender;
    std::string error;
    checks::Sender::Output output;
    double took_ms = 0;
    try {
      check->configure(inst.init_config, inst.instance);
      for (int run = 0; run < 2; ++run) {
        if (run == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
        }
        const auto t0 = std::chrono::steady_clock::now();
        const double now =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        sender.setTime(now);
        check->run(sender);
        took_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count();
        output = sender.commit(now, host, inst.tags);
      }
    } catch (const checks::CheckError& e) {
      error = e.what();
      rc = 1;
    }
    nlohmann::json j;
    j["check"] = inst.check;
    j["config"] = inst.file;
    j["error"] = error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error);
    j["run_ms"] = took_ms;
    j["series"] = nlohmann::json::array();
    for (const auto& s : output.series) {
      nlohmann::json tags = s.tags;
      if (!s.device.empty()) {
        tags.push_back("device:" + s.device);
      }
      j["series"].push_back({{"metric", s.name},
                             {"type", seriesTypeName(s.type)},
                             {"points", s.points},
                             {"tags", tags},
                             {"host", s.host}});
    }
    out.push_back(std::move(j));
    if (!opts.json) {
      std::printf("=== %s (%s) ===\n", inst.check.c_str(), inst.file.c_str());
      if (!error.empty()) {
        std::printf("FAILED: %s\nservice check datadog.agent.check_status: CRITICAL (check:%s)\n\n",
                    error.c_str(), inst.check.c_str());
        continue;
      }
      std::printf("%-44s %-6s %16s  %s\n", "METRIC", "TYPE", "VALUE", "TAGS");
      for (const auto& s : output.series) {
        std::string tags = s.device.empty() ? "" : "device:" + s.device;
        for (const auto& t : s.tags) {
          tags += (tags.empty() ? "" : ",") + t;
        }
        std::printf("%-44s %-6s %16.4f  %s\n", s.name.c_str(), seriesTypeName(s.type),
                    s.points.empty() ? 0.0 : s.points[0].second, tags.c_str());
      }
      std::printf("%zu series on host %s; run took %.2f ms\n", output.series.size(), host.c_str(),
                  took_ms);
      std::printf("service check datadog.agent.check_status: OK (check:%s)\n\n",
                  inst.check.c_str());
    }
  }
  if (opts.json) {
    std::puts(out.dump(2).c_str());
  }
  return rc;
}

void printSection(const char* title) {
  const std::string line(std::strlen(title), '=');
  std::printf("\n%s\n%s\n%s\n", line.c_str(), title, line.c_str());
}

// 1536 -> "1.5 KiB"; below 1 KiB in bytes.
std::string humanBytes(uint64_t v) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (v < 1024) {
    return fmt::format("{} B", v);
  }
  double x = static_cast<double>(v) / 1024;
  size_t u = 0;
  while (x >= 1024 && u + 1 < std::size(kUnits)) {
    x /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", x, kUnits[u]);
}

std::string jsonText(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

int cmdStatus(const Options& opts) {
  ConfigResult result = loadConfig(opts.config);
  if (!result.loaded) {
    printMessages(result.errors, "error");
    return 1;
  }
  const std::string socket = querySocketPath(*result.loaded);
  const query::ClientResult r = query::queryGet(socket, "/v1/status");
  if (!r.ok) {
    if (r.error_number == ENOENT || r.error_number == ECONNREFUSED) {
      std::fprintf(stderr,
                   "outpost is not running: nothing answers on %s (is outpost running? try "
                   "`systemctl status outpost`, or start it with `outpost run -c %s`)\n",
                   socket.c_str(), opts.config.c_str());
    } else if (r.error_number == EACCES) {
      std::fprintf(stderr,
                   "permission denied on %s: join its group (sudo usermod -aG %s $USER, then log "
                   "in again) or run as root\n",
                   socket.c_str(), result.loaded->config.query_socket_group.c_str());
    } else {
      std::fprintf(stderr, "outpost did not answer on %s: %s\n", socket.c_str(), r.error.c_str());
    }
    return 1;
  }
  if (r.status != 200) {
    std::fprintf(stderr, "outpost answered %d: %s\n", r.status, r.body.c_str());
    return 1;
  }
  if (opts.json) {
    std::puts(r.body.c_str());
    return 0;
  }
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) {
    std::fprintf(stderr, "outpost answered something that is not JSON\n");
    return 1;
  }
  printSection(("Outpost (v" + jsonText(j["version"]) + ")").c_str());
  std::printf("  Pid: %s\n  Hostname: %s\n  Config: %s\n  Uptime: %.0f s\n  Forwarding: %s\n",
              jsonText(j["pid"]).c_str(), jsonText(j["hostname"]).c_str(),
              jsonText(j["config_file"]).c_str(), j.value("uptime_s", 0.0),
              jsonText(j["forwarding"]).c_str());
  if (j.contains("warnings") && j["warnings"].is_array() && !j["warnings"].empty()) {
    printSection("Warnings");
    for (const auto& w : j["warnings"]) {
      std::printf("  %s\n", jsonText(w).c_str());
    }
  }
  if (j.contains("forwarder")) {
    printSection("Forwarder");
    for (const auto& e : j["forwarder"]["endpoints"]) {
      std::printf(
          "  %s (%s)%s\n    delivered %s, retries %s, dropped %s, queued %s, spooled %s "
          "records%s%s\n",
          jsonText(e["endpoint"]).c_str(), jsonText(e["url"]).c_str(),
          e.value("primary", false) ? "" : " [additional]", jsonText(e["delivered"]).c_str(),
          jsonText(e["retries"]).c_str(), jsonText(e["dropped"]).c_str(),
          jsonText(e["queued"]).c_str(), jsonText(e["spool_records"]).c_str(),
          e.value("api_key_invalid", false) ? "\n    API KEY REJECTED by the intake" : "",
          e.value("last_error", "").empty()
              ? ""
              : ("\n    last error: " + e.value("last_error", "")).c_str());
    }
  }
  if (j.contains("logs")) {
    printSection("Logs");
    for (const auto& f : j["logs"]["files"]) {
      std::printf(
          "  %s (%s)\n    read %s of %s bytes, committed %s (lag %s), %s lines, %s dropped "
          "by rules, %s truncated%s\n",
          jsonText(f["path"]).c_str(), jsonText(f["source"]).c_str(),
          jsonText(f["offset_read"]).c_str(), jsonText(f["size"]).c_str(),
          jsonText(f["offset_committed"]).c_str(), jsonText(f["lag_bytes"]).c_str(),
          jsonText(f["lines"]).c_str(), jsonText(f["dropped_by_rule"]).c_str(),
          jsonText(f["truncated"]).c_str(),
          f.value("last_error", "").empty()
              ? ""
              : ("\n    last error: " + f.value("last_error", "")).c_str());
    }
    if (!j["logs"]["not_tailed"].empty()) {
      std::printf("  not tailed (over open_files_limit): %zu files\n",
                  j["logs"]["not_tailed"].size());
    }
  }
  if (j.contains("checks")) {
    printSection("Checks");
    for (const auto& c : j["checks"]["instances"]) {
      std::printf("  %-12s [%s] every %.0f s: %s runs, %s failures, last %.2f ms, %s series%s\n",
                  jsonText(c["check"]).c_str(), jsonText(c["status"]).c_str(),
                  c.value("interval_s", 0.0), jsonText(c["runs"]).c_str(),
                  jsonText(c["failures"]).c_str(), c.value("last_duration_ms", 0.0),
                  jsonText(c["last_series"]).c_str(),
                  c.value("last_error", "").empty()
                      ? ""
                      : ("\n      error: " + c.value("last_error", "")).c_str());
    }
  }
  if (j.contains("dogstatsd")) {
    printSection("DogStatsD");
    std::printf("  contexts: %s\n", jsonText(j["dogstatsd"]["contexts"]).c_str());
  }
  if (j.contains("resources") && j["resources"].is_array()) {
    printSection("Resources (used / limit, the key that sets it)");
    for (const auto& r : j["resources"]) {
      const std::string unit = r.value("unit", "");
      const uint64_t used = r.value("used", uint64_t{0});
      const uint64_t limit = r.value("limit", uint64_t{0});
      const std::string amount = unit == "bytes" ? humanBytes(used) + " / " + humanBytes(limit)
                                                 : fmt::format("{} / {} {}", used, limit, unit);
      const double ratio = r.value("used_ratio", 0.0);
      const std::string key = r.value("key", "");
      std::printf("  %-36s %26s %4.0f %%  %s%s\n", r.value("name", "").c_str(), amount.c_str(),
                  ratio * 100, key.empty() ? "(fixed)" : key.c_str(),
                  ratio >= 0.9 && !r.value("full_is_normal", false) ? "  <- near its limit" : "");
    }
  }
  return 0;
}

int cmdRun(const Options& opts) {
  keepPayloadBuffersInTheHeap();
  ConfigResult result = loadConfig(opts.config);
  checkLogSources(result);
  checkTraceConfig(result);
  checkHostChecks(result);
  if (result.loaded) {
    Logger::instance().setLevel(
        parseLogLevel(result.loaded->config.log_level).value_or(LogLevel::kInfo));
  }
  for (const auto& w : result.warnings) {
    LOG_WARN("config", "{}", w.format());
  }
  if (!result.loaded) {
    for (const auto& e : result.errors) {
      LOG_ERROR("config", "{}", e.format());
    }
    LOG_ERROR("daemon",
              "not started: the configuration has {} error{} (check it with `outpost "
              "configcheck -c {}`)",
              result.errors.size(), result.errors.size() == 1 ? "" : "s", opts.config);
    return 1;
  }
  Daemon daemon(std::move(*result.loaded), opts.config);
  const Config& config = daemon.config().config;
  // Start order: the forwarder before the sources that feed it; they stop in reverse.
  Forwarder* forwarder = nullptr;
  if (!config.localMode()) {
    auto f = std::make_unique<Forwarder>(daemon.loop(), daemon.workers(), daemon.telemetry(),
                                         Forwarder::optionsFrom(config));
    forwarder = f.get();
    daemon.addComponent(std::move(f));
  }
  // What the query socket answers metric questions from: every flushed series, forwarded or
  // not (in local mode it is where they go).
  std::shared_ptr<query::MetricStore> metric_store;
  if (config.query.metrics_max_contexts > 0) {
    query::MetricStoreOptions mo;
    mo.retention_s = config.query.metrics_retention;
    mo.max_contexts = static_cast<size_t>(config.query.metrics_max_contexts);
    metric_store = std::make_shared<query::MetricStore>(mo);
  }
  checks::CheckRunner* check_runner = nullptr;
  {
    std::vector<ConfigMessage> errors, warnings;  // already reported by checkHostChecks
    checks::CheckRunner::Options o;
    o.hostname = config.hostname;
    o.host_tags = config.tags;
    o.paths = checks::hostPathsFrom(config);
    o.instances = checks::parseCheckInstances(daemon.config().confd, errors, warnings);
    auto runner = std::make_unique<checks::CheckRunner>(
        daemon.loop(), daemon.workers(), daemon.telemetry(), std::move(o), forwarder);
    check_runner = runner.get();
    if (metric_store) {
      runner->setSeriesObserver(
          [metric_store](const std::vector<Serie>& series) { metric_store->add(series); });
    }
    daemon.addComponent(std::move(runner));
    daemon.addComponent(std::make_unique<checks::HostMetadata>(
        daemon.loop(), daemon.telemetry(), config, forwarder, checks::HostMetadata::Options{}));
  }
  dogstatsd::DogStatsdSource* dogstatsd = nullptr;
  if (config.use_dogstatsd) {
    auto d = std::make_unique<dogstatsd::DogStatsdSource>(daemon.loop(), daemon.telemetry(), config,
                                                          forwarder);
    dogstatsd = d.get();
    if (metric_store) {
      d->setFlushObserver([metric_store](const std::vector<Serie>& series,
                                         const std::vector<SketchSerie>& sketches) {
        metric_store->add(series);
        metric_store->addSketches(sketches);
      });
    }
    daemon.addComponent(std::move(d));
  }
  std::shared_ptr<query::TraceStore> trace_store;
  if (config.apm_config.enabled &&
      (config.apm_config.receiver_port > 0 || !config.apm_config.receiver_socket.empty())) {
    auto options = traces::TraceReceiver::optionsFrom(config);
    if (dogstatsd != nullptr) {
      // The receiver stops before DogStatsD (reverse start order), so the pointer outlives it.
      options.dogstatsd = [dogstatsd](std::string_view lines) { dogstatsd->ingest(lines); };
    }
    if (config.query.traces_max_bytes > 0) {
      trace_store =
          std::make_shared<query::TraceStore>(static_cast<size_t>(config.query.traces_max_bytes));
      options.on_kept = [trace_store](std::unique_ptr<traces::DecodedPayload> payload) {
        trace_store->add(std::move(payload));
      };
    }
    daemon.addComponent(std::make_unique<traces::TraceReceiver>(daemon.loop(), daemon.telemetry(),
                                                                std::move(options), forwarder));
  }
  logs::LogsSource* logs_source = nullptr;
  std::shared_ptr<query::LogRing> recent_logs;
  if (config.logs_enabled) {
    std::vector<ConfigMessage> errors;  // already reported by checkLogSources
    auto l = std::make_unique<logs::LogsSource>(
        daemon.loop(), daemon.telemetry(), logs::LogsSource::optionsFrom(daemon.config(), errors),
        forwarder);
    logs_source = l.get();
    if (config.query.logs_buffer_bytes > 0) {
      recent_logs =
          std::make_shared<query::LogRing>(static_cast<size_t>(config.query.logs_buffer_bytes));
      l->setMessageObserver([recent_logs](const logs::LogMessage& m) { recent_logs->add(m); });
    }
    daemon.addComponent(std::move(l));
  } else {
    size_t sources = 0;
    for (const auto& entry : daemon.config().confd) {
      sources += entry.logs.size();
    }
    if (sources > 0) {
      LOG_WARN("logs",
               "{} log source(s) configured in conf.d but logs_enabled is false: not "
               "collected",
               sources);
    }
  }
  // The query socket starts last and stops first: the components it reads outlive it.
  {
    query::QueryService::Options qo;
    qo.socket_path = querySocketPath(daemon.config());
    qo.group = config.query_socket_group;
    qo.hostname = config.hostname;
    qo.config_file = daemon.config().config_file;
    qo.local_mode = config.localMode();
    const Daemon* d = &daemon;
    qo.config_text = [d] { return renderConfigcheck(d->config()); };
    for (const auto& w : result.warnings) {
      qo.config_warnings.push_back(w.format());
    }
    qo.max_concurrent_searches = static_cast<size_t>(config.query.max_concurrent_searches);
    qo.max_queued_searches = static_cast<size_t>(config.query.max_queued_searches);
    qo.search_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(config.query.search_timeout * 1000));
    qo.results_max_bytes = static_cast<size_t>(config.query.results_max_bytes);
    qo.results_ttl =
        std::chrono::milliseconds(static_cast<int64_t>(config.query.results_ttl * 1000));
    qo.cache_ttl = std::chrono::milliseconds(static_cast<int64_t>(config.query.cache_ttl * 1000));
    qo.cache_max_bytes = static_cast<size_t>(config.query.cache_max_bytes);
    qo.search_split_bytes = static_cast<uint64_t>(config.query.search_split_bytes);
    qo.metrics = metric_store;
    qo.traces = trace_store;
    qo.recent_logs = recent_logs;
    std::vector<ConfigMessage> errors, warnings;  // already reported by checkLogSources
    qo.log_sources = logs::parseLogSources(daemon.config().confd, errors, warnings);
    auto q = std::make_unique<query::QueryService>(daemon.loop(), daemon.workers(),
                                                   daemon.telemetry(), qo);
    if (forwarder != nullptr) {
      q->addSection("forwarder", [forwarder] { return forwarderStatus(*forwarder); });
    }
    if (logs_source != nullptr) {
      q->addSection("logs", [logs_source] { return logsStatus(*logs_source); });
    }
    if (check_runner != nullptr) {
      q->addSection("checks", [check_runner] { return checksStatus(*check_runner); });
    }
    if (dogstatsd != nullptr) {
      q->addSection("dogstatsd", [dogstatsd] {
        return nlohmann::json{{"contexts", dogstatsd->contexts()}};
      });
    }
    if (trace_store) {
      q->addSection("trace_store", [trace_store] { return trace_store->statusJson(); });
    }
    if (metric_store) {
      q->addSection("metric_store", [metric_store] { return metric_store->statusJson(); });
    }
    q->addSection("resources", [d] { return resourcesStatus(d->resources()); });
    Telemetry* telemetry = &daemon.telemetry();
    q->addSection("telemetry", [telemetry] { return telemetryStatus(*telemetry); });
    daemon.addComponent(std::move(q));
  }
  return daemon.run();
}

}  // namespace

int cliMain(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  std::vector<std::string_view> args(argv + 2, argv + argc);
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  Options opts;
  if (command == "run") {
    if (!parseOptions(command, args, true, opts)) {
      return 2;
    }
    if (opts.help) {
      std::fputs(kRunUsage, stdout);
      return 0;
    }
    return cmdRun(opts);
  }
  if (command == "configcheck") {
    if (!parseOptions(command, args, true, opts)) {
      return 2;
    }
    if (opts.help) {
      std::fputs(kConfigcheckUsage, stdout);
      return 0;
    }
    return cmdConfigcheck(opts);
  }
  if (command == "check") {
    if (!parseOptions(command, args, true, opts)) {
      return 2;
    }
    if (opts.help) {
      std::fputs(kCheckUsage, stdout);
      return 0;
    }
    return cmdCheck(opts);
  }
  if (command == "status") {
    if (!parseOptions(command, args, true, opts)) {
      return 2;
    }
    if (opts.help) {
      std::fputs(kStatusUsage, stdout);
      return 0;
    }
    return cmdStatus(opts);
  }
  if (command == "version" || command == "--version") {
    if (!parseOptions("version", args, false, opts)) {
      return 2;
    }
    std::fputs(opts.help ? kVersionUsage : versionReport().c_str(), stdout);
    return 0;
  }
  std::fprintf(stderr, "outpost: unknown command '%.*s'\n\n%s", int(command.size()), command.data(),
               kUsage);
  return 2;
}

}  // namespace outpost
