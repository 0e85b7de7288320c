#include "collector/daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/config_render.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/version.h"

namespace outpost {
namespace {

constexpr size_t kWorkerQueueLimit = 1024;

// Keys read once at start; a reload that changes them takes effect after a restart. (The
// forwarder applies API keys and endpoint URLs live.)
constexpr std::string_view kRestartKeys[] = {"run_path",
                                             "worker_threads",
                                             "skip_ssl_validation",
                                             "proxy.http",
                                             "proxy.https",
                                             "proxy.no_proxy",
                                             "serializer_compressor_kind",
                                             "serializer_zstd_compressor_level",
                                             "forwarder_timeout",
                                             "forwarder_num_workers",
                                             "forwarder_backoff_base",
                                             "forwarder_backoff_factor",
                                             "forwarder_backoff_max",
                                             "forwarder_retry_queue_payloads_max_size",
                                             "forwarder_storage_path",
                                             "forwarder_storage_max_size_in_bytes",
                                             "forwarder_storage_max_disk_ratio"};

void logMessages(const std::vector<ConfigMessage>& messages, LogLevel level,
                 std::string_view prefix) {
  for (const auto& m : messages) {
    OUTPOST_LOG(level, "config", "{}{}", prefix, m.format());
  }
}

}  // namespace

Daemon::Daemon(LoadedConfig config, std::string config_path, EnvLookup env)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      env_(std::move(env)),
      reloads_ok_(telemetry_.counter("outpost.config.reloads", {"outcome:ok"},
                                     "configuration reloads applied")),
      reloads_failed_(telemetry_.counter("outpost.config.reloads", {"outcome:rejected"},
                                         "configuration reloads rejected (old one kept)")) {
  workers_ =
      std::make_unique<WorkerPool>(loop_.get(), static_cast<size_t>(config_.config.worker_threads),
                                   kWorkerQueueLimit, telemetry_);
}

Daemon::~Daemon() {
  // Components may hold handles on the loop and jobs on the pool: they go first.
  components_.clear();
  workers_.reset();
  sigterm_.reset();
  sigint_.reset();
  sighup_.reset();
  watchdog_.reset();
  stop_deadline_.reset();
}

void Daemon::addComponent(ComponentPtr component) {
  components_.push_back(std::move(component));
}

std::string Daemon::readyStatus() const {
  const Config& c = config_.config;
  return fmt::format("{}; {} component{}; conf.d: {} file{}",
                     c.localMode() ? "local mode, forwarding off" : "forwarding to " + c.site,
                     components_.size(), components_.size() == 1 ? "" : "s", config_.confd.size(),
                     config_.confd.size() == 1 ? "" : "s");
}

int Daemon::run() {
  const Config& c = config_.config;
  Logger::instance().setLevel(parseLogLevel(c.log_level).value_or(LogLevel::kInfo));
  LOG_INFO("daemon", "outpost {} starting (pid {}, config {})", versionString(), getpid(),
           config_.config_file.empty() ? config_.config_dir : config_.config_file);
  LOG_INFO("daemon", "hostname {}, site {}, state in {}", c.hostname, c.site, c.run_path);
  if (c.localMode()) {
    LOG_INFO("daemon", "local mode: no api_key, so forwarding is OFF: nothing leaves this host.");
  } else {
    LOG_INFO("daemon", "forwarding to Datadog ({}); spool in {}", c.site,
             c.forwarder_storage_max_size_in_bytes > 0 ? c.forwarder_storage_path
                                                       : std::string("(off)"));
  }
  size_t log_sources = 0;
  size_t instances = 0;
  for (const auto& e : config_.confd) {
    log_sources += e.logs.size();
    instances += e.instances.size();
  }
  LOG_INFO("daemon", "conf.d {}: {} file{} ({} check instance{}, {} log source{})", c.confd_path,
           config_.confd.size(), config_.confd.size() == 1 ? "" : "s", instances,
           instances == 1 ? "" : "s", log_sources, log_sources == 1 ? "" : "s");
  LOG_INFO("daemon", "host checks are not built in this version yet");

  // State directory: created if missing, and locked so two daemons never share it.
  std::error_code ec;
  std::filesystem::create_directories(c.run_path, ec);
  if (ec) {
    LOG_ERROR("daemon", "run_path {}: cannot create: {}", c.run_path, ec.message());
    return 1;
  }
  const std::string lock_path = c.run_path + "/outpost.pid";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd < 0) {
    LOG_ERROR("daemon", "run_path {}: cannot write {}: {}", c.run_path, lock_path,
              std::strerror(errno));
    return 1;
  }
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    char other[32] = {};
    (void)!::pread(lock_fd, other, sizeof other - 1, 0);
    LOG_ERROR("daemon", "another outpost (pid {}) is running with run_path {}",
              std::string(trim(other)), c.run_path);
    ::close(lock_fd);
    return 1;
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  (void)!::ftruncate(lock_fd, 0);
  (void)!::pwrite(lock_fd, pid.data(), pid.size(), 0);

