// outpost-bench-checks: the cost of one run of every default host check (the conf.yaml.default
// instances shipped in conf.d/), in CPU time and wall time, and its share of one core at the
// default 15 s interval; next to the reference measured in the same run: merely reading the
// same /proc files (what any check must at least do).
//
//   outpost-bench-checks [--runs N] [--confd DIR]
//
// The last line is `RESULT key=value ...`.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "checks/check.h"

namespace {

double threadCpuMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double wallMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The files the default checks read, read whole (the reference).
size_t readProcFiles() {
  static const char* kFiles[] = {"/proc/stat",        "/proc/loadavg",        "/proc/meminfo",
                                 "/proc/uptime",      "/proc/sys/fs/file-nr", "/proc/self/mounts",
                                 "/proc/filesystems", "/proc/diskstats",      "/proc/net/dev",
                                 "/proc/net/snmp"};
  size_t total = 0;
  char buf[65536];
  for (const char* f : kFiles) {
    const int fd = ::open(f, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      total += static_cast<size_t>(n);
    }
    ::close(fd);
  }
  // /proc/<pid>/stat of every process, as the process check reads them.
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const int fd = ::open((e.path() / "stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    total += n > 0 ? static_cast<size_t>(n) : 0;
    ::close(fd);
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 200;
  std::string confd = OUTPOST_SOURCE_DIR "/conf.d";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (a == "--confd" && i + 1 < argc) {
      confd = argv[++i];
    } else {
      std::fprintf(stderr, "usage: outpost-bench-checks [--runs N] [--confd DIR]\n");
      return 2;
    }
  }
  using namespace outpost::checks;
  struct Entry {
    std::string name;
    std::unique_ptr<Check> check;
    Sender sender;
    double cpu_ms = 0;
  };
  std::vector<Entry> entries;
  for (const auto& name : builtinChecks()) {
    const std::string file = confd + "/" + name + ".d/conf.yaml.default";
    YAML::Node instance;
    YAML::Node init;
    if (std::filesystem::exists(file)) {
      const YAML::Node doc = YAML::LoadFile(file);
      init = doc["init_config"];
      if (doc["instances"] && doc["instances"].size() > 0) {
        instance = doc["instances"][0];
      }
    }
    Entry e;
    e.name = name;
    e.check = makeCheck(name, HostPaths{});
    e.check->configure(init, instance);
    entries.push_back(std::move(e));
  }
  // Two warm-up runs (rates need a previous value, as in the daemon).
  double t = 1000;
  for (int w = 0; w < 2; ++w) {
    for (auto& e : entries) {
      e.sender.setTime(t);
      e.check->run(e.sender);
      e.sender.commit(t, "bench-host", {});
    }
    t += 15;
  }
  size_t series = 0;
  const double cpu0 = threadCpuMs();
  const double wall0 = wallMs();
  for (int r = 0; r < runs; ++r) {
    for (auto& e : entries) {
      const double c0 = threadCpuMs();
      e.sender.setTime(t);
      e.check->run(e.sender);
      series += e.sender.commit(t, "bench-host", {}).series.size();
      e.cpu_ms += threadCpuMs() - c0;
    }
    t += 15;
  }
  const double cpu_per_run = (threadCpuMs() - cpu0) / runs;
  const double wall_per_run = (wallMs() - wall0) / runs;
  size_t bytes = 0;
  const double rcpu0 = threadCpuMs();
  for (int r = 0; r < runs; ++r) {
    bytes += readProcFiles();
  }
  const double ref_cpu = (threadCpuMs() - rcpu0) / runs;

  std::printf("outpost-bench-checks: %d runs of all %zu default checks (%zu series a run)\n\n",
              runs, entries.size(), series / static_cast<size_t>(runs));
  std::printf("%-14s %12s\n", "check", "CPU ms/run");
  for (const auto& e : entries) {
    std::printf("%-14s %12.3f\n", e.name.c_str(), e.cpu_ms / runs);
  }
  const double share = cpu_per_run / 15000.0 * 100.0;
  std::printf("\nall checks, one run: %.3f ms CPU, %.3f ms wall (target <= 5 ms CPU)\n",
              cpu_per_run, wall_per_run);
  std::printf(
      "reading the same /proc files only (ref): %.3f ms CPU (%zu bytes); checks/ref %.2fx\n",
      ref_cpu, bytes / static_cast<size_t>(runs), cpu_per_run / ref_cpu);
  std::printf("share of one core at the 15 s interval: %.4f %% (target <= 0.05 %%)\n", share);
  std::printf(
      "\nRESULT checks_cpu_ms=%.3f checks_wall_ms=%.3f ref_read_cpu_ms=%.3f "
      "checks_vs_ref=%.2f core_share_pct=%.5f\n",
      cpu_per_run, wall_per_run, ref_cpu, cpu_per_run / ref_cpu, share);
  return 0;
}
