#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "checks/check.h"
#include "core/component.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "core/worker_pool.h"
#include "forwarder/forwarder.h"

// The check runner (issue 7): every instance of a built-in check configured in
// conf.d/<check>.d/conf.yaml runs every min_collection_interval seconds (default 15) on the
// worker pool; what it submits becomes series and service checks for the metrics intake. A run
// that throws is a failed run (its error in status, a CRITICAL service check) and never stops the
// others; a run still going when the next is due is skipped (counted), and one running longer
// than its interval is reported as timed out. Each run also sends datadog.agent.check_status and
// outpost.check.status (tag check:<name>). Loop thread, except the runs themselves.
namespace outpost::checks {

struct InstanceConfig {
  std::string check;  // cpu, disk, ...
  std::string file;
  int line = 0;      // of the instance in `file`
  size_t index = 0;  // in the file's instances
  YAML::Node init_config;
  YAML::Node instance;
  double interval_s = 15;
  std::vector<std::string> tags;
};

// The instances of the built-in checks in conf.d, validated (each check configured once: a bad
// setting is an error with file, line and key). Folders of checks that are not built in are
// warned about and skipped (integrations Outpost does not run).
std::vector<InstanceConfig> parseCheckInstances(const std::vector<ConfdEntry>& confd,
                                                std::vector<ConfigMessage>& errors,
                                                std::vector<ConfigMessage>& warnings);

HostPaths hostPathsFrom(const Config& config);

class CheckRunner : public Component {
 public:
  struct Options {
    std::string hostname;
    std::vector<std::string> host_tags;  // `tags`, added to every series and service check
    HostPaths paths;
    std::vector<InstanceConfig> instances;
  };
  struct InstanceStatus {
    std::string check;
    std::string file;
    double interval_s = 0;
    uint64_t runs = 0;
    uint64_t failures = 0;
    uint64_t skipped = 0;  // due while the previous run was still going
    double last_run = 0;   // unix seconds
    double last_duration_ms = 0;
    std::string last_error;  // empty: the last run was fine
    size_t last_series = 0;
  };

  CheckRunner(uv_loop_t* loop, WorkerPool& workers, Telemetry& telemetry, Options options,
              Forwarder* forwarder);
  ~CheckRunner() override;

  std::string_view name() const override { return "checks"; }
  bool start() override;
  void stop(std::function<void()> done) override;

  std::vector<InstanceStatus> status() const;

  // Shown every series a run produced (the query socket's metric store), forwarder or not.
  void setSeriesObserver(std::function<void(const std::vector<Serie>&)> observer) {
    observer_ = std::move(observer);
  }

 private:
  struct Instance;
  void runNow(const std::shared_ptr<Instance>& inst);
  void finish(Instance& inst, Sender::Output out);
  void submit(Sender::Output out);
  void checkTimeouts();
  void addStatusChecks(const Instance& inst, double now, int status, const std::string& message,
                       Sender::Output& out) const;

  uv_loop_t* loop_;
  WorkerPool& workers_;
  Options options_;
  Forwarder* forwarder_;
  std::function<void(const std::vector<Serie>&)> observer_;
  // Shared with the run in progress, so a worker never outlives what it writes to.
  std::vector<std::shared_ptr<Instance>> instances_;
  std::unique_ptr<Timer> timeout_timer_;
  bool stopping_ = false;
  size_t running_ = 0;
  std::function<void()> stop_done_;
  std::shared_ptr<bool> alive_;
  Counter& runs_;
  Counter& failures_;
  Counter& skipped_;
  Counter& local_dropped_;
};

}  // namespace outpost::checks
