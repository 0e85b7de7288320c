#include <re2/re2.h>
#include <sys/statvfs.h>

#include <set>

#include "checks/builtin.h"

// system.disk.* (KiB, as the Agent) and system.fs.inodes.* per mounted filesystem from
// <proc>/self/mounts and statvfs(2): total, used (blocks - free blocks), free (available to
// users), in_use (used / (used + free)); inodes total, used, free, in_use. Tags device:<dev>
// and device_name:<basename>. Without all_partitions only filesystems on a device (not
// "nodev" in <proc>/filesystems: no tmpfs, proc, cgroup...) count; each device once.
// Instance keys: all_partitions, excluded_filesystems, excluded_disks, excluded_disk_re,
// excluded_mountpoint_re.
namespace outpost::checks {
namespace {

// /proc/self/mounts escapes space, tab, newline and backslash as \ooo.
std::string unescapeMount(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3') {
      const int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

class DiskCheck : public Check {
 public:
  explicit DiskCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void configure(const YAML::Node&, const YAML::Node& instance) override {
    all_partitions_ = boolSetting(instance, "all_partitions", false);
    for (auto& f : stringListSetting(instance, "excluded_filesystems")) {
      excluded_fs_.insert(std::move(f));
    }
    for (auto& d : stringListSetting(instance, "excluded_disks")) {
      excluded_disks_.insert(std::move(d));
    }
    if (auto re = regexSetting(instance, "excluded_disk_re"); !re.empty()) {
      disk_re_ = std::make_unique<RE2>(re, RE2::Quiet);
    }
    if (auto re = regexSetting(instance, "excluded_mountpoint_re"); !re.empty()) {
      mount_re_ = std::make_unique<RE2>(re, RE2::Quiet);
    }
  }

  void run(Sender& sender) override {
    std::set<std::string, std::less<>> nodev;
    try {
      const std::string filesystems = readFile(paths_.proc + "/filesystems");
      for (std::string_view line : splitLines(filesystems)) {
        const auto f = splitFields(line);
        if (f.size() == 2 && f[0] == "nodev") {
          nodev.emplace(f[1]);
        }
      }
    } catch (const CheckError&) {
      // Without the list: only devices with a path count.
    }
    const std::string path = paths_.proc + "/self/mounts";
    const std::string text = readFile(path);
    std::set<std::string> seen;
    for (std::string_view line : splitLines(text)) {
      const auto f = splitFields(line);
      if (f.size() < 3) {
        continue;
      }
      const std::string device = unescapeMount(f[0]);
      const std::string mountpoint = unescapeMount(f[1]);
      const std::string fstype(f[2]);
      if (!all_partitions_) {
        const bool pseudo =
            nodev.empty() ? device.empty() || device[0] != '/' : nodev.count(fstype) != 0;
        if (pseudo) {
          continue;
        }
      }
      if (excluded_fs_.count(fstype) || excluded_disks_.count(device) ||
          (disk_re_ && RE2::FullMatch(device, *disk_re_)) ||
          (mount_re_ && RE2::FullMatch(mountpoint, *mount_re_)) || !seen.insert(device).second) {
        continue;
      }
      struct statvfs st {};
      const std::string target = paths_.root + mountpoint;
      const int rc = paths_.statvfs ? paths_.statvfs(target, &st) : ::statvfs(target.c_str(), &st);
      if (rc != 0) {
        continue;  // unreachable (permissions, a stale network mount): nothing to report
      }
      const double frsize = static_cast<double>(st.f_frsize ? st.f_frsize : st.f_bsize);
      const double total = static_cast<double>(st.f_blocks) * frsize;
      const double free = static_cast<double>(st.f_bavail) * frsize;
      const double used = static_cast<double>(st.f_blocks - st.f_bfree) * frsize;
      const size_t slash = device.rfind('/');
      std::vector<std::string> tags = {
          "device:" + device,
          "device_name:" + (slash == std::string::npos ? device : device.substr(slash + 1))};
      sender.gauge("system.disk.total", total / 1024, tags);
      sender.gauge("system.disk.used", used / 1024, tags);
      sender.gauge("system.disk.free", free / 1024, tags);
      if (used + free > 0) {
        sender.gauge("system.disk.in_use", used / (used + free), tags);
      }
      if (st.f_files > 0) {
        const double itotal = static_cast<double>(st.f_files);
        const double ifree = static_cast<double>(st.f_ffree);
        sender.gauge("system.fs.inodes.total", itotal, tags);
        sender.gauge("system.fs.inodes.free", ifree, tags);
        sender.gauge("system.fs.inodes.used", itotal - ifree, tags);
        sender.gauge("system.fs.inodes.in_use", (itotal - ifree) / itotal, tags);
      }
    }
  }

 private:
  HostPaths paths_;
  bool all_partitions_ = false;
  std::set<std::string> excluded_fs_;
  std::set<std::string> excluded_disks_;
  std::unique_ptr<RE2> disk_re_;
  std::unique_ptr<RE2> mount_re_;
};

}  // namespace

std::unique_ptr<Check> makeDiskCheck(const HostPaths& paths) {
  return std::make_unique<DiskCheck>(paths);
}

}  // namespace outpost::checks
