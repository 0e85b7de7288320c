#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collector/aggregator/ddsketch.h"
#include "collector/aggregator/flat_index.h"
#include "collector/aggregator/interner.h"
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
// contexts keyed by (name, set of tags, host) as a 128-bit hash that does not depend on tag
// order, so a sample costs no sort; names, hosts and tag lists interned and reference-counted;
// contexts in a table indexed by id, values in per-bucket arrays the context points into (no
// hash lookup for the value); 10 s buckets stamped with their start; counters
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
  ~Aggregator();
  Aggregator(const Aggregator&) = delete;
  Aggregator& operator=(const Aggregator&) = delete;

  // `now` is the arrival time (unix seconds). Returns false when the sample was dropped
  // (context limit, unsupported timestamped type, bad sample rate).
  bool add(const SampleInput& sample, int64_t now);

  struct Flush {
    std::vector<Serie> series;
    std::vector<SketchSerie> sketches;
  };
  // Everything in buckets that closed by `now` (start + 10 <= now), plus the timestamped samples.
  Flush flush(int64_t now);

  size_t contexts() const { return live_; }
  size_t contextLimit() const { return options_.context_limit; }
  // Bytes held by contexts, interned strings, the index and pending bucket values (approximate:
  // allocator overhead and sketch internals not counted).
  size_t memoryBytes() const;

 private:
  using ContextId = uint32_t;
  using Key = Hash128;  // name, host, type and the set of tags (order-free), 128 bits
  static constexpr uint32_t kNone = UINT32_MAX;

  // 48 bytes a context; strings are interned (names, hosts and whole tag lists).
  struct Context {
    Key key;
    uint32_t name = kNone;
    uint32_t host = kNone;
    uint32_t tags = kNone;     // the sorted, unique tag list (device: tags included), encoded
    int32_t last_seen = 0;     // bucket number (start / 10) of the last sample
    int32_t last_counted = 0;  // counters: the last flushed bucket that had a sample
    int32_t slot_bucket = -1;  // the newest bucket holding a value for this context
    uint32_t slot = 0;         // that value's entry in it
    MetricType type = MetricType::kGauge;
    bool live = false;
  };
  // A context's value in one bucket: 16 bytes; histograms, sets and sketches keep the rest
  // in the bucket's details.
  struct Entry {
    ContextId context;
    uint32_t detail;
    double number;  // counter sum, gauge last value
  };
  struct Detail {
    std::vector<std::pair<double, int64_t>> histogram;  // (value, weight)
    std::vector<uint64_t> set;                          // open addressing of value hashes
    size_t set_size = 0;
    std::unique_ptr<DDSketch> sketch;
  };
  struct Bucket {
    std::vector<Entry> entries;
    std::vector<Detail> details;
  };
  // What a histogram emits: an aggregate or a percentile, in the configured order.
  struct HistogramOutput {
    std::string suffix;
    enum Kind : uint8_t { kMax, kMin, kMedian, kAvg, kSum, kCount, kPercentile } kind;
    int64_t percent = 0;
  };

  ContextId contextFor(const SampleInput& s, int32_t bucket);
  ContextId createContext(const SampleInput& s, std::string_view host, MetricType type,
                          const Key& key, int32_t bucket);
  void forget(ContextId id);
  Bucket& bucketAt(int32_t number);
  std::pair<Bucket*, Entry*> entryFor(ContextId id, Context& c, int32_t bucket);
  void trimContexts();
  Serie makeSerie(const Context& c, std::string_view suffix, SeriesType type) const;
  // The context's tags without device: ones, and its device (the last device: tag's value).
  void tagsOf(const Context& c, std::vector<std::string>& out, std::string* device) const;
  static void setInsert(Detail& d, uint64_t hash);
  void emitHistogram(int64_t ts, std::vector<std::pair<double, int64_t>>& samples,
                     std::vector<Serie>& out, size_t first);

  Options options_;
  std::vector<HistogramOutput> histogram_outputs_;
  std::vector<Hash128> extra_tag_hashes_;
  Hash128 extra_tags_sum_;
  Hash128 default_host_hash_;
  StringInterner strings_;         // names, hosts, encoded tag lists
  std::vector<Context> contexts_;  // by id; dead ones on free_
  std::vector<ContextId> free_;
  FlatIndex index_;  // key -> context id
  size_t live_ = 0;
  std::map<int32_t, Bucket> buckets_;  // by bucket number
  int32_t current_number_ = -1;        // the bucket samples arrive in, cached
  Bucket* current_ = nullptr;
  size_t expected_entries_ = 0;  // entries in the last flushed bucket: a new one reserves as many
  std::vector<Serie> timestamped_;
  int32_t flushed_until_ = 0;                // every bucket numbered below this has been flushed
  int32_t latest_counted_ = 0;               // no counter is owed a zero after this + the expiry
  std::vector<Hash128> tag_hashes_;          // scratch
  std::vector<std::string_view> tag_views_;  // scratch
  std::string encoded_tags_;                 // scratch
  std::vector<uint32_t> serie_of_;           // flush scratch: context -> first serie index
  Counter& samples_;
  Counter& context_drops_;
  Counter& unsupported_timestamped_;
  Counter& clock_resets_;
  Gauge& contexts_gauge_;
};

}  // namespace outpost::aggregator
