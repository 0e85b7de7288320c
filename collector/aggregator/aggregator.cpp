#include "collector/aggregator/aggregator.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>

namespace outpost::aggregator {
namespace {

constexpr int64_t kBucket = 10;

// The bucket number of a unix time (its start / 10), clamped to int32 (year 2650).
int32_t bucketNumber(int64_t ts) {
  const int64_t n = ts >= 0 ? ts / kBucket : -((-ts + kBucket - 1) / kBucket);
  return static_cast<int32_t>(std::clamp<int64_t>(n, 0, INT32_MAX - 1));
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

bool needsDetail(MetricType t) {
  return t == MetricType::kHistogram || t == MetricType::kTiming || t == MetricType::kSet ||
         t == MetricType::kDistribution;
}

// A context key from its parts: the tags enter as a sum of their hashes, so the key does not
// depend on their order (the Datadog Agent's context keys do the same with a xor).
Hash128 combine(const Hash128& name, const Hash128& host, MetricType type, const Hash128& tags) {
  constexpr uint64_t kA = 0x94d049bb133111ebull;
  constexpr uint64_t kB = 0xbf58476d1ce4e5b9ull;
  const uint64_t t = static_cast<uint64_t>(type) + 1;
  Hash128 k;
  k.lo = foldMultiply(foldMultiply(name.lo ^ kA, host.lo ^ kB) ^ tags.lo, kA ^ (t * kB));
  k.hi = foldMultiply(foldMultiply(name.hi ^ kB, host.hi ^ kA) ^ tags.hi, kB ^ (t * kA));
  return k;
}

// Tag lists are interned as one string: each tag as its length (one byte below 255, else 0xff
// and four bytes little-endian) then its bytes.
void appendTag(std::string& out, std::string_view tag) {
  if (tag.size() < 0xff) {
    out.push_back(static_cast<char>(tag.size()));
  } else {
    out.push_back(static_cast<char>(0xff));
    const auto n = static_cast<uint32_t>(tag.size());
    for (int i = 0; i < 4; ++i) {
      out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
  }
  out.append(tag);
}

template <class F>
void forEachTag(std::string_view encoded, F&& f) {
  size_t i = 0;
  while (i < encoded.size()) {
    size_t n = static_cast<unsigned char>(encoded[i++]);
    if (n == 0xff) {
      n = 0;
      for (int b = 0; b < 4; ++b) {
        n |= static_cast<size_t>(static_cast<unsigned char>(encoded[i++])) << (8 * b);
      }
    }
    f(encoded.substr(i, n));
    i += n;
  }
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
      clock_resets_(telemetry.counter("outpost.aggregator.clock_resets", {},
                                      "wall clock stepped back over a minute: buckets restarted")),
      contexts_gauge_(telemetry.gauge("outpost.aggregator.contexts", {}, "live contexts")) {
  using K = HistogramOutput;
  for (const auto& agg : options_.histogram_aggregates) {
    static const std::pair<std::string_view, K::Kind> kKinds[] = {
        {"max", K::kMax}, {"min", K::kMin}, {"median", K::kMedian},
        {"avg", K::kAvg}, {"sum", K::kSum}, {"count", K::kCount}};
    for (const auto& [name, kind] : kKinds) {
      if (agg == name) {
        histogram_outputs_.push_back(HistogramOutput{fmt::format(".{}", name), kind, 0});
      }
    }
  }
  for (const auto& p : options_.histogram_percentiles) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec == std::errc() && v > 0 && v < 1) {
      const int64_t percent = static_cast<int64_t>(std::lround(v * 100));
      histogram_outputs_.push_back(
          HistogramOutput{fmt::format(".{}percentile", percent), K::kPercentile, percent});
    }
  }
  // Extra tags: unique, hashed once.
  std::vector<std::string> extra;
  for (const auto& t : options_.extra_tags) {
    if (!t.empty()) {
      extra.push_back(t);
    }
  }
  std::sort(extra.begin(), extra.end());
  extra.erase(std::unique(extra.begin(), extra.end()), extra.end());
  options_.extra_tags = std::move(extra);
  for (const auto& t : options_.extra_tags) {
    const Hash128 h = hashBytes128(t);
    extra_tag_hashes_.push_back(h);
    extra_tags_sum_.hi += h.hi;
    extra_tags_sum_.lo += h.lo;
  }
  default_host_hash_ = hashBytes128(options_.hostname);
}

Aggregator::~Aggregator() = default;

Aggregator::ContextId Aggregator::contextFor(const SampleInput& s, int32_t bucket) {
  // The tags as a set: hash each, drop duplicates (of each other or of the extra tags), sum.
  tag_hashes_.clear();
  tag_views_.clear();
  for (auto t : s.tags) {
    if (!t.empty()) {
      tag_hashes_.push_back(hashBytes128(t));
      tag_views_.push_back(t);
    }
  }
  if (tag_hashes_.size() > 32) {
    // Many tags: sort (hash, view) pairs to find duplicates in n log n.
    std::vector<std::pair<Hash128, std::string_view>> pairs;
    pairs.reserve(tag_hashes_.size());
    for (size_t i = 0; i < tag_hashes_.size(); ++i) {
      pairs.emplace_back(tag_hashes_[i], tag_views_[i]);
    }
    std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
      return a.first.lo != b.first.lo ? a.first.lo < b.first.lo : a.first.hi < b.first.hi;
    });
    pairs.erase(std::unique(pairs.begin(), pairs.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                pairs.end());
    tag_hashes_.clear();
    tag_views_.clear();
    for (const auto& [h, v] : pairs) {
      tag_hashes_.push_back(h);
      tag_views_.push_back(v);
    }
  } else {
    size_t kept = 0;
    for (size_t i = 0; i < tag_hashes_.size(); ++i) {
      bool duplicate = false;
      for (size_t j = 0; j < kept && !duplicate; ++j) {
        duplicate = tag_hashes_[j] == tag_hashes_[i];
      }
      if (!duplicate) {
        tag_hashes_[kept] = tag_hashes_[i];
        tag_views_[kept] = tag_views_[i];
        ++kept;
      }
    }
    tag_hashes_.resize(kept);
    tag_views_.resize(kept);
  }
  Hash128 sum = extra_tags_sum_;
  size_t kept = 0;
  for (size_t i = 0; i < tag_hashes_.size(); ++i) {
    const Hash128& h = tag_hashes_[i];
    if (std::find(extra_tag_hashes_.begin(), extra_tag_hashes_.end(), h) !=
        extra_tag_hashes_.end()) {
      continue;  // already in through the extra tags
    }
    sum.hi += h.hi;
    sum.lo += h.lo;
    tag_views_[kept++] = tag_views_[i];
  }
  tag_views_.resize(kept);

  const std::string_view host = s.has_host ? s.host : std::string_view(options_.hostname);
  const Hash128 host_hash = s.has_host ? hashBytes128(host) : default_host_hash_;
  const MetricType type = s.type == MetricType::kTiming ? MetricType::kHistogram : s.type;
  const Key key = combine(hashBytes128(s.name), host_hash, type, sum);
  const uint32_t found = index_.find(static_cast<uint32_t>(key.lo),
                                     [&](uint32_t id) { return contexts_[id].key == key; });
  if (found != FlatIndex::kNotFound) {
    Context& c = contexts_[found];
    c.last_seen = std::max(c.last_seen, bucket);
    return found;
  }
  return createContext(s, host, type, key, bucket);
}

Aggregator::ContextId Aggregator::createContext(const SampleInput& s, std::string_view host,
                                                MetricType type, const Key& key, int32_t bucket) {
  if (live_ >= options_.context_limit) {
    return kNone;
  }
  for (const auto& t : options_.extra_tags) {
    tag_views_.emplace_back(t);
  }
  std::sort(tag_views_.begin(), tag_views_.end());
  encoded_tags_.clear();
  for (auto t : tag_views_) {
    appendTag(encoded_tags_, t);
  }
  ContextId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<ContextId>(contexts_.size());
    contexts_.emplace_back();
  }
  static_assert(sizeof(Context) == 48);
  Context& c = contexts_[id];
  c = Context{};
  c.key = key;
  c.name = strings_.intern(s.name);
  c.host = strings_.intern(host);
  c.tags = strings_.intern(encoded_tags_);
  c.type = type;
  c.last_seen = bucket;
  c.live = true;
  index_.insert(static_cast<uint32_t>(key.lo), id);
  ++live_;
  contexts_gauge_.set(static_cast<int64_t>(live_));
  return id;
}

void Aggregator::forget(ContextId id) {
  Context& c = contexts_[id];
  index_.erase(static_cast<uint32_t>(c.key.lo), id);
  strings_.release(c.name);
  strings_.release(c.host);
  strings_.release(c.tags);
  c = Context{};
  free_.push_back(id);
  --live_;
}

Aggregator::Bucket& Aggregator::bucketAt(int32_t number) {
  if (number != current_number_ || current_ == nullptr) {
    auto [it, inserted] = buckets_.try_emplace(number);
    if (inserted) {
      it->second.entries.reserve(expected_entries_);
    }
    current_number_ = number;
    current_ = &it->second;  // std::map nodes are stable until erased
  }
  return *current_;
}

std::pair<Aggregator::Bucket*, Aggregator::Entry*> Aggregator::entryFor(ContextId id, Context& c,
                                                                        int32_t bucket) {
  if (c.slot_bucket >= bucket) {
    // This bucket, or a newer open one when the clock stepped back.
    Bucket& b = bucketAt(c.slot_bucket);
    return {&b, &b.entries[c.slot]};
  }
  Bucket& b = bucketAt(bucket);
  c.slot_bucket = bucket;
  c.slot = static_cast<uint32_t>(b.entries.size());
  Entry& e = b.entries.emplace_back(Entry{id, kNone, 0});
  if (needsDetail(c.type)) {
    e.detail = static_cast<uint32_t>(b.details.size());
    b.details.emplace_back();
  }
  return {&b, &e};
}

void Aggregator::setInsert(Detail& d, uint64_t hash) {
  if (hash == 0) {
    hash = 1;  // 0 marks an empty slot
  }
  if ((d.set_size + 1) * 2 > d.set.size()) {
    std::vector<uint64_t> old;
    old.swap(d.set);
    d.set.assign(old.empty() ? 8 : old.size() * 2, 0);
    const size_t mask = d.set.size() - 1;
    for (uint64_t h : old) {
      if (h != 0) {
        size_t i = h & mask;
        while (d.set[i] != 0) {
          i = (i + 1) & mask;
        }
        d.set[i] = h;
      }
    }
  }
  const size_t mask = d.set.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    if (d.set[i] == hash) {
      return;
    }
    if (d.set[i] == 0) {
      d.set[i] = hash;
      ++d.set_size;
      return;
    }
  }
}

