#pragma once

#include <cstddef>
#include <span>

#include "core/metrics.h"
#include "forwarder/encoders/payload_builder.h"

// Distributions → POST /api/beta/sketches, protobuf datadog.agentpayload.SketchPayload
// (wire-formats.md §2.6), Content-Type application/x-protobuf, DD-Agent-Payload header. One
// Sketch per SketchSerie, one Dogsketch per closed 10 s bucket; the payload's CommonMetadata
// is left empty, as the Agent leaves it.
//
// Intake limits (§2.2, the generic serializer limits), per payload:
//   - 2,621,440 bytes compressed     (serializer_max_payload_size)
//   - 4,194,304 bytes uncompressed   (serializer_max_uncompressed_payload_size)
// Payloads are capped at 4 MiB uncompressed (kSketchMaxUncompressedBytes); the compressed cap
// then holds as long as zstd -1 reaches 1.6x, which sketch payloads (names and tags repeated,
// packed small varints) do. A 413 is answered by `split`. A sketch series over 4 MiB on its
// own is dropped and counted.

namespace outpost {

inline constexpr size_t kSketchMaxUncompressedBytes = 4u << 20;

class SketchEncoder {
 public:
  struct Options {
    size_t max_uncompressed_bytes = kSketchMaxUncompressedBytes;
  };

  SketchEncoder();
  explicit SketchEncoder(Options options);

  // Sketch series without points are skipped (dropped_empty).
  EncodeResult encode(std::span<const SketchSerie> sketches) const;

  // One sketch series as a SketchPayload record (field 1).
  static std::string encodeOne(const SketchSerie& sketch);

 private:
  Options options_;
  std::shared_ptr<const PayloadShape> shape_;
};

}  // namespace outpost
