#include "checks/builtin.h"

// system.fs.file_handles.*: from /proc/sys/fs/file-nr (allocated, allocated but unused, max):
// allocated, allocated_unused, used (allocated - unused), max, in_use (used / max).
namespace outpost::checks {
namespace {

class FileHandleCheck : public Check {
 public:
  explicit FileHandleCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void run(Sender& sender) override {
    const std::string path = paths_.proc + "/sys/fs/file-nr";
    const std::string text = readFile(path);
    const auto f = firstLineFields(text);
    if (f.size() < 3) {
      throw CheckError(path + ": 3 numbers expected");
    }
    const double allocated = static_cast<double>(parseU64(f[0], path));
    const double unused = static_cast<double>(parseU64(f[1], path));
    const double max = static_cast<double>(parseU64(f[2], path));
    sender.gauge("system.fs.file_handles.allocated", allocated);
    sender.gauge("system.fs.file_handles.allocated_unused", unused);
    sender.gauge("system.fs.file_handles.used", allocated - unused);
    sender.gauge("system.fs.file_handles.max", max);
    if (max > 0) {
      sender.gauge("system.fs.file_handles.in_use", (allocated - unused) / max);
    }
  }

 private:
  HostPaths paths_;
};

}  // namespace

std::unique_ptr<Check> makeFileHandleCheck(const HostPaths& paths) {
  return std::make_unique<FileHandleCheck>(paths);
}

}  // namespace outpost::checks
