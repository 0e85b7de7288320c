// outpost-bench-forwarder [--mib N] [--payload-kib K]
//
// Delivery throughput of the Forwarder: N MiB of log-like JSON in K KiB payloads, compressed
// (zstd level 1, on the worker pool) and POSTed over loopback HTTP to sink servers that count
// bytes and answer 202, with one endpoint and with two (dual shipping). The reference, measured
// in the same run on the same bytes, is zstd level 1 on one thread: the target is forwarder
// throughput >= 0.8x that, i.e. compression is the only real cost.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/sink_server.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "core/worker_pool.h"
#include "forwarder/compression.h"
#include "forwarder/forwarder.h"

namespace outpost {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Log-like JSON arrays, with realistic repetition (compresses ~8-10x with zstd -1).
std::vector<std::string> makePayloads(size_t total_bytes, size_t payload_bytes) {
  std::mt19937_64 rng(12345);
  const char* services[] = {"auth", "checkout", "search", "cart", "nginx"};
  const char* levels[] = {"info", "warn", "error", "debug"};
  std::vector<std::string> out;
  size_t made = 0;
  while (made < total_bytes) {
    std::string body = "[";
    while (body.size() < payload_bytes) {
      char line[512];
      std::snprintf(line, sizeof line,
                    "%s{\"message\":\"%s request id=%016llx user=%llu path=/api/v1/items/%llu "
                    "took %llu ms\",\"status\":\"%s\",\"timestamp\":%llu,\"hostname\":"
                    "\"syslog-01\",\"service\":\"%s\",\"ddsource\":\"app\",\"ddtags\":"
                    "\"env:prod,filename:app.log\"}",
                    body.size() > 1 ? "," : "", levels[rng() % 4],
                    static_cast<unsigned long long>(rng()),
                    static_cast<unsigned long long>(rng() % 100000),
                    static_cast<unsigned long long>(rng() % 5000),
                    static_cast<unsigned long long>(rng() % 900), levels[rng() % 4],
                    static_cast<unsigned long long>(1700000000000ull + made), services[rng() % 5]);
      body += line;
    }
    body += "]";
    made += body.size();
    out.push_back(std::move(body));
  }
  return out;
}

struct Result {
  double seconds;
  uint64_t compressed_bytes;
};

Result runForwarder(const std::vector<std::string>& payloads, size_t endpoints) {
  std::vector<std::unique_ptr<bench::SinkServer>> sinks;
  for (size_t i = 0; i < endpoints; ++i) {
    sinks.push_back(std::make_unique<bench::SinkServer>());
  }
  Loop loop;
  Telemetry telemetry;
  WorkerPool pool(loop.get(), 2, 4096, telemetry);
  Forwarder::Options o;
  o.endpoints.logs.push_back(Endpoint{IntakeKind::kLogs, "logs", sinks[0]->url(), "k", true});
  for (size_t i = 1; i < endpoints; ++i) {
    o.endpoints.logs.push_back(
        Endpoint{IntakeKind::kLogs, "logs#" + std::to_string(i), sinks[i]->url(), "k", false});
  }
  o.endpoints.metrics.push_back(
      Endpoint{IntakeKind::kMetrics, "metrics", sinks[0]->url(), "k", true});
  o.endpoints.traces.push_back(Endpoint{IntakeKind::kTraces, "traces", sinks[0]->url(), "k", true});
  o.validate_interval_ms = 0;
  o.logs_encoding = Encoding::kZstd;
  o.logs_level = 1;
  o.memory_budget_bytes = 64ull << 20;
  Forwarder forwarder(loop.get(), pool, telemetry, o);
  forwarder.start();
  // Encoders hand their buffers over: copies made before the clock starts, moved in.
  std::vector<std::string> bodies(payloads);
  size_t next = 0;
  size_t acked = 0;
  const auto start = Clock::now();
  Timer feeder(loop.get(), [&] {
    while (next < payloads.size()) {
      Payload p;
      p.intake = IntakeKind::kLogs;
      p.route = "/api/v2/logs";
      p.content_type = "application/json";
      p.spoolable = false;
      p.body = std::move(bodies[next]);
      if (forwarder.submit(std::move(p), [&](const AckResult&) { ++acked; }) !=
          Forwarder::SubmitResult::kAccepted) {
        bodies[next] = std::move(p.body);  // pushed back, untouched: again on the next tick
        break;
      }
      ++next;
    }
    if (acked == payloads.size()) {
      loop.stop();
    }
  });
  feeder.start(0, 1);
  loop.run();
  const double seconds = secondsSince(start);
  uint64_t compressed = 0;
  for (const auto& s : forwarder.status()) {
    if (s.primary && s.name == "logs") {
      compressed = s.bytes_sent;
    }
  }
  bool stopped = false;
  forwarder.stop([&] { stopped = true; });
  while (!stopped) {
    loop.run();
  }
  return Result{seconds, compressed};
}

}  // namespace
}  // namespace outpost

