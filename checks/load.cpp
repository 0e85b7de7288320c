#include "checks/builtin.h"

// system.load.1/5/15 from /proc/loadavg and system.load.norm.* (divided by the CPU count).
namespace outpost::checks {
namespace {

class LoadCheck : public Check {
 public:
  explicit LoadCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void run(Sender& sender) override {
    const std::string path = paths_.proc + "/loadavg";
    const std::string text = readFile(path);
    const auto f = firstLineFields(text);
    if (f.size() < 3) {
      throw CheckError(path + ": 3 load averages expected");
    }
    double load[3];
    for (size_t i = 0; i < 3; ++i) {
      load[i] = parseDouble(f[i], path);
    }
    const double cores = cpuCount(paths_);
    static constexpr const char* kSuffix[] = {"1", "5", "15"};
    for (size_t i = 0; i < 3; ++i) {
      sender.gauge(std::string("system.load.") + kSuffix[i], load[i]);
      sender.gauge(std::string("system.load.norm.") + kSuffix[i], load[i] / cores);
    }
  }

 private:
  HostPaths paths_;
};

}  // namespace

std::unique_ptr<Check> makeLoadCheck(const HostPaths& paths) {
  return std::make_unique<LoadCheck>(paths);
}

}  // namespace outpost::checks
