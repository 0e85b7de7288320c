#include <dirent.h>

#include <map>

#include "checks/builtin.h"

// system.processes.count by state (tag state:running|sleeping|disk_sleep|stopped|zombie|idle|
// other), from the state letter of every /proc/<pid>/stat, and system.processes.total. A
// process that exits while it is read is skipped.
namespace outpost::checks {
namespace {

const char* stateName(char c) {
  switch (c) {
    case 'R':
      return "running";
    case 'S':
      return "sleeping";
    case 'D':
      return "disk_sleep";
    case 'T':
    case 't':
      return "stopped";
    case 'Z':
      return "zombie";
    case 'I':
      return "idle";
    default:
      return "other";
  }
}

class ProcessCheck : public Check {
 public:
  explicit ProcessCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void run(Sender& sender) override {
    DIR* dir = ::opendir(paths_.proc.c_str());
    if (dir == nullptr) {
      throw CheckError("cannot list " + paths_.proc);
    }
    std::map<std::string, int> counts;
    for (const char* s : {"running", "sleeping", "disk_sleep", "stopped", "zombie", "idle"}) {
      counts[s] = 0;
    }
    int total = 0;
    while (const dirent* e = ::readdir(dir)) {
      const std::string_view name = e->d_name;
      if (name.empty() || name.find_first_not_of("0123456789") != std::string_view::npos) {
        continue;
      }
      std::string text;
      try {
        text = readFile(paths_.proc + "/" + std::string(name) + "/stat");
      } catch (const CheckError&) {
        continue;  // gone meanwhile
      }
      // "pid (comm) S ...": the state follows the last ')' (comm may hold spaces and parens).
      const size_t paren = text.rfind(')');
      if (paren == std::string::npos || paren + 2 >= text.size()) {
        continue;
      }
      ++counts[stateName(text[paren + 2])];
      ++total;
    }
    ::closedir(dir);
    for (const auto& [state, n] : counts) {
      sender.gauge("system.processes.count", n, {"state:" + state});
    }
    sender.gauge("system.processes.total", total);
  }

 private:
  HostPaths paths_;
};

}  // namespace

std::unique_ptr<Check> makeProcessCheck(const HostPaths& paths) {
  return std::make_unique<ProcessCheck>(paths);
}

}  // namespace outpost::checks