int main(int argc, char** argv) {
  size_t mib = 256;
  size_t kib = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--mib") == 0) {
      mib = std::strtoul(argv[i + 1], nullptr, 10);
    } else if (std::strcmp(argv[i], "--payload-kib") == 0) {
      kib = std::strtoul(argv[i + 1], nullptr, 10);
    }
  }
  using namespace outpost;
  const auto payloads = makePayloads(mib << 20, kib << 10);
  uint64_t total = 0;
  for (const auto& p : payloads) {
    total += p.size();
  }
  const double mb = static_cast<double>(total) / 1e6;

  // Reference: zstd level 1 on one thread, same bytes. Median of three.
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::string out;
  std::string error;
  uint64_t zstd_out = 0;
  std::vector<double> zstd_runs;
  for (int run = 0; run < 3; ++run) {
    zstd_out = 0;
    auto t0 = Clock::now();
    for (const auto& p : payloads) {
      compress(Encoding::kZstd, 1, p, out, &error);
      zstd_out += out.size();
    }
    zstd_runs.push_back(secondsSince(t0));
  }
  const double zstd_s = median(zstd_runs);

  std::printf(
      "outpost-bench-forwarder: %zu payloads of %zu KiB, %.1f MB uncompressed; median of 3 "
      "runs after a warm-up\n",
      payloads.size(), kib, mb);
  std::printf("  %-36s %10s %12s %14s %8s\n", "", "payloads/s", "MB/s (raw)", "MB/s (zstd)",
              "vs zstd");
  std::printf("  %-36s %10.0f %12.1f %14.1f %8s\n", "zstd -1, one thread (reference)",
              payloads.size() / zstd_s, mb / zstd_s, zstd_out / 1e6 / zstd_s, "1.00x");
  runForwarder(payloads, 1);  // warm-up: threads, allocator, connections
  double ratio1 = 0;
  double ratio2 = 0;
  for (size_t endpoints : {1u, 2u}) {
    std::vector<double> secs;
    uint64_t compressed = 0;
    for (int run = 0; run < 3; ++run) {
      const Result r = runForwarder(payloads, endpoints);
      secs.push_back(r.seconds);
      compressed = r.compressed_bytes;
    }
    const double s_med = median(secs);
    const double ratio = zstd_s / s_med;
    (endpoints == 1 ? ratio1 : ratio2) = ratio;
    char label[64];
    std::snprintf(label, sizeof label, "forwarder, %zu endpoint%s (HTTP, loopback)", endpoints,
                  endpoints == 1 ? "" : "s");
    std::printf("  %-36s %10.0f %12.1f %14.1f %7.2fx\n", label, payloads.size() / s_med, mb / s_med,
                compressed / 1e6 / s_med, ratio);
  }
  std::printf("  target: forwarder >= 0.80x zstd -1 on one thread: %s\n",
              ratio1 >= 0.8 ? "PASS" : "MISS");
  std::printf("RESULT payloads=%zu raw_mb=%.1f zstd_mbps=%.1f fwd1_ratio=%.2f fwd2_ratio=%.2f\n",
              payloads.size(), mb, mb / zstd_s, ratio1, ratio2);
  return 0;
}
