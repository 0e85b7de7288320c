// libFuzzer target for the query socket's metric query syntax: any text must parse or be refused
// with a reason, never crash; a query that parses must run against a small metric store
// (several metrics, tag sets, types and gaps) and answer JSON or a reason, whatever its filters,
// wildcards, groups, rollups and modifiers ask for. The time range comes from the first bytes.
//
// Input layout: byte 0 picks the range and the point budget, the rest is the query text.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "collector/query/metric_store.h"

namespace {

using outpost::Serie;
using outpost::SeriesType;
using outpost::query::MetricQuery;
using outpost::query::MetricQueryOptions;
using outpost::query::MetricStore;

constexpr int64_t kNow = 1795338840;  // a multiple of 10

const MetricStore& store() {
  static const MetricStore* s = [] {
    auto* m = new MetricStore({.retention_s = 600, .resolution_s = 10, .max_contexts = 64});
    std::vector<Serie> series;
    const char* hosts[] = {"web-1", "web-2", "db"};
    const char* devices[] = {"", "sda", "nvme0n1"};
    for (int h = 0; h < 3; ++h) {
      for (int d = 0; d < 3; ++d) {
        for (SeriesType t : {SeriesType::kGauge, SeriesType::kCount, SeriesType::kRate}) {
          Serie s;
          s.name = t == SeriesType::kGauge   ? "system.io.util"
                   : t == SeriesType::kCount ? "app.requests"
                                             : "app.bytes";
          s.host = hosts[h];
          s.device = devices[d];
          s.tags = {"env:prod", std::string("role:") + (h < 2 ? "web" : "db"), "version:1.2"};
          s.type = t;
          s.interval = t == SeriesType::kRate ? 10 : 0;
          for (int64_t ts = kNow - 600; ts <= kNow; ts += 10) {
            if ((ts / 10 + h + d) % 7 != 0) {  // gaps
              s.points.emplace_back(ts, static_cast<double>((ts / 10) % 13) - 3.5 * d);
            }
          }
          series.push_back(std::move(s));
        }
      }
    }
    m->add(series);
    return m;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  const uint8_t mode = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  MetricQuery q;
  std::string error;
  if (!outpost::query::parseMetricQuery(text, &q, &error)) {
    if (error.empty()) {
      std::abort();  // a refusal always says why
    }
    return 0;
  }
  MetricQueryOptions o;
  const int64_t span = (mode & 3) == 0 ? 60 : (mode & 3) == 1 ? 600 : (mode & 3) == 2 ? 3600 : 1;
  o.to_s = kNow - (mode >> 4) * 10;
  o.from_s = o.to_s - span;
  o.max_points = (mode & 4) != 0 ? 1 : 360;
  o.max_series = (mode & 8) != 0 ? 1 : 100;
  auto answer = store().query(q, o, &error);
  if (answer) {
    (void)answer->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else if (error.empty()) {
    std::abort();
  }
  return 0;
}
