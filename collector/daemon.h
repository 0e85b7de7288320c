#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/component.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/systemd_notify.h"
#include "core/telemetry.h"
#include "core/worker_pool.h"

namespace outpost {

// The `outpost run` process: one libuv loop, the worker pool, the components, and the process
// lifecycle around them. SIGTERM/SIGINT stop gracefully (a second one exits at once); SIGHUP
// reloads the configuration on the worker pool and keeps the old one if the new one is broken.
class Daemon {
 public:
  // `config_path` is what `-c` named; reloads read it again through `env`.
  Daemon(LoadedConfig config, std::string config_path, EnvLookup env = processEnv);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Before run(): components start in this order and stop in reverse.
  void addComponent(ComponentPtr component);

  // Runs until stopped. Returns the process exit code.
  int run();

  // Loop thread. The same as receiving SIGTERM / SIGHUP.
  void requestStop();
  void requestReload();

  uv_loop_t* loop() { return loop_.get(); }
  WorkerPool& workers() { return *workers_; }
  Telemetry& telemetry() { return telemetry_; }
  const LoadedConfig& config() const { return config_; }
  // Loop thread. Every bounded resource against its limit: the worker pool's queue, then each
  // component's (Component::resources), in start order.
  Resources resources() const;

 private:
  void stopNext();  // stops components_ from the back, one at a time
  void finishStop(bool forced);
  void applyReload(ConfigResult result);
  std::string readyStatus() const;

  Loop loop_;
  Telemetry telemetry_;
  LoadedConfig config_;
  std::string config_path_;
  EnvLookup env_;
  SystemdNotifier notifier_;
  std::unique_ptr<WorkerPool> workers_;
  std::vector<ComponentPtr> components_;
  size_t started_ = 0;  // components started (stopping walks back from here)
  std::unique_ptr<SignalWatcher> sigterm_, sigint_, sighup_;
  std::unique_ptr<Timer> watchdog_;
  std::unique_ptr<Timer> stop_deadline_;
  bool stopping_ = false;
  bool stopped_ = false;
  bool reloading_ = false;
  bool reload_again_ = false;
  int exit_code_ = 0;
  Counter& reloads_ok_;
  Counter& reloads_failed_;
};

}  // namespace outpost
