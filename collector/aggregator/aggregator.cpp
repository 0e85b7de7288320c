#include "collector/aggregator/aggregator.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace outpost::aggregator {
namespace {

constexpr int64_t kBucket = 10;

int64_t bucketOf(int64_t ts) {
  return ts - ((ts % kBucket) + kBucket) % kBucket;
}

// int(1/rate) as the Agent weighs histogram samples; a bad rate counts as 1.
int64_t weightOf(double rate) {
  if (!(rate > 0) || rate > 1) {
    return 1;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(1.0 / rate));
}

SeriesType seriesTypeFor(MetricType t) {
  return t == MetricType::kCounter ? SeriesType::kRate : SeriesType::kGauge;
}

}  // namespace

Aggregator::Aggregator(Options options, Telemetry& telemetry)
    : options_(std::move(options)),
      samples_(telemetry.counter("outpost.aggregator.samples", {}, "samples aggregated")),
      context_drops_(telemetry.counter("outpost.aggregator.dropped", {"reason:context_limit"},
                                       "samples dropped: new context past the context limit")),
      unsupported_timestamped_(
          telemetry.counter("outpost.aggregator.dropped", {"reason:unsupported_timestamped"},
                            "timestamped histogram, timing or set samples (not supported)")),
      contexts_gauge_(telemetry.gauge("outpost.aggregator.contexts", {}, "live contexts")) {
  for (const auto& p : options_.histogram_percentiles) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec == std::errc() && v > 0 && v < 1) {
      percentiles_.push_back(v);
    }
  }
}

namespace {

// 64-bit mixing over 8-byte words (a small wyhash-like hash); two seeds give the 128-bit key.
inline uint64_t mix(uint64_t a, uint64_t b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t hashBytes(std::string_view s, uint64_t seed) {
  constexpr uint64_t kP0 = 0xa0761d6478bd642full;
  constexpr uint64_t kP1 = 0xe7037ed1a0b428dbull;
  uint64_t h = seed ^ (s.size() * kP0);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = mix(h ^ w, kP1);
  }
  uint64_t tail = 0;
  if (i < s.size()) {
    std::memcpy(&tail, s.data() + i, s.size() - i);
  }
  return mix(h ^ tail, kP0);
}

}  // namespace

Aggregator::ContextId* Aggregator::contextFor(const SampleInput& s, int64_t bucket) {
  // Tags: the sample's plus the extra ones, sorted and unique, as views (no copies).
  tag_scratch_.clear();
  for (auto t : s.tags) {
    if (!t.empty()) {
      tag_scratch_.push_back(t);
    }
  }
  for (const auto& t : options_.extra_tags) {
    tag_scratch_.emplace_back(t);
  }
  std::sort(tag_scratch_.begin(), tag_scratch_.end());
  tag_scratch_.erase(std::unique(tag_scratch_.begin(), tag_scratch_.end()), tag_scratch_.end());
  const std::string_view host = s.has_host ? s.host : std::string_view(options_.hostname);
  const MetricType type = s.type == MetricType::kTiming ? MetricType::kHistogram : s.type;
  Key key{0x9e3779b97f4a7c15ull, 0x2545f4914f6cdd1dull};
  auto add = [&key](std::string_view part) {
    key.hi = hashBytes(part, key.hi);
    key.lo = hashBytes(part, key.lo ^ 0x51af5e2b7c3d9e01ull);
  };
  add(s.name);
  add(host);
  add(std::string_view(reinterpret_cast<const char*>(&type), 1));
  for (auto t : tag_scratch_) {
    add(t);
  }
  auto it = ids_.find(key);
  if (it == ids_.end()) {
    if (contexts_.size() >= options_.context_limit) {
      return nullptr;
    }
    const ContextId id = next_id_++;
    Context c;
    c.name = std::string(s.name);
    c.host = std::string(host);
    c.type = type;
    for (auto t : tag_scratch_) {
      if (t.starts_with("device:")) {
        c.device = std::string(t.substr(7));
      } else {
        c.tags.emplace_back(t);
      }
    }
    c.last_seen = bucket;
    if (c.type == MetricType::kCounter) {
      counters_.insert(id);
    }
    contexts_.emplace(id, std::move(c));
    it = ids_.emplace(key, id).first;
    contexts_gauge_.set(static_cast<int64_t>(contexts_.size()));
    return &it->second;
  }
  Context& c = contexts_.find(it->second)->second;
  c.last_seen = std::max(c.last_seen, bucket);
  return &it->second;
}

std::unordered_map<Aggregator::ContextId, Aggregator::Value>& Aggregator::bucketFor(
    int64_t bucket) {
  if (bucket != current_bucket_ || current_values_ == nullptr) {
    current_bucket_ = bucket;
    current_values_ = &buckets_[bucket];  // std::map nodes are stable until erased
  }
  return *current_values_;
}

