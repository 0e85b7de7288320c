#pragma once

#include <cstddef>
#include <span>

#include "core/metrics.h"
#include "forwarder/encoders/payload_builder.h"

// Service checks → POST /api/v1/check_run (wire-formats.md §2.7), Content-Type
// application/json: a JSON array of
//   {"check":..,"host_name":..,"timestamp":<s>,"status":0-3,"message":..,"tags":[..] | null}
// with `tags` null when there are none, as the Agent writes it.
//
// Intake limits (§2.2, the generic serializer limits), per payload:
//   - 2,621,440 bytes compressed     (serializer_max_payload_size)
//   - 4,194,304 bytes uncompressed   (serializer_max_uncompressed_payload_size)
// Payloads are capped at 4 MiB uncompressed (kServiceCheckMaxUncompressedBytes); JSON
// compresses far better than the 1.6x that keeps the compressed cap. A 413 is answered by
// `split`; a check run over 4 MiB on its own is dropped and counted.

namespace outpost {

inline constexpr size_t kServiceCheckMaxUncompressedBytes = 4u << 20;

class ServiceCheckEncoder {
 public:
  struct Options {
    size_t max_uncompressed_bytes = kServiceCheckMaxUncompressedBytes;
  };

  ServiceCheckEncoder();
  explicit ServiceCheckEncoder(Options options);

  EncodeResult encode(std::span<const ServiceCheckRun> checks) const;

  // One check run as its JSON object.
  static std::string encodeOne(const ServiceCheckRun& check);

 private:
  Options options_;
  std::shared_ptr<const PayloadShape> shape_;
};

}  // namespace outpost
