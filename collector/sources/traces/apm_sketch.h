#pragma once

#include <cstdint>
#include <string>
#include <vector>

// The DDSketch of APM stats summaries (wire-formats.md §5.8): a logarithmic index mapping with
// 1 % relative accuracy (gamma = 1.01/0.99, index offset 0, no interpolation) over a dense
// store that collapses its lowest bins past 2048, serialized as the sketches-go protobuf
// (contiguous bin counts from the lowest index). Values are durations in ns.
namespace outpost::traces {

class ApmSketch {
 public:
  static constexpr double kRelativeAccuracy = 0.01;
  static constexpr int kMaxBins = 2048;

  static double gamma();
  void add(double value, double weight = 1);
  void merge(const ApmSketch& other);
  double count() const { return count_; }
  bool empty() const { return count_ == 0; }
  double quantile(double q) const;  // within 1 % of the true value (tests)
  std::string encode() const;       // ddsketch.DDSketch protobuf bytes

 private:
  static int indexOf(double v);
  static double valueOf(int index);  // the representative value of a bin
  void grow(int index);

  std::vector<double> bins_;  // bins_[i] holds index min_index_ + i
  int min_index_ = 0;
  double zero_count_ = 0;
  double count_ = 0;
};

}  // namespace outpost::traces
