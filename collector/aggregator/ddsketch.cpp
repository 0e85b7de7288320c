#include "collector/aggregator/ddsketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace outpost::aggregator {
namespace {

// Round half to even without depending on the floating-point environment (Go's RoundToEven).
double roundHalfEven(double x) {
  double r = std::round(x);  // half away from zero
  if (std::fabs(x - std::trunc(x)) == 0.5) {
    r = 2.0 * std::round(x / 2.0);
  }
  return r;
}

}  // namespace

double DDSketch::logGamma() {
  static const double kLn = std::log1p(2.0 * kEpsilon);
  return kLn;
}

int16_t DDSketch::keyFor(double v) {
  if (std::isnan(v)) {
    return 0;
  }
  if (v < 0) {
    return static_cast<int16_t>(-keyFor(-v));
  }
  if (v <= kMinValue) {
    return 0;
  }
  // Compared as a double so that huge values and +inf never reach an integer conversion.
  const double k = roundHalfEven(std::log(v) / logGamma()) + kBias;
  if (k > kMaxKey) {
    return kInfKey;
  }
  if (k < 1) {
    return 1;  // The Agent's safety net; cannot happen for v > 1e-9.
  }
  return static_cast<int16_t>(k);
}

double DDSketch::keyValue(int16_t key) {
  if (key < 0) {
    return -keyValue(static_cast<int16_t>(-key));
  }
  if (key == kInfKey) {
    return std::numeric_limits<double>::infinity();
  }
  if (key == 0) {
    return 0;
  }
  return std::pow(kGamma, static_cast<double>(key - kBias));
}

size_t DDSketch::wireBinsFor(uint64_t count) {
  return static_cast<size_t>((count + kMaxBinCount - 1) / kMaxBinCount);
}

void DDSketch::insert(double v, double sampleRate) {
  if (std::isnan(v)) {
    return;
  }
  if (!(sampleRate > 0 && sampleRate <= 1)) {
    sampleRate = 1;
  }
  const int16_t key = keyFor(v);
  if (sampleRate == 1) {
    // The Agent's Summary.Insert.
    if (summary_.count == 0 || v > summary_.max) {
      summary_.max = v;
    }
    if (summary_.count == 0 || v < summary_.min) {
      summary_.min = v;
    }
    ++summary_.count;
    summary_.sum += v;
    summary_.avg += (v - summary_.avg) / static_cast<double>(summary_.count);
    addToKey(key, 1);
  } else {
    // The Agent's Summary.InsertN(v, 1/rate): the count truncates, the sum does not.
    const double n = std::min(1.0 / sampleRate, static_cast<double>(kMaxInsertCount));
    const auto whole = static_cast<uint64_t>(n);
    mergeSummary(SketchSummary{
        .min = v, .max = v, .sum = n * v, .avg = v, .count = static_cast<int64_t>(whole)});
    addToKey(key, whole);
  }
  enforceBinLimit();
}

void DDSketch::merge(const DDSketch& other) {
  mergeSummary(other.summary_);
  for (const KeyTotal& kt : other.keys_) {
    addToKey(kt.key, kt.count);
  }
  enforceBinLimit();
}

void DDSketch::mergeSummary(const SketchSummary& other) {
  if (summary_.count == 0) {
    summary_ = other;
    return;
  }
  if (other.count == 0) {
    return;
  }
  summary_.max = std::max(summary_.max, other.max);
  summary_.min = std::min(summary_.min, other.min);
  summary_.count += other.count;
  summary_.sum += other.sum;
  summary_.avg += (other.avg - summary_.avg) * static_cast<double>(other.count) /
                  static_cast<double>(summary_.count);
}

void DDSketch::addToKey(int16_t key, uint64_t count) {
  if (count == 0) {
    return;
  }
  auto it = std::lower_bound(keys_.begin(), keys_.end(), key,
                             [](const KeyTotal& kt, int16_t k) { return kt.key < k; });
  if (it != keys_.end() && it->key == key) {
    wireBins_ -= wireBinsFor(it->count);
    it->count += count;
    wireBins_ += wireBinsFor(it->count);
  } else {
    keys_.insert(it, KeyTotal{key, count});
    wireBins_ += wireBinsFor(count);
  }
  binTotal_ += count;
}

