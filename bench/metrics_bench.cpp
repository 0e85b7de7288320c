// outpost-bench-metrics: metric queries of the query socket's store (/v1/metrics/query) over an
// hour of 10 s points for 10,000 series of one metric (100 hosts x 100 devices), in process;
// next to the reference measured in the same run: one pass summing the same 3.6 M doubles laid
// out the same way (a ring of 360 per series), the least any query over them must do. Also the
// cost of storing one flush of 10,000 series.
//
//   outpost-bench-metrics [--series N] [--runs N]
//
// Target (issue 8): each query answers in <= 50 ms. The last line is `RESULT key=value ...`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "collector/query/metric_store.h"

namespace {

using outpost::Serie;
using outpost::SeriesType;
using outpost::query::MetricQuery;
using outpost::query::MetricQueryOptions;
using outpost::query::MetricStore;
using outpost::query::MetricStoreOptions;

double nowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t series_count = 10000;
  int runs = 15;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--series" && i + 1 < argc) {
      series_count = std::strtoul(argv[++i], nullptr, 10);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: outpost-bench-metrics [--series N] [--runs N]\n");
      return 2;
    }
  }
  constexpr int64_t kSlots = 360;
  constexpr int64_t kT0 = 1795338000;
  MetricStoreOptions o;
  o.max_contexts = series_count;
  MetricStore store(o);

  // One flush's worth of series, refilled with new points each 10 s.
  std::vector<Serie> flush(series_count);
  for (size_t i = 0; i < series_count; ++i) {
    flush[i].name = "bench.io.util";
    flush[i].host = "h" + std::to_string(i / 100);
    flush[i].device = "d" + std::to_string(i % 100);
    flush[i].tags = {"env:prod", "team:storage"};
    flush[i].type = SeriesType::kGauge;
    flush[i].interval = 10;
    flush[i].points.resize(1);
  }
  std::vector<double> flush_ms;
  for (int64_t s = 0; s < kSlots; ++s) {
    for (size_t i = 0; i < series_count; ++i) {
      flush[i].points[0] = {kT0 + s * 10, static_cast<double>((i * 7 + s * 13) % 1000) / 10};
    }
    const double t = nowMs();
    store.add(flush);
    flush_ms.push_back(nowMs() - t);
  }

  // Reference: the same values in the same shape, summed once.
  std::vector<std::unique_ptr<double[]>> rings(series_count);
  for (size_t i = 0; i < series_count; ++i) {
    rings[i] = std::make_unique<double[]>(kSlots);
    for (int64_t s = 0; s < kSlots; ++s) {
      rings[i][s] = static_cast<double>((i * 7 + s * 13) % 1000) / 10;
    }
  }
  std::vector<double> ref;
  volatile double sink = 0;
  for (int r = 0; r < runs; ++r) {
    const double t = nowMs();
    double sum = 0;
    for (size_t i = 0; i < series_count; ++i) {
      for (int64_t s = 0; s < kSlots; ++s) {
        sum += rings[i][s];
      }
    }
    sink = sink + sum;
    ref.push_back(nowMs() - t);
  }
  const double ref_ms = median(ref);

  const std::vector<std::pair<const char*, const char*>> queries = {
      {"all", "avg:bench.io.util{*}"},
      {"by_host", "avg:bench.io.util{*} by {host}"},
      {"filtered", "max:bench.io.util{host:h1*,!device:d5*} by {device}.rollup(max, 60)"},
      {"by_host_device", "sum:bench.io.util{env:prod} by {host,device}"},
  };
  std::printf(
      "metric store: %zu series x %lld points (1 h at 10 s); store one flush: %.2f ms "
      "(median)\n",
      series_count, static_cast<long long>(kSlots), median(flush_ms));
  std::printf("reference: one pass summing the same %.1f M doubles: %.2f ms\n",
              static_cast<double>(series_count * kSlots) / 1e6, ref_ms);
  std::string result = "RESULT series=" + std::to_string(series_count);
  char buf[256];
  std::snprintf(buf, sizeof buf, " flush_ms=%.2f ref_ms=%.2f", median(flush_ms), ref_ms);
  result += buf;
  bool all_ok = true;
  for (const auto& [key, text] : queries) {
    MetricQuery q;
    std::string error;
    if (!outpost::query::parseMetricQuery(text, &q, &error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    MetricQueryOptions qo;
    qo.from_s = kT0;
    qo.to_s = kT0 + kSlots * 10 - 1;
    std::vector<double> times;
    size_t groups = 0;
    for (int r = 0; r < runs; ++r) {
      const double t = nowMs();
      auto j = store.query(q, qo, &error);
      // Serialised too: the answer goes out as JSON.
      const std::string body = j->dump();
      times.push_back(nowMs() - t);
      groups = (*j)["series_total"].get<size_t>();
    }
    const double ms = median(times);
    all_ok = all_ok && ms <= 50;
    std::printf("  %-72s %6.2f ms (%5zu groups)  %5.1fx the reference  %s\n", text, ms, groups,
                ms / ref_ms, ms <= 50 ? "<= 50 ms: met" : "> 50 ms: MISSED");
    std::snprintf(buf, sizeof buf, " %s_ms=%.2f", key, ms);
    result += buf;
  }
  std::printf("%s target=%s\n", result.c_str(), all_ok ? "met" : "missed");
  return 0;
}