bool Aggregator::add(const SampleInput& s, int64_t now) {
  if (s.timestamp > 0) {
    // No-aggregation pipeline (§1.9): gauges and counters only, one point at their own time.
    if (s.type != MetricType::kGauge && s.type != MetricType::kCounter) {
      unsupported_timestamped_.inc();
      return false;
    }
    ContextId* id = contextFor(s, bucketOf(s.timestamp));
    if (id == nullptr) {
      context_drops_.inc();
      return false;
    }
    const Context& c = contexts_.at(*id);
    Serie serie;
    serie.name = c.name;
    serie.tags = c.tags;
    serie.host = c.host;
    serie.device = c.device;
    serie.type = seriesTypeFor(s.type);
    serie.interval = kBucket;
    serie.origin = options_.origin;
    const double v = s.type == MetricType::kCounter ? s.value / kBucket : s.value;
    serie.points.emplace_back(s.timestamp, v);
    timestamped_.push_back(std::move(serie));
    samples_.inc();
    return true;
  }
  const int64_t bucket = bucketOf(now);
  ContextId* id = contextFor(s, bucket);
  if (id == nullptr) {
    context_drops_.inc();
    return false;
  }
  Value& v = bucketFor(bucket)[*id];
  switch (s.type) {
    case MetricType::kCounter: {
      const double rate = (s.sample_rate > 0 && s.sample_rate <= 1) ? s.sample_rate : 1.0;
      v.number += s.value / rate;
      break;
    }
    case MetricType::kGauge:
      v.number = s.value;
      break;
    case MetricType::kSet:
      if (!v.set) {
        v.set = std::make_unique<std::unordered_set<std::string>>();
      }
      v.set->emplace(s.set_value);
      break;
    case MetricType::kHistogram:
    case MetricType::kTiming:
      if (!v.histogram) {
        v.histogram = std::make_unique<HistogramSamples>();
      }
      v.histogram->samples.emplace_back(s.value, weightOf(s.sample_rate));
      break;
    case MetricType::kDistribution:
      if (!v.sketch) {
        v.sketch = std::make_unique<DDSketch>();
      }
      v.sketch->insert(s.value, s.sample_rate);
      break;
  }
  samples_.inc();
  return true;
}

void Aggregator::emitHistogram(const Context& c, int64_t ts, HistogramSamples& h,
                               std::map<std::pair<ContextId, std::string>, Serie>& out,
                               ContextId id) {
  auto& samples = h.samples;
  std::sort(samples.begin(), samples.end());
  int64_t count = 0;
  double sum = 0;
  for (const auto& [value, weight] : samples) {
    count += weight;
    sum += value * static_cast<double>(weight);
  }
  if (count == 0) {
    return;
  }
  // The first sample whose cumulative weight is greater than `rank`.
  auto at = [&](double rank) {
    int64_t cumulative = 0;
    for (const auto& [value, weight] : samples) {
      cumulative += weight;
      if (static_cast<double>(cumulative) > rank) {
        return value;
      }
    }
    return samples.back().first;
  };
  auto emit = [&](const std::string& suffix, SeriesType type, double value) {
    Serie& s = out[{id, suffix}];
    if (s.name.empty()) {
      s.name = c.name + suffix;
      s.tags = c.tags;
      s.host = c.host;
      s.device = c.device;
      s.type = type;
      s.interval = kBucket;
      s.origin = options_.origin;
    }
    s.points.emplace_back(ts, value);
  };
  for (const auto& agg : options_.histogram_aggregates) {
    if (agg == "max") {
      emit(".max", SeriesType::kGauge, samples.back().first);
    } else if (agg == "min") {
      emit(".min", SeriesType::kGauge, samples.front().first);
    } else if (agg == "median") {
      emit(".median", SeriesType::kGauge, at(static_cast<double>(count - 1) / 2.0));
    } else if (agg == "avg") {
      emit(".avg", SeriesType::kGauge, sum / static_cast<double>(count));
    } else if (agg == "sum") {
      emit(".sum", SeriesType::kGauge, sum);
    } else if (agg == "count") {
      emit(".count", SeriesType::kRate, static_cast<double>(count) / kBucket);
    }
  }
  for (double p : percentiles_) {
    const int64_t percent = static_cast<int64_t>(std::lround(p * 100));
    // Integer arithmetic, as the Agent: rank = (p*count - 1) / 100.
    const int64_t rank = (percent * count - 1) / 100;
    emit(fmt::format(".{}percentile", percent), SeriesType::kGauge, at(static_cast<double>(rank)));
  }
}