// The Agent's trimLeft: while there are more than kBinLimit wire bins, the lowest key's count
// moves into the next key up. Without overflow bins this is exactly the Agent's result (the
// lowest len-limit+1 bins become one bin at the key of the lowest bin kept). With overflow
// bins the Agent leaves the full 65535-count bins of removed keys at their old keys; here they
// move up with the rest, which keeps the total and the limit but not that layout.
void DDSketch::enforceBinLimit() {
  if (wireBins_ <= kBinLimit) {
    return;
  }
  size_t first = 0;
  while (wireBins_ > kBinLimit && first + 1 < keys_.size()) {
    KeyTotal& low = keys_[first];
    KeyTotal& next = keys_[first + 1];
    wireBins_ -= wireBinsFor(low.count) + wireBinsFor(next.count);
    next.count += low.count;
    wireBins_ += wireBinsFor(next.count);
    ++first;
  }
  keys_.erase(keys_.begin(), keys_.begin() + static_cast<std::ptrdiff_t>(first));
}

std::vector<SketchBin> DDSketch::bins() const {
  std::vector<SketchBin> out;
  out.reserve(wireBins_);
  for (const KeyTotal& kt : keys_) {
    const auto rest = static_cast<uint16_t>(kt.count % kMaxBinCount);
    if (rest != 0) {
      out.push_back(SketchBin{kt.key, rest});
    }
    for (uint64_t i = 0; i < kt.count / kMaxBinCount; ++i) {
      out.push_back(SketchBin{kt.key, static_cast<uint16_t>(kMaxBinCount)});
    }
  }
  return out;
}

// The Agent's Sketch.Quantile, step for step:
//   rank = round_half_even(q · (total - 1)); walk the wire bins in key order accumulating counts
//   n until n > rank; then with weight = (n - rank) / bin.count, low = keyValue(bin.key) (the
//   bin's geometric centre gamma^(key-bias)) and high = low · gamma, return
//   low · weight + high · (1 - weight). For the first bin, low is the exact minimum.
// So the estimate is interpolated between the bin's centre and the next key's centre; against
// the true value it is within a factor [gamma^-0.5, gamma^1.5], about -0.8% .. +2.4%. (The Agent
// also means to use the exact maximum for the last bin, but its test compares the index with the
// bin count and never fires; we keep that so the numbers match.)
double DDSketch::quantile(double q) const {
  if (binTotal_ == 0) {
    return 0;
  }
  if (std::isnan(q)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (q <= 0) {
    return summary_.min;
  }
  if (q >= 1) {
    return summary_.max;
  }
  const double rank = roundHalfEven(q * static_cast<double>(binTotal_ - 1));
  double n = 0;
  bool first = true;
  for (const SketchBin& b : bins()) {
    n += b.count;
    if (n <= rank) {
      first = false;
      continue;
    }
    const double weight = (n - rank) / b.count;
    double low = keyValue(b.key);
    const double high = low * kGamma;
    if (first) {
      low = summary_.min;
    }
    return low * weight + high * (1 - weight);
  }
  return std::numeric_limits<double>::quiet_NaN();  // Unreachable: rank < total.
}

void DDSketch::reset() {
  *this = DDSketch();
}

void DDSketch::toDogsketch(int64_t ts, Dogsketch* out) const {
  out->Clear();
  out->set_ts(ts);
  out->set_cnt(summary_.count);
  out->set_min(summary_.min);
  out->set_max(summary_.max);
  out->set_avg(summary_.avg);
  out->set_sum(summary_.sum);
  out->mutable_k()->Reserve(static_cast<int>(wireBins_));
  out->mutable_n()->Reserve(static_cast<int>(wireBins_));
  for (const SketchBin& b : bins()) {
    out->add_k(b.key);
    out->add_n(b.count);
  }
}

std::optional<DDSketch> DDSketch::fromDogsketch(const Dogsketch& in) {
  if (in.k_size() != in.n_size()) {
    return std::nullopt;
  }
  DDSketch s;
  int32_t previous = std::numeric_limits<int32_t>::min();
  for (int i = 0; i < in.k_size(); ++i) {
    const int32_t key = in.k(i);
    const uint32_t count = in.n(i);
    if (key < -kInfKey || key > kInfKey || key < previous || count == 0 || count > kMaxBinCount) {
      return std::nullopt;
    }
    previous = key;
    s.addToKey(static_cast<int16_t>(key), count);
  }
  s.enforceBinLimit();
  s.summary_ = SketchSummary{
      .min = in.min(), .max = in.max(), .sum = in.sum(), .avg = in.avg(), .count = in.cnt()};
  return s;
}

}  // namespace outpost::aggregator