bool Aggregator::add(const SampleInput& s, int64_t now) {
  // Samples never land in a bucket that was already flushed (the clock may step back).
  const int32_t arrival = std::max(bucketNumber(now), flushed_until_);
  if (s.timestamp > 0) {
    // No-aggregation pipeline (§1.9): gauges and counters only, one point at their own time.
    if (s.type != MetricType::kGauge && s.type != MetricType::kCounter) {
      unsupported_timestamped_.inc();
      return false;
    }
    const ContextId id = contextFor(s, arrival);
    if (id == kNone) {
      context_drops_.inc();
      return false;
    }
    Serie serie = makeSerie(contexts_[id], "", seriesTypeFor(s.type));
    const double v = s.type == MetricType::kCounter ? s.value / kBucket : s.value;
    serie.points.emplace_back(s.timestamp, v);
    timestamped_.push_back(std::move(serie));
    samples_.inc();
    return true;
  }
  const ContextId id = contextFor(s, arrival);
  if (id == kNone) {
    context_drops_.inc();
    return false;
  }
  Context& c = contexts_[id];
  auto [bucket, entry] = entryFor(id, c, arrival);
  switch (c.type) {
    case MetricType::kCounter: {
      const double rate = (s.sample_rate > 0 && s.sample_rate <= 1) ? s.sample_rate : 1.0;
      entry->number += s.value / rate;
      break;
    }
    case MetricType::kGauge:
      entry->number = s.value;
      break;
    case MetricType::kSet:
      setInsert(bucket->details[entry->detail], hashBytes128(s.set_value).lo);
      break;
    case MetricType::kHistogram:
    case MetricType::kTiming:
      bucket->details[entry->detail].histogram.emplace_back(s.value, weightOf(s.sample_rate));
      break;
    case MetricType::kDistribution: {
      auto& sketch = bucket->details[entry->detail].sketch;
      if (!sketch) {
        sketch = std::make_unique<DDSketch>();
      }
      sketch->insert(s.value, s.sample_rate);
      break;
    }
  }
  samples_.inc();
  return true;
}

