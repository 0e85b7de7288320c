#include <map>

#include "checks/builtin.h"

// system.mem.* and system.swap.* from /proc/meminfo, in MiB as the Agent's memory check sends
// them: total, free, used (total - free), usable (MemAvailable; free + buffers + cached on
// kernels without it), cached (Cached + SReclaimable), buffered, shared, slab, page_tables,
// commit_limit, committed_as, pct_usable (usable / total, a fraction); swap total, free, used,
// cached, pct_free (a fraction).
namespace outpost::checks {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

class MemoryCheck : public Check {
 public:
  explicit MemoryCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void run(Sender& sender) override {
    const std::string path = paths_.proc + "/meminfo";
    const std::string text = readFile(path);
    std::map<std::string_view, double> kb;
    for (std::string_view line : splitLines(text)) {
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        continue;
      }
      const auto f = splitFields(line.substr(colon + 1));
      if (f.empty()) {
        continue;
      }
      kb[line.substr(0, colon)] =
          static_cast<double>(parseU64(f[0], path + " " + std::string(line.substr(0, colon))));
    }
    auto need = [&](std::string_view key) {
      auto it = kb.find(key);
      if (it == kb.end()) {
        throw CheckError(path + ": no " + std::string(key));
      }
      return it->second * 1024.0;
    };
    auto opt = [&](std::string_view key) {
      auto it = kb.find(key);
      return it == kb.end() ? 0.0 : it->second * 1024.0;
    };
    const double total = need("MemTotal");
    const double free = need("MemFree");
    const double buffers = opt("Buffers");
    const double cached = opt("Cached") + opt("SReclaimable");
    const double available =
        kb.count("MemAvailable") ? opt("MemAvailable") : free + buffers + cached;
    sender.gauge("system.mem.total", total / kMiB);
    sender.gauge("system.mem.free", free / kMiB);
    sender.gauge("system.mem.used", (total - free) / kMiB);
    sender.gauge("system.mem.usable", available / kMiB);
    sender.gauge("system.mem.cached", cached / kMiB);
    sender.gauge("system.mem.buffered", buffers / kMiB);
    sender.gauge("system.mem.shared", opt("Shmem") / kMiB);
    sender.gauge("system.mem.slab", opt("Slab") / kMiB);
    sender.gauge("system.mem.page_tables", opt("PageTables") / kMiB);
    sender.gauge("system.mem.commit_limit", opt("CommitLimit") / kMiB);
    sender.gauge("system.mem.committed_as", opt("Committed_AS") / kMiB);
    if (total > 0) {
      sender.gauge("system.mem.pct_usable", available / total);
    }
    const double swap_total = opt("SwapTotal");
    const double swap_free = opt("SwapFree");
    sender.gauge("system.swap.total", swap_total / kMiB);
    sender.gauge("system.swap.free", swap_free / kMiB);
    sender.gauge("system.swap.used", (swap_total - swap_free) / kMiB);
    sender.gauge("system.swap.cached", opt("SwapCached") / kMiB);
    if (swap_total > 0) {
      sender.gauge("system.swap.pct_free", swap_free / swap_total);
    }
  }

 private:
  HostPaths paths_;
};

}  // namespace

std::unique_ptr<Check> makeMemoryCheck(const HostPaths& paths) {
  return std::make_unique<MemoryCheck>(paths);
}

}  // namespace outpost::checks
