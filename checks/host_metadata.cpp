#include "checks/host_metadata.h"

#include <netdb.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "checks/runner.h"
#include "core/log.h"
#include "core/version.h"
#include "forwarder/encoders/series_encoder.h"
#include "forwarder/endpoints.h"

namespace outpost::checks {

namespace {

std::string readOr(const std::string& path, std::string fallback = {}) {
  try {
    return readFile(path);
  } catch (const CheckError&) {
    return fallback;
  }
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '"')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '"')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

bool isHex32(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string asUuid(const std::string& h) {
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::string hostUuid(const std::string& run_path) {
  const std::string machine = trim(readOr("/etc/machine-id"));
  if (isHex32(machine)) {
    return asUuid(machine);
  }
  const std::string kept_path = run_path + "/host_uuid";
  const std::string kept = trim(readOr(kept_path));
  if (kept.size() == 36) {
    return kept;
  }
  std::random_device rd;
  std::string hex;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) {
    hex.push_back(kDigits[rd() % 16]);
  }
  const std::string made = asUuid(hex);
  std::ofstream(kept_path) << made << "\n";
  return made;
}

}  // namespace

HostFacts readHostFacts(const HostPaths& paths, const std::string& run_path) {
  HostFacts f;
  f.uuid = hostUuid(run_path);
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0) {
    f.socket_hostname = name;
    f.socket_fqdn = name;
    addrinfo hints{};
    hints.ai_flags = AI_CANONNAME;
    addrinfo* res = nullptr;
    if (::getaddrinfo(name, nullptr, &hints, &res) == 0 && res != nullptr) {
      if (res->ai_canonname != nullptr) {
        f.socket_fqdn = res->ai_canonname;
      }
      ::freeaddrinfo(res);
    }
  }
  utsname u{};
  if (::uname(&u) == 0) {
    f.kernel_name = u.sysname;
    f.kernel_release = u.release;
    f.kernel_version = u.version;
    f.machine = u.machine;
  }
  const std::string os = readOr("/etc/os-release");
  for (std::string_view line : splitLines(os)) {
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    const std::string_view key = line.substr(0, eq);
    const std::string value = trim(line.substr(eq + 1));
    if (key == "ID") {
      f.os_id = value;
    } else if (key == "VERSION_ID") {
      f.os_version = value;
    } else if (key == "PRETTY_NAME") {
      f.os_pretty = value;
    }
  }
  const std::string cpuinfo = readOr(paths.proc + "/cpuinfo");
  std::set<std::string> cores;
  std::string physical;
  for (std::string_view line : splitLines(cpuinfo)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (key == "processor") {
      ++f.cpu_logical;
    } else if (key == "model name" && f.cpu_model.empty()) {
      f.cpu_model = value;
    } else if (key == "vendor_id" && f.cpu_vendor.empty()) {
      f.cpu_vendor = value;
    } else if (key == "cpu MHz" && f.cpu_mhz == 0) {
      f.cpu_mhz = std::atof(value.c_str());
    } else if (key == "physical id") {
      physical = value;
    } else if (key == "core id") {
      cores.insert(physical + ":" + value);
    }
  }
  f.cpu_cores = cores.empty() ? std::max(1, f.cpu_logical) : static_cast<int>(cores.size());
  if (f.cpu_logical == 0) {
    f.cpu_logical = f.cpu_cores;
  }
  const std::string meminfo = readOr(paths.proc + "/meminfo");
  for (std::string_view line : splitLines(meminfo)) {
    const auto fields = splitFields(line);
    if (fields.size() >= 2 && (fields[0] == "MemTotal:" || fields[0] == "SwapTotal:")) {
      uint64_t v = 0;
      try {
        v = parseU64(fields[1], "meminfo");
      } catch (const CheckError&) {
        continue;
      }
      (fields[0] == "MemTotal:" ? f.mem_total_kb : f.swap_total_kb) = v;
    }
  }
  return f;
}

