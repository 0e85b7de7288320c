#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

// What the aggregator hands to the encoders: the metrics-intake side of the data model
// (shared/spec/wire-formats.md §2.3 series, §2.6 sketches, §2.7 check runs, §2.8 events).
// Plain values: no views, safe to move across threads.
namespace outpost {

// The values of MetricPayload.MetricType.
enum class SeriesType : int { kCount = 1, kRate = 2, kGauge = 3 };

// Where a series comes from (MetricPayload Metadata.Origin); DogStatsD is 10/10/0.
struct SeriesOrigin {
  uint32_t product = 0;
  uint32_t category = 0;
  uint32_t service = 0;
};

// One series with its points, as /api/v2/series carries it.
struct Serie {
  std::string name;               // without the n_o_i_n_d_e_x. prefix when no_index
  std::vector<std::string> tags;  // sorted, unique; no device: tag (see device)
  std::string host;               // the host resource; empty for host-less series
  std::string device;             // from a device: tag; empty when none
  SeriesType type = SeriesType::kGauge;
  int64_t interval = 0;           // seconds
  std::vector<std::pair<int64_t, double>> points;  // (unix seconds, value)
  std::string source_type_name;
  SeriesOrigin origin;
  bool no_index = false;
};

// One distribution: one Dogsketch per closed 10 s bucket (§1.7, §2.6).
struct SketchSerie {
  std::string name;
  std::vector<std::string> tags;
  std::string host;
  struct Point {
    int64_t ts = 0;  // bucket start, unix seconds
    int64_t cnt = 0;
    double min = 0;
    double max = 0;
    double sum = 0;
    double avg = 0;
    std::vector<int32_t> k;   // bin keys, ascending (repeated for split bins)
    std::vector<uint32_t> n;  // bin counts, each <= 65535
  };
  std::vector<Point> points;
};

// A service check (/api/v1/check_run).
struct ServiceCheckRun {
  std::string check;
  std::string host;
  int64_t timestamp = 0;  // unix seconds
  int status = 0;         // 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
  std::string message;
  std::vector<std::string> tags;
};

// An event (/intake/).
struct EventRecord {
  std::string title;
  std::string text;
  int64_t timestamp = 0;  // unix seconds
  std::string host;
  std::vector<std::string> tags;
  std::string aggregation_key;
  std::string priority = "normal";  // normal | low
  std::string source_type_name;
  std::string alert_type = "info";  // error | warning | info | success
};

}  // namespace outpost
