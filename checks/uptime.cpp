#include "checks/builtin.h"

// system.uptime: seconds since boot, from /proc/uptime.
namespace outpost::checks {
namespace {

class UptimeCheck : public Check {
 public:
  explicit UptimeCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void run(Sender& sender) override {
    const std::string path = paths_.proc + "/uptime";
    const std::string text = readFile(path);
    const auto f = firstLineFields(text);
    if (f.empty()) {
      throw CheckError(path + ": empty");
    }
    sender.gauge("system.uptime", parseDouble(f[0], path));
  }

 private:
  HostPaths paths_;
};

}  // namespace

std::unique_ptr<Check> makeUptimeCheck(const HostPaths& paths) {
  return std::make_unique<UptimeCheck>(paths);
}

}  // namespace outpost::checks
