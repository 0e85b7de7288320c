// outpost-bench-outage [--seconds S] [--mbps R] [--budget-mib B]
//
// An intake outage under steady load: the Forwarder gets R MB/s of metrics-like payloads
// (spoolable, 256 KiB each) while the intake answers 503 for S seconds, then recovers. Prints
// the process RSS over the outage against the in-memory budget (the target: the outage costs
// no more memory than the budget), what went to the disk spool, and how long the backlog takes
// to drain after recovery. The full target run is --seconds 600; ./dev bench runs 30.
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "bench/sink_server.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "core/worker_pool.h"
#include "forwarder/forwarder.h"

namespace outpost {
namespace {

using Clock = std::chrono::steady_clock;

double rssMib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stod(line.substr(6)) / 1024.0;
    }
  }
  return 0;
}

std::string makeBody(std::mt19937_64& rng, size_t size) {
  std::string body;
  body.reserve(size + 256);
  while (body.size() < size) {
    body += "system.cpu.user host:syslog-" + std::to_string(rng() % 50) +
            " value=" + std::to_string(rng() % 100000) + " ts=" + std::to_string(rng()) + "\n";
  }
  return body;
}

}  // namespace
}  // namespace outpost

int main(int argc, char** argv) {
  using namespace outpost;
  int seconds = 30;
  double mbps = 5;
  uint64_t budget_mib = 15;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) {
      seconds = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--mbps") == 0) {
      mbps = std::atof(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--budget-mib") == 0) {
      budget_mib = std::strtoull(argv[i + 1], nullptr, 10);
    }
  }
  char tmpl[] = "/tmp/outpost-bench-outage-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  bench::SinkServer intake(503);
  Loop loop;
  Telemetry telemetry;
  WorkerPool pool(loop.get(), 2, 4096, telemetry);
  Forwarder::Options o;
  o.endpoints.metrics.push_back(Endpoint{IntakeKind::kMetrics, "metrics", intake.url(), "k", true});
  o.endpoints.logs.push_back(Endpoint{IntakeKind::kLogs, "logs", intake.url(), "k", true});
  o.endpoints.traces.push_back(Endpoint{IntakeKind::kTraces, "traces", intake.url(), "k", true});
  o.validate_interval_ms = 0;
  o.memory_budget_bytes = budget_mib << 20;
  o.spool_dir = dir;
  o.spool_max_bytes = 4ull << 30;
  o.spool_max_disk_ratio = 0.95;
  o.retry = RetryPolicy::Options{0.5, 2, 2};
  Forwarder forwarder(loop.get(), pool, telemetry, o);
  forwarder.start();

  constexpr size_t kPayload = 256 * 1024;
  std::mt19937_64 rng(1);
  const double per_tick = mbps * 1e6 / kPayload / 10;  // payloads per 100 ms
  double owed = 0;
  uint64_t submitted = 0;
  auto submitOne = [&] {
    Payload p;
    p.route = "/api/v2/series";
    p.content_type = "application/x-protobuf";
    p.body = makeBody(rng, kPayload);
    forwarder.submit(std::move(p));
    ++submitted;
  };
  // Warm-up: a few payloads through a healthy intake, so the baseline includes the machinery.
  intake.setStatus(202);
  for (int i = 0; i < 20; ++i) {
    submitOne();
  }
  Timer settle(loop.get(), [&] { loop.stop(); });
  settle.start(1000);
  loop.run();
  intake.setStatus(503);
  const double baseline = rssMib();
  double peak = baseline;
  const auto start = Clock::now();
  bool recovered = false;
  Clock::time_point recovered_at;
  double drain_seconds = -1;
  std::printf(
      "outpost-bench-outage: %.1f MB/s of 256 KiB payloads, intake down %d s, memory "
      "budget %llu MiB\n",
      mbps, seconds, static_cast<unsigned long long>(budget_mib));
  std::printf("  %6s %10s %10s %12s %10s\n", "t (s)", "RSS MiB", "queue MiB", "spool MiB",
              "spooled");
  int tick = 0;
  Timer ticker(loop.get(), [&] {
    ++tick;
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    if (!recovered) {
      owed += per_tick;
      while (owed >= 1) {
        submitOne();
        owed -= 1;
      }
    }
    peak = std::max(peak, rssMib());
    const auto s = forwarder.status()[0];
    if (tick % (recovered ? 10 : std::max(10, seconds)) == 0) {
      std::printf("  %6.0f %10.1f %10.1f %12.1f %10zu\n", t, rssMib(), s.queued_bytes / 1048576.0,
                  s.spool_bytes / 1048576.0, s.spool_records);
      std::fflush(stdout);
    }
    if (!recovered && t >= seconds) {
      recovered = true;
      recovered_at = Clock::now();
      intake.setStatus(202);
      std::printf("  intake back at t=%.0f s: %llu payloads submitted, %zu on disk\n", t,
                  static_cast<unsigned long long>(submitted), s.spool_records);
    }
    if (recovered && intake.accepted() >= submitted) {
      drain_seconds = std::chrono::duration<double>(Clock::now() - recovered_at).count();
      loop.stop();
    }
    if (recovered && std::chrono::duration<double>(Clock::now() - recovered_at).count() > 600) {
      loop.stop();
    }
  });
  ticker.start(100, 100);
  loop.run();
  const double delta = peak - baseline;
  std::printf(
      "  baseline RSS %.1f MiB, peak %.1f MiB: the outage cost %.1f MiB against a budget "
      "of %llu MiB (%s)\n",
      baseline, peak, delta, static_cast<unsigned long long>(budget_mib),
      delta <= static_cast<double>(budget_mib) ? "PASS" : "MISS");
  std::printf("  delivered %llu of %llu after recovery in %.1f s\n",
              static_cast<unsigned long long>(intake.accepted()),
              static_cast<unsigned long long>(submitted), drain_seconds);
  std::printf(
      "RESULT seconds=%d mbps=%.1f baseline_rss_mib=%.1f peak_rss_mib=%.1f "
      "outage_cost_mib=%.1f budget_mib=%llu delivered=%llu submitted=%llu drain_s=%.1f\n",
      seconds, mbps, baseline, peak, delta, static_cast<unsigned long long>(budget_mib),
      static_cast<unsigned long long>(intake.accepted()),
      static_cast<unsigned long long>(submitted), drain_seconds);
  bool stopped = false;
  forwarder.stop([&] { stopped = true; });
  while (!stopped) {
    loop.run();
  }
  std::filesystem::remove_all(dir);
  return intake.accepted() >= submitted ? 0 : 1;
}
