#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "checks/check.h"
#include "core/component.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "forwarder/forwarder.h"

// The host metadata payload (wire-formats.md §6) that makes the host appear in the
// infrastructure list with its OS, platform, CPU and memory facts, tags and aliases: POSTed
// as JSON to /intake/ 3 s after start and every 30 minutes. In local mode it is
// built and counted, not sent. The datadog.agent.running gauge (1) goes with the checks'
// series every 15 s so the backend marks the host as running an agent.
namespace outpost::checks {

struct HostFacts {
  std::string uuid;
  std::string socket_hostname;
  std::string socket_fqdn;
  std::string kernel_name;
  std::string kernel_release;
  std::string kernel_version;
  std::string machine;
  std::string os_id;       // /etc/os-release ID (debian)
  std::string os_version;  // VERSION_ID (12)
  std::string os_pretty;   // PRETTY_NAME
  std::string cpu_model;
  std::string cpu_vendor;
  double cpu_mhz = 0;
  int cpu_cores = 0;    // physical (distinct core ids), at least 1
  int cpu_logical = 0;  // processors
  uint64_t mem_total_kb = 0;
  uint64_t swap_total_kb = 0;
};

// Reads the facts: <proc>/cpuinfo and meminfo, uname(2), /etc/os-release, the host UUID
// (/etc/machine-id as a UUID, else one made up and kept in <run_path>/host_uuid).
HostFacts readHostFacts(const HostPaths& paths, const std::string& run_path);

// The JSON body, given the configuration and the facts.
std::string hostMetadataPayload(const Config& config, const HostFacts& facts);

class HostMetadata : public Component {
 public:
  struct Options {
    int64_t first_delay_ms = 3000;
    int64_t interval_ms = 1800 * 1000;
  };
  HostMetadata(uv_loop_t* loop, Telemetry& telemetry, const Config& config, Forwarder* forwarder,
               Options options);
  std::string_view name() const override { return "host-metadata"; }
  bool start() override;
  void stop(std::function<void()> done) override;

 private:
  void send();
  void running();

  uv_loop_t* loop_;
  Config config_;
  Forwarder* forwarder_;
  Options options_;
  std::unique_ptr<Timer> timer_;
  std::unique_ptr<Timer> running_timer_;
  Counter& sent_;
  Counter& local_;
};

}  // namespace outpost::checks