Aggregator::Flush Aggregator::flush(int64_t now) {
  Flush out;
  std::map<std::pair<ContextId, std::string>, Serie> series;  // (context, suffix) -> serie
  std::map<ContextId, SketchSerie> sketches;
  int64_t last_closed = 0;
  // Every closed bucket since the last flush, empty ones included (counters report 0 there).
  const int64_t end = bucketOf(now);  // the open bucket: not flushed
  int64_t ts = flushed_until_;
  if (ts == 0) {
    ts = buckets_.empty() ? end : buckets_.begin()->first;
  }
  int64_t latest_counted = 0;  // no counter is owed a zero after latest_counted + expiry
  for (ContextId id : counters_) {
    latest_counted = std::max(latest_counted, contexts_.at(id).last_counted);
  }
  for (; ts < end; ts += kBucket) {
    std::unordered_map<ContextId, Value> bucket;
    if (auto it = buckets_.find(ts); it != buckets_.end()) {
      bucket = std::move(it->second);
      if (ts == current_bucket_) {
        current_values_ = nullptr;
      }
      buckets_.erase(it);
    } else if (ts > latest_counted + options_.counter_expiry_seconds) {
      // Empty and past every counter's zeros: jump to the next bucket with data.
      const auto next = buckets_.lower_bound(ts);
      last_closed = end - kBucket;
      if (next == buckets_.end() || next->first >= end) {
        break;
      }
      ts = next->first - kBucket;
      continue;
    }
    last_closed = ts;
    for (auto& [id, value] : bucket) {
      Context& c = contexts_.at(id);
      auto plain = [&](SeriesType type, double v) {
        Serie& s = series[{id, ""}];
        if (s.name.empty()) {
          s.name = c.name;
          s.tags = c.tags;
          s.host = c.host;
          s.device = c.device;
          s.type = type;
          s.interval = kBucket;
          s.origin = options_.origin;
        }
        s.points.emplace_back(ts, v);
      };
      switch (c.type) {
        case MetricType::kCounter:
          plain(SeriesType::kRate, value.number / kBucket);
          c.last_counted = ts;
          latest_counted = std::max(latest_counted, ts);
          break;
        case MetricType::kGauge:
          plain(SeriesType::kGauge, value.number);
          break;
        case MetricType::kSet:
          plain(SeriesType::kGauge, value.set ? static_cast<double>(value.set->size()) : 0);
          break;
        case MetricType::kHistogram:
        case MetricType::kTiming:
          if (value.histogram) {
            emitHistogram(c, ts, *value.histogram, series, id);
          }
          break;
        case MetricType::kDistribution:
          if (value.sketch && !value.sketch->empty()) {
            SketchSerie& sk = sketches[id];
            if (sk.name.empty()) {
              sk.name = c.name;
              sk.tags = c.tags;
              if (!c.device.empty()) {
                sk.tags.push_back("device:" + c.device);
              }
              sk.host = c.host;
            }
            SketchSerie::Point p;
            p.ts = ts;
            const SketchSummary& sum = value.sketch->summary();
            p.cnt = sum.count;
            p.min = sum.min;
            p.max = sum.max;
            p.sum = sum.sum;
            p.avg = sum.avg;
            for (const SketchBin& b : value.sketch->bins()) {
              p.k.push_back(b.key);
              p.n.push_back(b.count);
            }
            sk.points.push_back(std::move(p));
          }
          break;
      }
    }
    // Counters keep reporting 0 for counter_expiry_seconds after their last sample, in every
    // closed bucket they had no sample in.
    for (ContextId id : counters_) {
      Context& c = contexts_.at(id);
      if (c.last_counted == 0 || c.last_counted >= ts ||
          ts - c.last_counted > options_.counter_expiry_seconds) {
        continue;
      }
      Serie& s = series[{id, ""}];
      if (s.name.empty()) {
        s.name = c.name;
        s.tags = c.tags;
        s.host = c.host;
        s.device = c.device;
        s.type = SeriesType::kRate;
        s.interval = kBucket;
        s.origin = options_.origin;
      }
      s.points.emplace_back(ts, 0.0);
    }
  }
  flushed_until_ = std::max(flushed_until_, end);
  if (last_closed > 0) {
    // Contexts with nothing pending and past their expiry are forgotten.
    for (auto it = ids_.begin(); it != ids_.end();) {
      const Context& c = contexts_.at(it->second);
      const int64_t keep = c.type == MetricType::kCounter ? options_.counter_expiry_seconds
                                                          : options_.context_expiry_seconds;
      const bool pending = !buckets_.empty() && c.last_seen >= buckets_.begin()->first;
      if (!pending && last_closed - c.last_seen >= keep) {
        counters_.erase(it->second);
        contexts_.erase(it->second);
        it = ids_.erase(it);
      } else {
        ++it;
      }
    }
    contexts_gauge_.set(static_cast<int64_t>(contexts_.size()));
  }
  out.series.reserve(series.size() + timestamped_.size());
  for (auto& [key, s] : series) {
    std::sort(s.points.begin(), s.points.end());
    out.series.push_back(std::move(s));
  }
  for (auto& s : timestamped_) {
    out.series.push_back(std::move(s));
  }
  timestamped_.clear();
  for (auto& [id, sk] : sketches) {
    out.sketches.push_back(std::move(sk));
  }
  return out;
}

}  // namespace outpost::aggregator
