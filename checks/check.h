#pragma once

#include <sys/statvfs.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.h"

// Host checks (issue 7): each reads the host through HostPaths and submits through a Sender,
// which turns what a check reports into series as the Datadog Agent's check sampler does:
// gauges as they are, rate() as the per-second change since the previous run of the same
// instance (nothing on the first run, nothing when the counter went backwards),
// monotonicCount() as the increase since the previous run (a count).
namespace outpost::checks {

// A run that cannot complete (a file missing or malformed, a bad instance setting): the
// runner reports it as a failed run with this message; other checks are unaffected.
struct CheckError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where the host is read: procfs_path (the Datadog Agent's key; tests point it at a fixture
// tree). Mount points are statted as listed in <proc>/self/mounts, under `root` when set.
struct HostPaths {
  std::string proc = "/proc";
  std::string root;  // prefix for mount points (tests); empty: the real ones
  // statvfs(2) of a mount point; tests give known numbers. Null: the real call.
  std::function<int(const std::string& path, struct statvfs* out)> statvfs;
};

class Sender {
 public:
  // The time of the run being made (seconds, fractional); the runner sets it before run().
  void setTime(double now) { now_ = now; }
  double time() const { return now_; }

  // The rate/count state of one instance lives in its Sender, kept between runs.
  void gauge(std::string name, double value, std::vector<std::string> tags = {});
  void rate(std::string name, double value, std::vector<std::string> tags = {});
  void monotonicCount(std::string name, double value, std::vector<std::string> tags = {});
  void serviceCheck(std::string name, int status, std::string message,
                    std::vector<std::string> tags = {});

  struct Output {
    std::vector<Serie> series;
    std::vector<ServiceCheckRun> service_checks;
  };
  // Ends a run at `now` (seconds, fractional): what was submitted becomes series on `host`
  // with `tags` added (the instance's), and the rate state moves on. `ok`: false drops what a
  // failed run submitted without touching the rate state.
  Output commit(double now, const std::string& host, const std::vector<std::string>& tags,
                bool ok = true);

 private:
  enum class Kind { kGauge, kRate, kMonotonic };
  struct Sample {
    Kind kind;
    std::string name;
    double value;
    std::vector<std::string> tags;
  };
  struct Previous {
    double value = 0;
    double time = 0;
    uint64_t seen_run = 0;
  };
  std::vector<Sample> samples_;
  std::vector<ServiceCheckRun> checks_;
  std::map<std::string, Previous> previous_;  // by name + sorted tags
  uint64_t runs_ = 0;
  double now_ = 0;
};

class Check {
 public:
  virtual ~Check() = default;
  // The instance's own settings (init_config and instance as in conf.yaml). Throws CheckError
  // naming the key.
  virtual void configure(const YAML::Node& init_config, const YAML::Node& instance) {
    (void)init_config;
    (void)instance;
  }
  virtual void run(Sender& sender) = 0;  // throws CheckError
};

// The built-in checks: cpu, load, memory, uptime, file_handle, disk, io, network, process.
std::unique_ptr<Check> makeCheck(std::string_view name, const HostPaths& paths);
const std::vector<std::string>& builtinChecks();

// Helpers for the checks.
std::string readFile(const std::string& path);  // throws CheckError naming the path
std::vector<std::string_view> splitFields(std::string_view line);
std::vector<std::string_view> splitLines(std::string_view text);
std::vector<std::string_view> firstLineFields(std::string_view text);
uint64_t parseU64(std::string_view field, const std::string& what);  // throws CheckError
double parseDouble(std::string_view field, const std::string& what);
// Instance settings: a list of strings, a bool, a regex (RE2 syntax, checked). Throw CheckError
// naming the key and its line.
std::vector<std::string> stringListSetting(const YAML::Node& instance, const char* key);
bool boolSetting(const YAML::Node& instance, const char* key, bool fallback);
std::string regexSetting(const YAML::Node& instance, const char* key);

}  // namespace outpost::checks