  signal(SIGPIPE, SIG_IGN);
  sigterm_ = std::make_unique<SignalWatcher>(loop_.get(), SIGTERM, [this](int) { requestStop(); });
  sigint_ = std::make_unique<SignalWatcher>(loop_.get(), SIGINT, [this](int) { requestStop(); });
  sighup_ = std::make_unique<SignalWatcher>(loop_.get(), SIGHUP, [this](int) { requestReload(); });

  for (auto& component : components_) {
    if (!component->start()) {
      LOG_ERROR("daemon", "{} failed to start; stopping", component->name());
      exit_code_ = 1;
      requestStop();
      break;
    }
    ++started_;
  }

  const auto ping = notifier_.watchdogPingInterval();
  if (ping.count() > 0) {
    const uint64_t ms = std::max<uint64_t>(1, ping.count() / 1000);
    watchdog_ = std::make_unique<Timer>(loop_.get(), [this] { notifier_.watchdog(); });
    watchdog_->start(ms, ms);
    LOG_DEBUG("systemd", "watchdog on: WATCHDOG=1 every {} ms", ms);
  }
  if (!stopping_) {
    notifier_.ready(readyStatus());
    LOG_INFO("daemon", "ready: {}", readyStatus());
  }

  loop_.run();

  ::close(lock_fd);  // Releases the lock; the file stays so the next start reuses it.
  LOG_INFO("daemon", "stopped");
  return exit_code_;
}

void Daemon::requestStop() {
  if (stopped_) {
    return;
  }
  if (stopping_) {
    LOG_WARN("daemon", "second stop request: exiting now without draining");
    exit_code_ = 1;
    finishStop(true);
    return;
  }
  stopping_ = true;
  notifier_.stopping();
  const int64_t timeout = config_.config.shutdown_timeout;
  LOG_INFO("daemon", "stopping: draining (at most {} s; a second signal exits at once)", timeout);
  stop_deadline_ = std::make_unique<Timer>(loop_.get(), [this] {
    std::string pending;
    if (started_ > 0) {
      pending = std::string(components_[started_ - 1]->name());
    }
    const size_t abandoned = workers_->abandonQueued();
    LOG_WARN("daemon",
             "shutdown_timeout ({} s) reached: {}{} worker job{} abandoned; exiting anyway",
             config_.config.shutdown_timeout,
             pending.empty() ? "" : "component " + pending + " did not finish stopping; ",
             abandoned, abandoned == 1 ? "" : "s");
    finishStop(true);
  });
  stop_deadline_->start(static_cast<uint64_t>(timeout) * 1000);
  stopNext();
}

void Daemon::stopNext() {
  if (stopped_) {
    return;
  }
  if (started_ == 0) {
    // Every component has stopped; let the jobs they queued finish.
    workers_->drain([this] { finishStop(false); });
    return;
  }
  Component& c = *components_[started_ - 1];
  LOG_DEBUG("daemon", "stopping {}", c.name());
  auto called = std::make_shared<bool>(false);
  c.stop([this, called, name = std::string(c.name())] {
    if (*called) {
      return;
    }
    *called = true;
    LOG_DEBUG("daemon", "{} stopped", name);
    --started_;
    stopNext();
  });
}

