#pragma once

#include <chrono>
#include <string_view>

namespace outpost {

// Talks to systemd's notification socket (Type=notify). Every call is a no-op when the process
// was not started with NOTIFY_SOCKET, so the daemon calls them unconditionally.
class SystemdNotifier {
 public:
  void ready(std::string_view status);
  void reloading();
  void stopping();
  void watchdog();
  void status(std::string_view status);
  // The interval at which WATCHDOG=1 must be sent (half the configured WatchdogSec), or zero
  // when the watchdog is off.
  std::chrono::microseconds watchdogPingInterval() const;
};

}  // namespace outpost
