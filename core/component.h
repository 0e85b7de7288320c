#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "core/config.h"
#include "core/resources.h"

namespace outpost {

// A long-lived part of the daemon (a source, the forwarder, a store). The daemon starts
// components in the order they were added and stops them in reverse, so a source stops before
// the forwarder it feeds. All methods run on the loop thread.
class Component {
 public:
  virtual ~Component() = default;

  virtual std::string_view name() const = 0;
  // Opens sockets, files and timers. Returns false (after logging why) if it cannot run.
  virtual bool start() = 0;
  // Stops taking input, drains what is queued, writes state, then calls `done` exactly once on
  // the loop thread. The daemon gives up waiting at shutdown_timeout.
  virtual void stop(std::function<void()> done) = 0;
  // A reloaded configuration was accepted (SIGHUP).
  virtual void reconfigure(const LoadedConfig& config) { (void)config; }
  // Appends what its bounded queues, buffers, stores and caches hold against their limits
  // (shown by `outpost status`).
  virtual void resources(Resources& out) const { (void)out; }
};

using ComponentPtr = std::unique_ptr<Component>;

}  // namespace outpost
