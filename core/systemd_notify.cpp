#include "core/systemd_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <string>

#include "core/log.h"

namespace outpost {
namespace {

void send(std::string_view message) {
  const std::string m(message);
  const int rc = sd_notify(0, m.c_str());
  if (rc < 0) {
    LOG_WARN("systemd", "sd_notify({}) failed: {}", m.substr(0, m.find('\n')), rc);
  }
}

}  // namespace

void SystemdNotifier::ready(std::string_view status) {
  send("READY=1\nSTATUS=" + std::string(status));
}

void SystemdNotifier::reloading() {
  // systemd >= 253 wants MONOTONIC_USEC with RELOADING=1; older versions ignore it.
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long usec = static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void SystemdNotifier::stopping() {
  send("STOPPING=1");
}
void SystemdNotifier::watchdog() {
  send("WATCHDOG=1");
}
void SystemdNotifier::status(std::string_view status) {
  send("STATUS=" + std::string(status));
}

std::chrono::microseconds SystemdNotifier::watchdogPingInterval() const {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    return std::chrono::microseconds(usec / 2);
  }
  return std::chrono::microseconds(0);
}

}  // namespace outpost
