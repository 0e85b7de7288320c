#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace outpost {

// One bounded resource of the daemon (a queue, buffer, store or cache): what it holds now
// against the limit that bounds it. Components report theirs (Component::resources) and
// `outpost status` shows them side by side, so an operator sees what is close to its limit and
// which key raises it.
struct ResourceUsage {
  std::string name;  // e.g. "forwarder.memory{endpoint:metrics}"
  std::string unit;  // "bytes", or what is counted: "contexts", "files", "connections", ...
  uint64_t used = 0;
  uint64_t limit = 0;
  std::string key;   // the configuration key that sets the limit; empty: fixed
  std::string note;  // what happens at the limit, in a few words
  // A ring or cache that replaces its oldest entries, or a limit past which work only waits:
  // being at it is normal, not a warning.
  bool full_is_normal = false;
  // How far past `limit` used may go by design: a limit checked when an item is admitted lets
  // the last item admitted (a payload, a batch, a request) pass it by its size.
  uint64_t slack = 0;
};

using Resources = std::vector<ResourceUsage>;

}  // namespace outpost
