#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "collector/aggregator/ddsketch.h"
#include "core/metrics.h"
#include "core/telemetry.h"

namespace outpost::aggregator {

// What a source submits (DogStatsD types; host checks submit gauges and counts too).
enum class MetricType : uint8_t { kCounter, kGauge, kHistogram, kTiming, kDistribution, kSet };

// One sample. Views: valid only during add().
struct SampleInput {
  std::string_view name;
  MetricType type = MetricType::kGauge;
  double value = 0;
  std::string_view set_value;  // sets only
  double sample_rate = 1;
  std::span<const std::string_view> tags;
  std::string_view host;
  bool has_host = false;  // the sample named its host (host: tag), possibly empty
  int64_t timestamp = 0;  // |T: not aggregated (no-aggregation pipeline); 0: arrival time
};

// Aggregation exactly as the Datadog Agent's DogStatsD does it (wire-formats.md §1.6, §1.9):
// contexts keyed by (name, sorted tags, host); 10 s buckets stamped with their start; counters
// sent as RATE (sum/10, interval 10) and kept reporting 0 for counter_expiry_seconds; gauges
// last value; sets unique count; histograms and timings the configured aggregates and
// percentiles (weights int(1/rate)); distributions as DDSketches; timestamped samples bypass
// the buckets. New contexts past context_limit are dropped and counted. Single-threaded.
class Aggregator {
 public:
  struct Options {
    std::string hostname;                 // host of samples that do not name one
    std::vector<std::string> extra_tags;  // host tags, env:<env>, dogstatsd_tags
    std::vector<std::string> histogram_aggregates = {"max", "median", "avg", "count"};
    std::vector<std::string> histogram_percentiles = {"0.95"};
    int64_t counter_expiry_seconds = 300;
    int64_t context_expiry_seconds = 20;
    size_t context_limit = 500'000;
    SeriesOrigin origin{10, 10, 0};  // DogStatsD
  };

  Aggregator(Options options, Telemetry& telemetry);

  // `now` is the arrival time (unix seconds). Returns false when the sample was dropped
  // (context limit, unsupported timestamped type, bad sample rate).
  bool add(const SampleInput& sample, int64_t now);

  struct Flush {
    std::vector<Serie> series;
    std::vector<SketchSerie> sketches;
  };
  // Everything in buckets that closed by `now` (start + 10 <= now), plus the timestamped samples.
  Flush flush(int64_t now);

  size_t contexts() const { return contexts_.size(); }

 private:
  struct Context {
    std::string name;
    std::vector<std::string> tags;  // sorted, unique, device: removed
    std::string host;
    std::string device;
    MetricType type;
    int64_t last_seen = 0;     // bucket start of the last sample (pending buckets included)
    int64_t last_counted = 0;  // counters: the last flushed bucket that had a sample
  };
  struct HistogramSamples {
    std::vector<std::pair<double, int64_t>> samples;  // (value, weight)
  };
  struct Value {
    double number = 0;  // counter sum, gauge last value
    std::unique_ptr<HistogramSamples> histogram;
    std::unique_ptr<std::unordered_set<std::string>> set;
    std::unique_ptr<DDSketch> sketch;
  };
  using ContextId = uint32_t;

  // A context's identity: 128 bits of hash over name, host, type and the sorted tags (as the
  // Datadog Agent's context keys), computed from views without building a string.
  struct Key {
    uint64_t hi;
    uint64_t lo;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.lo); }
  };

  ContextId* contextFor(const SampleInput& s, int64_t bucket);
  std::unordered_map<ContextId, Value>& bucketFor(int64_t bucket);
  void emitHistogram(const Context& c, int64_t ts, HistogramSamples& h,
                     std::map<std::pair<ContextId, std::string>, Serie>& out, ContextId id);

  Options options_;
  std::vector<double> percentiles_;
  std::unordered_map<Key, ContextId, KeyHash> ids_;
  std::unordered_map<ContextId, Context> contexts_;
  std::unordered_set<ContextId> counters_;  // the counter contexts (zero-filled at flush)
  ContextId next_id_ = 1;
  std::map<int64_t, std::unordered_map<ContextId, Value>> buckets_;  // by bucket start
  std::vector<Serie> timestamped_;
  int64_t flushed_until_ = 0;  // every bucket starting before this has been flushed
  std::vector<std::string_view> tag_scratch_;
  int64_t current_bucket_ = -1;  // the bucket samples arrive in, cached
  std::unordered_map<ContextId, Value>* current_values_ = nullptr;
  Counter& samples_;
  Counter& context_drops_;
  Counter& unsupported_timestamped_;
  Gauge& contexts_gauge_;
};

}  // namespace outpost::aggregator
