#pragma once

#include <cstddef>
#include <span>

#include "core/metrics.h"
#include "forwarder/encoders/payload_builder.h"

// Series → POST /api/v2/series, protobuf datadog.agentpayload.MetricPayload
// (wire-formats.md §2.3), Content-Type application/x-protobuf, DD-Agent-Payload header.
//
// Intake limits (§2.2), per payload:
//   - 10,000 points                  (serializer_max_series_points_per_payload)
//   - 512,000 bytes compressed       (serializer_max_series_payload_size)
//   - 5,242,880 bytes uncompressed   (serializer_max_series_uncompressed_payload_size)
// The forwarder compresses later (zstd -1), so the compressed size is not known here: payloads
// are capped at 1.5 MiB uncompressed (kSeriesMaxUncompressedBytes), which needs a 3.1x ratio.
// Series compress 4x even when every one carries a random 64-hex-digit container id
// (encoders_test: 2 MiB → 494 kB, too close to the limit for a 2 MiB cap) and 6x or more
// usually. A payload that still comes back 413 is split in two by its `split` function. A
// series that breaks the limits on its own (over 10,000 points or 1.5 MiB) is dropped and
// counted, as the Agent does.

namespace outpost {

// The agent-payload library version sent as DD-Agent-Payload on protobuf payloads (§2.1).
inline constexpr std::string_view kAgentPayloadVersion = "5.0.4";

inline constexpr size_t kSeriesMaxPointsPerPayload = 10'000;
inline constexpr size_t kSeriesMaxUncompressedBytes = 3u << 19;  // 1.5 MiB

class SeriesEncoder {
 public:
  struct Options {
    size_t max_points = kSeriesMaxPointsPerPayload;
    size_t max_uncompressed_bytes = kSeriesMaxUncompressedBytes;
  };

  SeriesEncoder();
  explicit SeriesEncoder(Options options);

  // One or more payloads holding every series that fits the limits, in order. Series without
  // points are skipped (dropped_empty); invalid UTF-8 in names, tags and resources is
  // replaced with U+FFFD (proto3 strings must be UTF-8).
  EncodeResult encode(std::span<const Serie> series) const;

  // One series as a MetricPayload record (field 1: tag, length, MetricSeries): payloads are
  // concatenations of these.
  static std::string encodeOne(const Serie& serie);

 private:
  Options options_;
  std::shared_ptr<const PayloadShape> shape_;
};

}  // namespace outpost
