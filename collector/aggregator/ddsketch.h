#pragma once

// The Agent's distribution sketch (its own `pkg/quantile` DDSketch, not sketches-go), as described
// in shared/spec/wire-formats.md §1.7, and its serialization into the `Dogsketch` message of
// `SketchPayload` (§2.6, `/api/beta/sketches`).
//
// Parameters (all fixed, as in the Agent):
//   eps = 1/128, gamma = 1 + 2·eps = 1.015625, ln(gamma) = log1p(2·eps)
//   min value 1e-9, emin = floor(ln(1e-9)/ln gamma) = -1337, bias = 1 - emin = 1338
//   key(v) = round_half_even(ln(v)/ln gamma) + bias   for v > 1e-9 (clamped to [1, 32766],
//                                                      and to 32767 = +inf above that)
//          = 0                                         for |v| <= 1e-9
//          = -key(-v)                                  for v < -1e-9
// Intake limits carried by the encoding:
//   keys are int16 (±32767 means ±inf); bin counts are uint16 (<= 65535), a larger count for one
//   key is written as several bins with that same key, the remainder first and then full bins
//   (the Agent's appendSafe layout); at most 4096 bins, past which the lowest keys are collapsed
//   into the lowest key that is kept.
//
// Not thread-safe; one sketch belongs to one (context, 10 s bucket) of one aggregator.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "proto/metrics_payload.pb.h"

namespace outpost::aggregator {

// One wire bin: a key and a count of at most 65535.
struct SketchBin {
  int16_t key = 0;
  uint16_t count = 0;

  bool operator==(const SketchBin&) const = default;
};

// The exact running summary the Agent keeps beside the bins (its `summary.Summary`). `avg` is
// maintained incrementally, exactly as the Agent does, so it can differ from sum/count in the
// last bits.
struct SketchSummary {
  double min = 0;
  double max = 0;
  double sum = 0;
  double avg = 0;
  int64_t count = 0;

  bool operator==(const SketchSummary&) const = default;
};

class DDSketch {
 public:
  using Dogsketch = datadog::agentpayload::SketchPayload::Sketch::Dogsketch;

  static constexpr double kEpsilon = 1.0 / 128.0;
  static constexpr double kGamma = 1.0 + 2.0 * kEpsilon;  // 1.015625
  static constexpr double kMinValue = 1e-9;
  static constexpr int kEmin = -1337;      // floor(ln(kMinValue) / ln(kGamma))
  static constexpr int kBias = 1 - kEmin;  // 1338
  static constexpr int16_t kMaxKey = 32766;
  static constexpr int16_t kInfKey = 32767;  // +inf; -kInfKey is -inf
  static constexpr uint32_t kMaxBinCount = 65535;
  static constexpr size_t kBinLimit = 4096;
  // The most one insert may add (the Agent's MaxCount = binLimit * 65535). A sample rate so small
  // that uint(1/rate) exceeds this is clamped, so a single sample cannot demand unbounded bins.
  static constexpr uint64_t kMaxInsertCount = uint64_t{kBinLimit} * kMaxBinCount;

  // ln(gamma), computed as log1p(2·eps) like the Agent.
  static double logGamma();

  // The bin key for v (see the table above). NaN has no key and maps to 0.
  static int16_t keyFor(double v);

  // The value the Agent associates with a key in quantile(): gamma^(key - bias), its `f64`.
  // Because keys round to the nearest power of gamma this is the bin's geometric centre;
  // 0 for key 0, ±inf for ±kInfKey, and negative keys mirror positive ones.
  static double keyValue(int16_t key);

  // Adds v with weight uint(1/sampleRate) (truncated). A rate outside (0, 1] (or NaN) counts as
  // 1. NaN values are ignored. At rate 1 the summary records v once; below 1 it records v the
  // way the Agent's Summary.InsertN does: count += int(1/rate), sum += (1/rate)·v (untruncated).
  void insert(double v, double sampleRate = 1.0);

  // Folds other into this sketch; equivalent to having inserted other's samples here.
  void merge(const DDSketch& other);

  // The Agent's estimate of the q-quantile (see ddsketch.cpp for the exact method):
  // 0 when empty, min for q <= 0, max for q >= 1, NaN for NaN q.
  double quantile(double q) const;

  const SketchSummary& summary() const { return summary_; }
  // The sum of all bin counts (the Agent's sparseStore.count).
  uint64_t binTotal() const { return binTotal_; }
  bool empty() const { return summary_.count == 0 && binTotal_ == 0; }
  // The number of wire bins (overflow bins included).
  size_t binCount() const { return wireBins_; }
  // The wire bins, ascending by key, overflow bins split as described above.
  std::vector<SketchBin> bins() const;

  void reset();

  // Fills out (clearing it first) with ts, the summary and the parallel k/n arrays.
  void toDogsketch(int64_t ts, Dogsketch* out) const;
  // Rebuilds a sketch from a Dogsketch; nullopt if k/n differ in length, a key is outside
  // [-32767, 32767], keys are not ascending, or a count is 0 or above 65535.
  static std::optional<DDSketch> fromDogsketch(const Dogsketch& in);

  bool operator==(const DDSketch&) const = default;

 private:
  // The total count of one key; split into wire bins only when read.
  struct KeyTotal {
    int16_t key = 0;
    uint64_t count = 0;

    bool operator==(const KeyTotal&) const = default;
  };

  static size_t wireBinsFor(uint64_t count);
  void addToKey(int16_t key, uint64_t count);
  void enforceBinLimit();
  void mergeSummary(const SketchSummary& other);

  std::vector<KeyTotal> keys_;  // ascending by key, counts > 0
  uint64_t binTotal_ = 0;
  size_t wireBins_ = 0;
  SketchSummary summary_;
};

}  // namespace outpost::aggregator
