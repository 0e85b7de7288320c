#include <re2/re2.h>

#include <array>
#include <map>

#include "checks/builtin.h"

// system.io.* per block device from <proc>/diskstats, as iostat -x computes them over the time
// since the previous run: r_s, w_s, rrqm_s, wrqm_s, rkb_s, wkb_s (512-byte sectors), avg_rq_sz
// (sectors per request), await, r_await, w_await, svctm (ms), avg_q_sz, util (percent of time
// busy). Tag device:<name>. Devices that never did any I/O (unused ram/loop devices) and those
// matching the instance's device_exclude_re are skipped. The first run has nothing to compare.
namespace outpost::checks {
namespace {

// reads, reads merged, sectors read, ms reading, writes, writes merged, sectors written,
// ms writing, in progress, ms doing I/O, weighted ms.
using Counters = std::array<double, 11>;

class IoCheck : public Check {
 public:
  explicit IoCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void configure(const YAML::Node&, const YAML::Node& instance) override {
    if (auto re = regexSetting(instance, "device_exclude_re"); !re.empty()) {
      exclude_ = std::make_unique<RE2>(re, RE2::Quiet);
    }
  }

  void run(Sender& sender) override {
    const std::string path = paths_.proc + "/diskstats";
    const std::string text = readFile(path);
    const double now = sender.time();
    std::map<std::string, Counters> current;
    for (std::string_view line : splitLines(text)) {
      const auto f = splitFields(line);
      if (f.size() < 14) {
        continue;
      }
      const std::string name(f[2]);
      if (exclude_ && RE2::FullMatch(name, *exclude_)) {
        continue;
      }
      Counters c{};
      bool any = false;
      for (size_t i = 0; i < c.size(); ++i) {
        c[i] = static_cast<double>(parseU64(f[3 + i], path + " " + name));
        any = any || c[i] != 0;
      }
      if (any) {
        current[name] = c;
      }
    }
    const double dt = now - last_time_;
    if (have_last_ && dt > 0) {
      for (const auto& [name, c] : current) {
        auto it = last_.find(name);
        if (it == last_.end()) {
          continue;
        }
        Counters d{};
        bool wrapped = false;
        for (size_t i = 0; i < d.size(); ++i) {
          d[i] = c[i] - it->second[i];
          wrapped = wrapped || (i != 8 && d[i] < 0);
        }
        if (wrapped) {
          continue;
        }
        const std::vector<std::string> tags = {"device:" + name};
        const double ios = d[0] + d[4];
        sender.gauge("system.io.r_s", d[0] / dt, tags);
        sender.gauge("system.io.w_s", d[4] / dt, tags);
        sender.gauge("system.io.rrqm_s", d[1] / dt, tags);
        sender.gauge("system.io.wrqm_s", d[5] / dt, tags);
        sender.gauge("system.io.rkb_s", d[2] * 512 / 1024 / dt, tags);
        sender.gauge("system.io.wkb_s", d[6] * 512 / 1024 / dt, tags);
        sender.gauge("system.io.avg_rq_sz", ios > 0 ? (d[2] + d[6]) / ios : 0, tags);
        sender.gauge("system.io.await", ios > 0 ? (d[3] + d[7]) / ios : 0, tags);
        sender.gauge("system.io.r_await", d[0] > 0 ? d[3] / d[0] : 0, tags);
        sender.gauge("system.io.w_await", d[4] > 0 ? d[7] / d[4] : 0, tags);
        sender.gauge("system.io.svctm", ios > 0 ? d[9] / ios : 0, tags);
        sender.gauge("system.io.avg_q_sz", d[10] / (dt * 1000), tags);
        sender.gauge("system.io.util", std::min(100.0, d[9] / (dt * 1000) * 100), tags);
      }
    }
    last_ = std::move(current);
    last_time_ = now;
    have_last_ = true;
  }

 private:
  HostPaths paths_;
  std::unique_ptr<RE2> exclude_;
  std::map<std::string, Counters> last_;
  double last_time_ = 0;
  bool have_last_ = false;
};

}  // namespace

std::unique_ptr<Check> makeIoCheck(const HostPaths& paths) {
  return std::make_unique<IoCheck>(paths);
}

}  // namespace outpost::checks