void Daemon::finishStop(bool forced) {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  if (!forced) {
    LOG_INFO("daemon", "drained cleanly");
  }
  // Close the daemon's own handles; uv_stop ends run() even if a stuck component keeps one open.
  sigterm_.reset();
  sigint_.reset();
  sighup_.reset();
  watchdog_.reset();
  stop_deadline_.reset();
  loop_.stop();
}

void Daemon::requestReload() {
  if (stopping_) {
    return;
  }
  if (reloading_) {
    reload_again_ = true;  // Coalesce: one more reload after this one, not one per signal.
    return;
  }
  reloading_ = true;
  notifier_.reloading();
  LOG_INFO("daemon", "SIGHUP: reloading configuration from {}", config_path_);
  auto result = std::make_shared<ConfigResult>();
  const bool queued = workers_->submit(
      [result, path = config_path_, env = env_] { *result = loadConfig(path, env); },
      [this, result] { applyReload(std::move(*result)); });
  if (!queued) {
    LOG_ERROR("daemon", "reload not started: the worker queue is full; send SIGHUP again");
    reloading_ = false;
    notifier_.ready(readyStatus());
  }
}

void Daemon::applyReload(ConfigResult result) {
  reloading_ = false;
  if (stopping_) {
    return;  // A reload that finished during shutdown has nothing left to apply to.
  }
  logMessages(result.warnings, LogLevel::kWarn, "");
  if (!result.loaded) {
    reloads_failed_.inc();
    logMessages(result.errors, LogLevel::kError, "reload rejected: ");
    LOG_ERROR("daemon", "reload rejected ({} error{}): keeping the previous configuration",
              result.errors.size(), result.errors.size() == 1 ? "" : "s");
  } else {
    reloads_ok_.inc();
    LoadedConfig& next = *result.loaded;
    const auto changed = changedKeys(config_.config, next.config);
    if (changed.empty()) {
      LOG_INFO("daemon", "configuration reloaded: no key changed");
    } else {
      LOG_INFO("daemon", "configuration reloaded: {} key{} changed: {}", changed.size(),
               changed.size() == 1 ? "" : "s", join(changed, ", "));
    }
    for (const auto& key : changed) {
      for (auto restart_key : kRestartKeys) {
        if (key == restart_key) {
          LOG_WARN("daemon", "{} changed: takes effect after a restart", key);
        }
      }
    }
    if (next.config.localMode() != config_.config.localMode()) {
      LOG_WARN("daemon", "api_key was {}: forwarding {} after a restart",
               next.config.localMode() ? "removed" : "set",
               next.config.localMode() ? "stops" : "starts");
    }
    Config& applied = next.config;
    // Restart-only keys keep their running values so the state shown stays true.
    applied.run_path = config_.config.run_path;
    applied.worker_threads = config_.config.worker_threads;
    config_ = std::move(next);
    Logger::instance().setLevel(parseLogLevel(config_.config.log_level).value_or(LogLevel::kInfo));
    for (size_t i = 0; i < started_; ++i) {
      components_[i]->reconfigure(config_);
    }
  }
  notifier_.ready(readyStatus());
  if (reload_again_) {
    reload_again_ = false;
    requestReload();
  }
}

Resources Daemon::resources() const {
  Resources out;
  out.push_back({.name = "workers.queue",
                 .unit = "jobs",
                 .used = workers_->queued(),
                 .limit = workers_->maxQueued(),
                 .key = "",
                 .note = "compression, encoding and check runs waiting for a worker thread "
                         "(worker_threads); past it a job is refused and its producer retries"});
  for (const auto& c : components_) {
    c->resources(out);
  }
  return out;
}

}  // namespace outpost
