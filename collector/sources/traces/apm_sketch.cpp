#include "collector/sources/traces/apm_sketch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "collector/sources/traces/proto_writer.h"

namespace outpost::traces {

namespace {

const double kGamma = (1 + ApmSketch::kRelativeAccuracy) / (1 - ApmSketch::kRelativeAccuracy);
const double kMultiplier = 1 / std::log(kGamma);
// Smallest value that maps to an index: below it, the zero bin.
const double kMinIndexable =
    std::max(std::exp((std::numeric_limits<int32_t>::min() + 1) / kMultiplier + 1),
             std::numeric_limits<double>::min() * kGamma);

uint32_t zigzag32(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}

}  // namespace

double ApmSketch::gamma() {
  return kGamma;
}

int ApmSketch::indexOf(double v) {
  const double x = std::log(v) * kMultiplier;
  return x >= 0 ? static_cast<int>(x) : static_cast<int>(x) - 1;
}

double ApmSketch::valueOf(int index) {
  // The middle of the bin [gamma^index, gamma^(index+1)) in relative terms.
  return std::exp(index / kMultiplier) * (1 + kRelativeAccuracy);
}

void ApmSketch::grow(int index) {
  if (bins_.empty()) {
    bins_.assign(1, 0);
    min_index_ = index;
    return;
  }
  const int max_index = min_index_ + static_cast<int>(bins_.size()) - 1;
  if (index < min_index_) {
    bins_.insert(bins_.begin(), static_cast<size_t>(min_index_ - index), 0);
    min_index_ = index;
  } else if (index > max_index) {
    bins_.resize(bins_.size() + static_cast<size_t>(index - max_index), 0);
  }
  // Collapse the lowest bins into the first kept one.
  if (static_cast<int>(bins_.size()) > kMaxBins) {
    const size_t drop = bins_.size() - kMaxBins;
    double folded = 0;
    for (size_t i = 0; i < drop; ++i) {
      folded += bins_[i];
    }
    bins_.erase(bins_.begin(), bins_.begin() + static_cast<std::ptrdiff_t>(drop));
    bins_[0] += folded;
    min_index_ += static_cast<int>(drop);
  }
}

void ApmSketch::add(double value, double weight) {
  if (!(weight > 0)) {
    return;
  }
  count_ += weight;
  if (!(value > kMinIndexable)) {
    zero_count_ += weight;
    return;
  }
  int index = indexOf(value);
  if (!bins_.empty() &&
      index<min_index_&& static_cast<int>(bins_.size()) + (min_index_ - index)> kMaxBins) {
    // Below the collapsed range: counts in the lowest bin kept.
    const int max_index = min_index_ + static_cast<int>(bins_.size()) - 1;
    if (max_index - index >= kMaxBins) {
      index = std::max(index, max_index - kMaxBins + 1);
    }
  }
  grow(index);
  index = std::max(index, min_index_);
  bins_[static_cast<size_t>(index - min_index_)] += weight;
}

void ApmSketch::merge(const ApmSketch& other) {
  zero_count_ += other.zero_count_;
  count_ += other.count_;
  for (size_t i = 0; i < other.bins_.size(); ++i) {
    if (other.bins_[i] == 0) {
      continue;
    }
    int index = other.min_index_ + static_cast<int>(i);
    grow(index);
    index = std::max(index, min_index_);
    bins_[static_cast<size_t>(index - min_index_)] += other.bins_[i];
  }
}

double ApmSketch::quantile(double q) const {
  if (count_ == 0) {
    return 0;
  }
  const double rank = q * (count_ - 1);
  double seen = zero_count_;
  if (rank < seen) {
    return 0;
  }
  for (size_t i = 0; i < bins_.size(); ++i) {
    seen += bins_[i];
    if (seen > rank) {
      return valueOf(min_index_ + static_cast<int>(i));
    }
  }
  return valueOf(min_index_ + static_cast<int>(bins_.size()) - 1);
}

std::string ApmSketch::encode() const {
  using proto::delimitedSize;
  // IndexMapping { gamma = 1 } (indexOffset 0 and interpolation NONE are defaults).
  const size_t mapping = proto::tagSize(1) + 8;
  // Store { contiguousBinCounts = 2 (packed doubles), contiguousBinIndexOffset = 3 (sint32) }
  size_t first = 0;
  size_t last = bins_.size();
  while (first < last && bins_[first] == 0) {
    ++first;
  }
  while (last > first && bins_[last - 1] == 0) {
    --last;
  }
  const size_t n = last - first;
  const int32_t offset = n == 0 ? 0 : min_index_ + static_cast<int32_t>(first);
  size_t store = 0;
  if (n > 0) {
    store += delimitedSize(2, n * 8);
    if (offset != 0) {
      store += proto::tagSize(3) + proto::varintSize(zigzag32(offset));
    }
  }
  const size_t total = delimitedSize(1, mapping) + delimitedSize(2, store) + delimitedSize(3, 0) +
                       proto::doubleSize(4, zero_count_);
  std::string out(total, '\0');
  proto::Writer w(out.data());
  w.header(1, mapping);
  uint64_t bits;
  std::memcpy(&bits, &kGamma, sizeof bits);
  w.fixed64(1, bits);
  w.header(2, store);
  if (n > 0) {
    w.header(2, n * 8);
    for (size_t i = first; i < last; ++i) {
      uint64_t b;
      std::memcpy(&b, &bins_[i], sizeof b);
      w.fixed64Raw(b);
    }
    if (offset != 0) {
      w.tag(3, proto::kVarint);
      w.varint(zigzag32(offset));
    }
  }
  w.header(3, 0);  // negativeValues: empty store
  w.float64(4, zero_count_);
  return out;
}

}  // namespace outpost::traces