void Aggregator::tagsOf(const Context& c, std::vector<std::string>& out,
                        std::string* device) const {
  forEachTag(strings_.view(c.tags), [&](std::string_view t) {
    if (t.starts_with("device:")) {
      if (device != nullptr) {
        device->assign(t.substr(7));
      }
    } else {
      out.emplace_back(t);
    }
  });
}

Serie Aggregator::makeSerie(const Context& c, std::string_view suffix, SeriesType type) const {
  Serie s;
  const std::string_view name = strings_.view(c.name);
  s.name.reserve(name.size() + suffix.size());
  s.name.append(name).append(suffix);
  tagsOf(c, s.tags, &s.device);
  s.host = std::string(strings_.view(c.host));
  s.type = type;
  s.interval = kBucket;
  s.origin = options_.origin;
  return s;
}

void Aggregator::emitHistogram(int64_t ts, std::vector<std::pair<double, int64_t>>& samples,
                               std::vector<Serie>& out, size_t first) {
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
  for (size_t k = 0; k < histogram_outputs_.size(); ++k) {
    const HistogramOutput& o = histogram_outputs_[k];
    double v = 0;
    switch (o.kind) {
      case HistogramOutput::kMax:
        v = samples.back().first;
        break;
      case HistogramOutput::kMin:
        v = samples.front().first;
        break;
      case HistogramOutput::kMedian:
        v = at(static_cast<double>(count - 1) / 2.0);
        break;
      case HistogramOutput::kAvg:
        v = sum / static_cast<double>(count);
        break;
      case HistogramOutput::kSum:
        v = sum;
        break;
      case HistogramOutput::kCount:
        v = static_cast<double>(count) / kBucket;
        break;
      case HistogramOutput::kPercentile:
        // Integer arithmetic, as the Agent: rank = (p*count - 1) / 100.
        v = at(static_cast<double>((o.percent * count - 1) / 100));
        break;
    }
    out[first + k].points.emplace_back(ts, v);
  }
}

