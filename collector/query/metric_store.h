#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metrics.h"

// The recent metrics the query socket answers from (issue 8, /v1/metrics/query and
// /v1/metrics/list): every series the aggregator and the checks flushed, kept at 10 s resolution
// for `retention_s` in a fixed ring per context (one double a slot, NaN when empty). A context is
// a metric name with its tags (host: and device: included, as the intake sees them). At
// `max_contexts` new contexts are refused and counted; contexts silent for a whole retention are
// recycled. Written on the loop at each flush, read by queries on the worker pool: a
// reader-writer lock, held by a writer for the copy of one flush.
namespace outpost::query {

// A parsed metric query: `avg:system.cpu.user{host:a,!device:sda} by {device}.rollup(max, 60)`.
struct MetricQuery {
  enum class Agg { kAvg, kSum, kMin, kMax, kCount };
  struct Filter {
    std::string key;    // empty: a bare tag matched whole against `value`
    std::string value;  // may hold * wildcards; "*" alone: any value of key
    bool negated = false;
  };
  Agg space = Agg::kAvg;
  std::string metric;
  std::vector<Filter> filters;  // ANDed; none: every context of the metric
  std::vector<std::string> group_by;
  std::optional<Agg> rollup;  // default: avg, or sum for count metrics
  int64_t rollup_s = 0;       // 0: chosen from the time range (at most max_points points)
  bool as_count = false;      // .as_count(): rates times their interval, sum rollup
  bool as_rate = false;       // .as_rate(): counts divided by the rollup interval
  std::string text;           // as given
};

// Parses `text`; false with *error naming what is wrong and where.
bool parseMetricQuery(std::string_view text, MetricQuery* out, std::string* error);
const char* aggName(MetricQuery::Agg a);

struct MetricStoreOptions {
  int64_t retention_s = 3600;
  int64_t resolution_s = 10;
  size_t max_contexts = 10000;
};

struct MetricQueryOptions {
  int64_t from_s = 0;       // inclusive
  int64_t to_s = 0;         // inclusive
  size_t max_points = 360;  // per series when rollup_s is 0
  size_t max_series = 100;  // groups returned; the rest counted (truncated)
};

class MetricStore {
 public:
  explicit MetricStore(MetricStoreOptions options = {});

  // One flush's series (points at any time; each lands in its 10 s slot: counts add up,
  // gauges and rates keep the last) and distributions (their average per bucket).
  void add(const std::vector<Serie>& series);
  void addSketches(const std::vector<SketchSerie>& sketches);

  // {"query", "from", "to", "interval_s", "rollup", "series": [{"metric", "scope", "group",
  // "tag_set", "contexts", "points": [[ts_ms, value|null]...], "summary": {min, max, avg,
  // last}}], "truncated", "series_total"}; 400-worthy problems go to *error (nullopt).
  std::optional<nlohmann::json> query(const MetricQuery& q, const MetricQueryOptions& o,
                                      std::string* error) const;

  // Metric names (those starting with `prefix`, with a context matching every filter), sorted,
  // from `cursor` (the last name of the previous page), at most `limit`.
  nlohmann::json list(std::string_view prefix, const std::vector<MetricQuery::Filter>& filters,
                      size_t limit, std::string_view cursor) const;

  struct Stats {
    size_t contexts = 0;
    size_t max_contexts = 0;
    uint64_t contexts_refused = 0;
    uint64_t points = 0;  // accepted since start
    uint64_t points_too_old = 0;
    size_t bytes = 0;  // rings and tags, approximately
    int64_t retention_s = 0;
  };
  Stats stats() const;
  nlohmann::json statusJson() const;

 private:
  struct Context {
    uint32_t metric = 0;            // index into names_
    std::vector<std::string> tags;  // sorted; host:/device: included
    SeriesType type = SeriesType::kGauge;
    int64_t interval = 0;  // of a rate: seconds per point (as_count multiplies by it)
    int64_t newest = -1;   // slot number (ts / resolution) of the newest point; -1: free
    std::unique_ptr<double[]> ring;
  };
  uint32_t contextFor(std::string_view name, const std::vector<std::string>& tags,
                      const std::string& host, const std::string& device, SeriesType type,
                      int64_t interval);
  void put(Context& c, int64_t ts, double value, bool add);
  void recycle(int64_t newest_slot);
  double at(const Context& c, int64_t slot) const;  // NaN when empty or out of the ring

  MetricStoreOptions options_;
  size_t slots_;
  mutable std::shared_mutex mu_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> name_index_;
  std::unordered_map<std::string, uint32_t> index_;  // name|tags → context
  std::vector<Context> contexts_;
  std::vector<std::vector<uint32_t>> by_metric_;  // names_ index → its contexts
  std::vector<uint32_t> free_;
  size_t live_ = 0;
  size_t tag_bytes_ = 0;
  int64_t newest_slot_ = 0;
  int64_t last_recycle_slot_ = 0;
  uint64_t refused_ = 0;
  uint64_t points_ = 0;
  uint64_t too_old_ = 0;
};

// True when the tag set (sorted "key:value" strings) satisfies every filter.
bool matchFilters(const std::vector<std::string>& tags,
                  const std::vector<MetricQuery::Filter>& filters);
// `*` in `pattern` matches any run of characters.
bool globMatch(std::string_view pattern, std::string_view text);

}  // namespace outpost::query
