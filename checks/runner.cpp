#include "checks/runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "core/log.h"
#include "forwarder/encoders/series_encoder.h"
#include "forwarder/encoders/service_check_encoder.h"

namespace outpost::checks {

namespace {

double wallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double steadyMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool isBuiltin(const std::string& name) {
  const auto& names = builtinChecks();
  return std::find(names.begin(), names.end(), name) != names.end();
}

int lineOf(const YAML::Node& n) {
  return n.Mark().line >= 0 ? n.Mark().line + 1 : 0;
}

}  // namespace

std::vector<InstanceConfig> parseCheckInstances(const std::vector<ConfdEntry>& confd,
                                                std::vector<ConfigMessage>& errors,
                                                std::vector<ConfigMessage>& warnings) {
  std::vector<InstanceConfig> out;
  for (const auto& entry : confd) {
    if (entry.instances.empty()) {
      continue;  // a logs-only folder
    }
    if (!isBuiltin(entry.name)) {
      ConfigMessage w;
      w.file = entry.file;
      w.key = entry.name;
      w.text = fmt::format(
          "check '{}' is not built into Outpost (built in: cpu, load, memory, uptime, "
          "file_handle, disk, io, network, process); its instances are ignored",
          entry.name);
      warnings.push_back(std::move(w));
      continue;
    }
    for (size_t i = 0; i < entry.instances.size(); ++i) {
      const YAML::Node& inst = entry.instances[i];
      InstanceConfig c;
      c.check = entry.name;
      c.file = entry.file;
      c.index = i;
      c.line = lineOf(inst);
      c.init_config = entry.init_config;
      c.instance = inst;
      auto fail = [&](const std::string& key, int line, const std::string& text) {
        ConfigMessage m;
        m.file = entry.file;
        m.line = line;
        m.key = fmt::format("{}.instances[{}]{}{}", entry.name, i, key.empty() ? "" : ".", key);
        m.text = text;
        errors.push_back(std::move(m));
      };
      if (!inst.IsNull() && !inst.IsMap()) {
        fail("", c.line, "an instance is a mapping of settings");
        continue;
      }
      bool ok = true;
      for (const YAML::Node* where : {&entry.init_config, &inst}) {
        if (!where->IsMap() || !(*where)["min_collection_interval"]) {
          continue;
        }
        const YAML::Node v = (*where)["min_collection_interval"];
        double seconds = 0;
        if (!v.IsScalar() || !YAML::convert<double>::decode(v, seconds) || !(seconds > 0) ||
            seconds > 86400) {
          fail("min_collection_interval", lineOf(v),
               "a number of seconds between 0 and 86400 expected");
          ok = false;
          break;
        }
        c.interval_s = seconds;
      }
      try {
        c.tags = stringListSetting(inst, "tags");
        auto check = makeCheck(entry.name, HostPaths{});
        check->configure(entry.init_config, inst);
      } catch (const CheckError& e) {
        fail("", c.line, e.what());
        ok = false;
      }
      if (ok) {
        out.push_back(std::move(c));
      }
    }
  }
  return out;
}

HostPaths hostPathsFrom(const Config& config) {
  HostPaths p;
  if (!config.procfs_path.empty()) {
    p.proc = config.procfs_path;
  }
  return p;
}

struct CheckRunner::Instance {
  InstanceConfig config;
  std::unique_ptr<Check> check;
  Sender sender;
  std::unique_ptr<Timer> timer;
  bool running = false;
  bool timed_out = false;
  double started_ms = 0;
  InstanceStatus st;
};

CheckRunner::CheckRunner(uv_loop_t* loop, WorkerPool& workers, Telemetry& telemetry,
                         Options options, Forwarder* forwarder)
    : loop_(loop),
      workers_(workers),
      options_(std::move(options)),
      forwarder_(forwarder),
      alive_(std::make_shared<bool>(true)),
      runs_(telemetry.counter("outpost.checks.runs", {}, "check runs finished")),
      failures_(
          telemetry.counter("outpost.checks.failures", {}, "check runs that failed or timed out")),
      skipped_(telemetry.counter("outpost.checks.skipped", {},
                                 "check runs skipped because the previous one was still going")),
      local_dropped_(telemetry.counter("outpost.checks.local_dropped", {},
                                       "check payloads dropped in local mode (no API key)")) {}

CheckRunner::~CheckRunner() {
  *alive_ = false;
}

bool CheckRunner::start() {
  size_t n = 0;
  for (auto& config : options_.instances) {
    auto inst = std::make_shared<Instance>();
    inst->check = makeCheck(config.check, options_.paths);
    if (!inst->check) {
      continue;
    }
    try {
      inst->check->configure(config.init_config, config.instance);
    } catch (const CheckError& e) {  // validated at load: only if the host changed meanwhile
      LOG_ERROR("checks", "{} ({}): {}", config.check, config.file, e.what());
      continue;
    }
    inst->st.check = config.check;
    inst->st.file = config.file;
    inst->st.interval_s = config.interval_s;
    inst->config = std::move(config);
    inst->config.tags.insert(inst->config.tags.end(), options_.host_tags.begin(),
                             options_.host_tags.end());
    std::weak_ptr<Instance> weak = inst;
    inst->timer = std::make_unique<Timer>(loop_, [this, weak] {
      if (auto i = weak.lock()) {
        runNow(i);
      }
    });
    // The first runs are spread over the first second, then every interval.
    const auto interval_ms = static_cast<uint64_t>(inst->config.interval_s * 1000);
    inst->timer->start(200 + 50 * n, interval_ms);
    instances_.push_back(std::move(inst));
    ++n;
  }
  timeout_timer_ = std::make_unique<Timer>(loop_, [this] { checkTimeouts(); });
  timeout_timer_->start(1000, 1000);
  std::string names;
  for (const auto& i : instances_) {
    if (names.find(i->config.check) == std::string::npos) {
      names += names.empty() ? "" : ", ";
      names += i->config.check;
    }
  }
  LOG_INFO("checks", "{} check instance{} scheduled ({}){}", instances_.size(),
           instances_.size() == 1 ? "" : "s", names.empty() ? "none" : names,
           forwarder_ == nullptr ? "; local mode: results counted, not sent" : "");
  return true;
}

void CheckRunner::runNow(const std::shared_ptr<Instance>& self) {
  Instance& inst = *self;
  if (stopping_) {
    return;
  }
  if (inst.running) {
    ++inst.st.skipped;
    skipped_.inc();
    return;
  }
  inst.running = true;
  inst.timed_out = false;
  inst.started_ms = steadyMs();
  const double now = wallSeconds();
  inst.sender.setTime(now);
  auto error = std::make_shared<std::string>();
  std::shared_ptr<Instance> raw = self;
  std::weak_ptr<bool> alive = alive_;
  ++running_;
  const bool queued = workers_.submit(
      [raw, error] {
        try {
          raw->check->run(raw->sender);
        } catch (const CheckError& e) {
          *error = e.what();
        } catch (const std::exception& e) {
          *error = std::string("unexpected error: ") + e.what();
        }
      },
      [this, alive, raw, error, now] {
        if (alive.expired()) {
          return;
        }
        --running_;
        raw->running = false;
        const bool ok = error->empty() && !raw->timed_out;
        Sender::Output out = raw->sender.commit(now, options_.hostname, raw->config.tags, ok);
        raw->st.last_duration_ms = steadyMs() - raw->started_ms;
        raw->st.last_run = now;
        ++raw->st.runs;
        runs_.inc();
        if (!raw->timed_out) {
          raw->st.last_error = *error;
          if (!ok) {
            ++raw->st.failures;
            failures_.inc();
            LOG_WARN("checks", "{} ({}): run failed: {}", raw->config.check, raw->config.file,
                     *error);
          }
        }
        raw->st.last_series = out.series.size();
        if (!raw->timed_out) {
          addStatusChecks(*raw, now, ok ? 0 : 2, ok ? "" : *error, out);
        }
        submit(std::move(out));
        if (stopping_ && running_ == 0 && stop_done_) {
          auto done = std::move(stop_done_);
          stop_done_ = nullptr;
          done();
        }
      });
  if (!queued) {
    --running_;
    inst.running = false;
    ++inst.st.skipped;
    skipped_.inc();
  }
}

// datadog.agent.check_status (as the Agent names it) and outpost.check.status, tag check:<name>.
void CheckRunner::addStatusChecks(const Instance& inst, double now, int status,
                                  const std::string& message, Sender::Output& out) const {
  std::vector<std::string> tags = inst.config.tags;
  tags.push_back("check:" + inst.config.check);
  for (const char* name : {"datadog.agent.check_status", "outpost.check.status"}) {
    ServiceCheckRun sc;
    sc.check = name;
    sc.host = options_.hostname;
    sc.timestamp = static_cast<int64_t>(now);
    sc.status = status;
    sc.message = message;
    sc.tags = tags;
    out.service_checks.push_back(std::move(sc));
  }
}

void CheckRunner::checkTimeouts() {
  const double now_ms = steadyMs();
  for (auto& inst : instances_) {
    if (!inst->running || inst->timed_out) {
      continue;
    }
    const double limit_ms = inst->config.interval_s * 1000;
    if (now_ms - inst->started_ms <= limit_ms) {
      continue;
    }
    inst->timed_out = true;
    ++inst->st.failures;
    failures_.inc();
    inst->st.last_error =
        fmt::format("timed out: still running after {:.0f} s", (now_ms - inst->started_ms) / 1000);
    LOG_WARN("checks", "{} ({}): {}", inst->config.check, inst->config.file, inst->st.last_error);
    Sender::Output out;
    addStatusChecks(*inst, wallSeconds(), 2, inst->st.last_error, out);
    submit(std::move(out));
  }
}

void CheckRunner::submit(Sender::Output out) {
  if (observer_ && !out.series.empty()) {
    observer_(out.series);
  }
  std::vector<EncodeResult> results;
  if (!out.series.empty()) {
    results.push_back(SeriesEncoder().encode(out.series));
  }
  if (!out.service_checks.empty()) {
    results.push_back(ServiceCheckEncoder().encode(out.service_checks));
  }
  for (auto& r : results) {
    for (auto& payload : r.payloads) {
      if (forwarder_ == nullptr) {
        local_dropped_.inc();
        continue;
      }
      if (forwarder_->submit(std::move(payload)) != Forwarder::SubmitResult::kAccepted) {
        LOG_WARN("checks", "the forwarder refused a check payload");
      }
    }
  }
}

void CheckRunner::stop(std::function<void()> done) {
  stopping_ = true;
  for (auto& inst : instances_) {
    inst->timer->stop();
  }
  if (timeout_timer_) {
    timeout_timer_->stop();
  }
  if (running_ == 0) {
    done();
    return;
  }
  stop_done_ = std::move(done);  // the last run still going calls it
}

std::vector<CheckRunner::InstanceStatus> CheckRunner::status() const {
  std::vector<InstanceStatus> out;
  for (const auto& inst : instances_) {
    out.push_back(inst->st);
  }
  return out;
}

}  // namespace outpost::checks