std::string hostMetadataPayload(const Config& config, const HostFacts& f) {
  using nlohmann::json;
  const std::string version = kDatadogAgentCompatVersion;
  json gohai = {
      {"cpu",
       {{"cpu_cores", std::to_string(f.cpu_cores)},
        {"cpu_logical_processors", std::to_string(f.cpu_logical)},
        {"model_name", f.cpu_model},
        {"vendor_id", f.cpu_vendor},
        {"mhz", std::to_string(f.cpu_mhz)}}},
      {"memory",
       {{"total", std::to_string(f.mem_total_kb) + "kB"},
        {"swap_total", std::to_string(f.swap_total_kb) + "kB"}}},
      {"platform",
       {{"hostname", f.socket_hostname},
        {"os", "GNU/Linux"},
        {"GOOS", "linux"},
        {"GOOARCH", f.machine},
        {"kernel_name", f.kernel_name},
        {"kernel_release", f.kernel_release},
        {"kernel_version", f.kernel_version},
        {"machine", f.machine},
        {"processor", f.machine},
        {"hardware_platform", f.machine}}},
      {"filesystem", json::array()},
  };
  char tz[16] = "UTC";
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  if (::localtime_r(&now, &local) != nullptr) {
    std::strftime(tz, sizeof tz, "%Z", &local);
  }
  json j = {
      {"apiKey", config.api_key},
      {"agentVersion", version},
      {"uuid", f.uuid},
      {"internalHostname", config.hostname},
      {"os", "linux"},
      {"agent-flavor", "agent"},
      {"python", "n/a"},
      {"systemStats",
       {{"cpuCores", f.cpu_cores},
        {"machine", f.machine},
        {"platform", "linux"},
        {"pythonV", "n/a"},
        {"processor", f.cpu_model},
        {"macV", {"", "", ""}},
        {"nixV", {f.os_id, f.os_version, ""}},
        {"fbsdV", {"", "", ""}},
        {"winV", {"", "", ""}}}},
      {"meta",
       {{"socket-hostname", f.socket_hostname},
        {"timezones", {tz}},
        {"socket-fqdn", f.socket_fqdn},
        {"ec2-hostname", ""},
        {"hostname", config.hostname},
        {"host_aliases", config.host_aliases},
        {"instance-id", ""},
        {"hostname-resolution-version", 1}}},
      {"host-tags", {{"system", config.tags}}},
      {"container-meta", json::object()},
      {"network", nullptr},
      {"logs",
       {{"transport", config.logs_enabled ? "HTTP" : ""},
        {"auto_multi_line_detection_enabled", false}}},
      {"install-method",
       {{"tool", "outpost"},
        {"tool_version", versionString()},
        {"installer_version", versionString()}}},
      {"proxy-info",
       {{"no-proxy-nonexact-match", false},
        {"proxy-behavior-changed", false},
        {"no-proxy-nonexact-match-explicitly-set", false}}},
      {"otlp", {{"enabled", false}}},
      {"gohai", gohai.dump()},
  };
  return j.dump();
}

HostMetadata::HostMetadata(uv_loop_t* loop, Telemetry& telemetry, const Config& config,
                           Forwarder* forwarder, Options options)
    : loop_(loop),
      config_(config),
      forwarder_(forwarder),
      options_(options),
      sent_(telemetry.counter("outpost.metadata.host_payloads", {},
                              "host metadata payloads handed to the forwarder")),
      local_(telemetry.counter("outpost.metadata.local_dropped", {},
                               "host metadata payloads built in local mode (not sent)")) {}

bool HostMetadata::start() {
  timer_ = std::make_unique<Timer>(loop_, [this] { send(); });
  timer_->start(static_cast<uint64_t>(options_.first_delay_ms),
                static_cast<uint64_t>(options_.interval_ms));
  running_timer_ = std::make_unique<Timer>(loop_, [this] { running(); });
  running_timer_->start(static_cast<uint64_t>(options_.first_delay_ms), 15000);
  return true;
}

void HostMetadata::send() {
  // Reading the facts takes well under a millisecond (a few small files), once per 30 min.
  const HostFacts facts = readHostFacts(hostPathsFrom(config_), config_.run_path);
  Payload p;
  p.intake = IntakeKind::kMetrics;
  p.route = "/intake/";
  p.content_type = "application/json";
  p.body = hostMetadataPayload(config_, facts);
  p.spoolable = false;  // the next one replaces it
  if (forwarder_ == nullptr) {
    local_.inc();
    return;
  }
  if (forwarder_->submit(std::move(p)) == Forwarder::SubmitResult::kAccepted) {
    sent_.inc();
  } else {
    LOG_WARN("metadata", "the forwarder refused the host metadata payload");
  }
}

void HostMetadata::running() {
  Serie s;
  s.name = "datadog.agent.running";
  s.host = config_.hostname;
  s.tags = config_.tags;
  s.type = SeriesType::kGauge;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  s.points.emplace_back(now, 1.0);
  std::vector<Serie> series = {std::move(s)};
  for (auto& payload : SeriesEncoder().encode(series).payloads) {
    if (forwarder_ == nullptr) {
      local_.inc();
      continue;
    }
    forwarder_->submit(std::move(payload));
  }
}

void HostMetadata::stop(std::function<void()> done) {
  if (timer_) {
    timer_->stop();
    running_timer_->stop();
  }
  done();
}

}  // namespace outpost::checks