// A wall clock stepping back by up to this many buckets only delays samples (they wait in the
// newest bucket until the clock passes it); further, the buckets restart from the present.
constexpr int32_t kClockResetBuckets = 6;

Aggregator::Flush Aggregator::flush(int64_t now) {
  if (flushed_until_ > 0 && bucketNumber(now) + kClockResetBuckets < flushed_until_) {
    // The clock stepped back more than a minute (a VM restored, a manual date, NTP stepping a
    // bad clock): waiting for it to catch up would hold every sample for that long. What
    // arrived since is flushed now, stamped as it was bucketed, and buckets go on from the
    // present; their timestamps repeat ones sent before the step, as they do on the clock.
    Flush out = flush(static_cast<int64_t>(flushed_until_ + 1) * kBucket);
    // Slots in the buckets just flushed are stale; those in buckets still ahead (samples from
    // the future) stay where they are.
    for (Context& c : contexts_) {
      if (c.slot_bucket < flushed_until_) {
        c.slot_bucket = -1;
      }
    }
    flushed_until_ = bucketNumber(now);
    clock_resets_.inc();
    return out;
  }
  Flush out;
  const int32_t end = bucketNumber(now);  // the open bucket: not flushed
  int32_t n = flushed_until_;
  if (n == 0) {
    n = buckets_.empty() ? end : std::min(buckets_.begin()->first, end);
  }
  serie_of_.assign(contexts_.size(), kNone);
  const int64_t counter_expiry = options_.counter_expiry_seconds;
  // The context's first serie (histograms: one per output, consecutive) or sketch, created the
  // first time the context has a point in this flush.
  auto serieFor = [&](ContextId id, const Context& c, SeriesType type) -> Serie& {
    uint32_t& index = serie_of_[id];
    if (index == kNone) {
      index = static_cast<uint32_t>(out.series.size());
      out.series.push_back(makeSerie(c, "", type));
    }
    return out.series[index];
  };
  int32_t last_closed = 0;
  // Every closed bucket since the last flush, empty ones included (counters report 0 there).
  for (; n < end; ++n) {
    Bucket bucket;
    if (auto it = buckets_.find(n); it != buckets_.end()) {
      bucket = std::move(it->second);
      if (n == current_number_) {
        current_ = nullptr;
      }
      buckets_.erase(it);
    } else if (static_cast<int64_t>(n - latest_counted_) * kBucket > counter_expiry) {
      // Empty and past every counter's zeros: jump to the next bucket with data.
      const auto next = buckets_.lower_bound(n);
      last_closed = end - 1;
      if (next == buckets_.end() || next->first >= end) {
        break;
      }
      n = next->first - 1;
      continue;
    }
    last_closed = n;
    const int64_t ts = static_cast<int64_t>(n) * kBucket;
    if (!bucket.entries.empty()) {
      expected_entries_ = bucket.entries.size();
    }
    for (const Entry& e : bucket.entries) {
      Context& c = contexts_[e.context];
      switch (c.type) {
        case MetricType::kCounter:
          serieFor(e.context, c, SeriesType::kRate).points.emplace_back(ts, e.number / kBucket);
          c.last_counted = n;
          latest_counted_ = std::max(latest_counted_, n);
          break;
        case MetricType::kGauge:
          serieFor(e.context, c, SeriesType::kGauge).points.emplace_back(ts, e.number);
          break;
        case MetricType::kSet:
          serieFor(e.context, c, SeriesType::kGauge)
              .points.emplace_back(ts, static_cast<double>(bucket.details[e.detail].set_size));
          break;
        case MetricType::kHistogram:
        case MetricType::kTiming: {
          uint32_t& index = serie_of_[e.context];
          if (index == kNone) {
            index = static_cast<uint32_t>(out.series.size());
            for (const HistogramOutput& o : histogram_outputs_) {
              out.series.push_back(makeSerie(
                  c, o.suffix,
                  o.kind == HistogramOutput::kCount ? SeriesType::kRate : SeriesType::kGauge));
            }
          }
          emitHistogram(ts, bucket.details[e.detail].histogram, out.series, index);
          break;
        }
        case MetricType::kDistribution: {
          const Detail& d = bucket.details[e.detail];
          if (!d.sketch || d.sketch->empty()) {
            break;
          }
          uint32_t& index = serie_of_[e.context];
          if (index == kNone) {
            index = static_cast<uint32_t>(out.sketches.size());
            SketchSerie& sk = out.sketches.emplace_back();
            sk.name = std::string(strings_.view(c.name));
            std::string device;
            tagsOf(c, sk.tags, &device);
            if (!device.empty()) {
              sk.tags.push_back(fmt::format("device:{}", device));
            }
            sk.host = std::string(strings_.view(c.host));
          }
          SketchSerie::Point p;
          p.ts = ts;
          const SketchSummary& sum = d.sketch->summary();
          p.cnt = sum.count;
          p.min = sum.min;
          p.max = sum.max;
          p.sum = sum.sum;
          p.avg = sum.avg;
          for (const SketchBin& b : d.sketch->bins()) {
            p.k.push_back(b.key);
            p.n.push_back(b.count);
          }
          out.sketches[index].points.push_back(std::move(p));
          break;
        }
      }
    }
    // Counters keep reporting 0 for counter_expiry_seconds after their last sample, in every
    // closed bucket they had no sample in.
    if (static_cast<int64_t>(n - latest_counted_) * kBucket <= counter_expiry) {
      for (ContextId id = 0; id < contexts_.size(); ++id) {
        const Context& c = contexts_[id];
        if (!c.live || c.type != MetricType::kCounter || c.last_counted == 0 ||
            c.last_counted >= n ||
            static_cast<int64_t>(n - c.last_counted) * kBucket > counter_expiry) {
          continue;
        }
        serieFor(id, c, SeriesType::kRate).points.emplace_back(ts, 0.0);
      }
    }
  }
  flushed_until_ = std::max(flushed_until_, end);
  if (last_closed > 0) {
    // Contexts with nothing pending and past their expiry are forgotten.
    const int32_t first_pending = buckets_.empty() ? INT32_MAX : buckets_.begin()->first;
    for (ContextId id = 0; id < contexts_.size(); ++id) {
      const Context& c = contexts_[id];
      if (!c.live || c.last_seen >= first_pending) {
        continue;
      }
      const int64_t keep = c.type == MetricType::kCounter ? options_.counter_expiry_seconds
                                                          : options_.context_expiry_seconds;
      if (static_cast<int64_t>(last_closed - c.last_seen) * kBucket >= keep) {
        forget(id);
      }
    }
    trimContexts();
    contexts_gauge_.set(static_cast<int64_t>(live_));
  }
  // Histograms that had no weight leave empty series behind.
  std::erase_if(out.series, [](const Serie& s) { return s.points.empty(); });
  out.series.reserve(out.series.size() + timestamped_.size());
  for (auto& s : timestamped_) {
    out.series.push_back(std::move(s));
  }
  timestamped_.clear();
  return out;
}

// After many contexts expired, give back the tail of the context table.
void Aggregator::trimContexts() {
  strings_.trim();
  size_t size = contexts_.size();
  while (size > 0 && !contexts_[size - 1].live) {
    --size;
  }
  if (size == contexts_.size()) {
    return;
  }
  contexts_.resize(size);
  std::erase_if(free_, [size](ContextId id) { return id >= size; });
  if (contexts_.capacity() > 256 && size < contexts_.capacity() / 4) {
    contexts_.shrink_to_fit();
    free_.shrink_to_fit();
  }
}

size_t Aggregator::memoryBytes() const {
  size_t bytes = contexts_.capacity() * sizeof(Context) + free_.capacity() * sizeof(ContextId) +
                 index_.bytes() + strings_.bytes();
  for (const auto& [number, b] : buckets_) {
    bytes += b.entries.capacity() * sizeof(Entry) + b.details.capacity() * sizeof(Detail);
    for (const Detail& d : b.details) {
      bytes += d.histogram.capacity() * sizeof(d.histogram[0]) + d.set.capacity() * 8 +
               (d.sketch ? sizeof(DDSketch) : 0);
    }
  }
  return bytes;
}

}  // namespace outpost::aggregator
