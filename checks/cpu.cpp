#include <array>

#include "checks/builtin.h"

// system.cpu.*: percentages of all CPU time since the previous run, as the Agent's cpu check
// computes them from /proc/stat ("cpu" line, USER_HZ ticks): user = user + nice, system =
// system + irq + softirq, interrupt = irq + softirq, iowait, idle, stolen, guest = guest +
// guest_nice; the total excludes guest (already in user). Plus num_cores (gauge) and
// context_switches (monotonic count of "ctxt"). The first run has no percentages.
namespace outpost::checks {

int cpuCount(const HostPaths& paths) {
  const std::string text = readFile(paths.proc + "/stat");
  int n = 0;
  for (std::string_view line : splitLines(text)) {
    if (line.size() > 3 && line.substr(0, 3) == "cpu" && line[3] >= '0' && line[3] <= '9') {
      ++n;
    }
  }
  return n > 0 ? n : 1;
}

namespace {

class CpuCheck : public Check {
 public:
  explicit CpuCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void run(Sender& sender) override {
    const std::string path = paths_.proc + "/stat";
    const std::string text = readFile(path);
    std::array<double, 10> t{};  // user nice system idle iowait irq softirq steal guest gnice
    bool have_total = false;
    int cores = 0;
    double ctxt = -1;
    for (std::string_view line : splitLines(text)) {
      const auto f = splitFields(line);
      if (f.empty()) {
        continue;
      }
      if (f[0] == "cpu") {
        if (f.size() < 5) {
          throw CheckError(path + ": the cpu line has " + std::to_string(f.size() - 1) +
                           " fields, 4 at least expected");
        }
        for (size_t i = 1; i < f.size() && i <= t.size(); ++i) {
          t[i - 1] = static_cast<double>(parseU64(f[i], path + " cpu field " + std::to_string(i)));
        }
        have_total = true;
      } else if (f[0].size() > 3 && f[0].substr(0, 3) == "cpu") {
        ++cores;
      } else if (f[0] == "ctxt" && f.size() >= 2) {
        ctxt = static_cast<double>(parseU64(f[1], path + " ctxt"));
      }
    }
    if (!have_total) {
      throw CheckError(path + ": no cpu line");
    }
    const double user = t[0] + t[1];
    const double system = t[2] + t[5] + t[6];
    const double interrupt = t[5] + t[6];
    const double total = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
    const std::array<double, 8> now = {user, system, interrupt,   t[4],
                                       t[3], t[7],   t[8] + t[9], total};
    if (have_prev_ && now[7] > prev_[7]) {
      const double span = now[7] - prev_[7];
      static constexpr const char* kNames[] = {
          "system.cpu.user", "system.cpu.system", "system.cpu.interrupt", "system.cpu.iowait",
          "system.cpu.idle", "system.cpu.stolen", "system.cpu.guest"};
      for (size_t i = 0; i < 7; ++i) {
        const double d = now[i] - prev_[i];
        if (d >= 0) {
          sender.gauge(kNames[i], d / span * 100.0);
        }
      }
    }
    prev_ = now;
    have_prev_ = true;
    sender.gauge("system.cpu.num_cores", cores > 0 ? cores : 1);
    if (ctxt >= 0) {
      sender.monotonicCount("system.cpu.context_switches", ctxt);
    }
  }

 private:
  HostPaths paths_;
  std::array<double, 8> prev_{};
  bool have_prev_ = false;
};

}  // namespace

std::unique_ptr<Check> makeCpuCheck(const HostPaths& paths) {
  return std::make_unique<CpuCheck>(paths);
}

}  // namespace outpost::checks
