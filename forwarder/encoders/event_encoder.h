#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "core/metrics.h"
#include "forwarder/encoders/payload_builder.h"

// Events → POST /intake/ (wire-formats.md §2.8), Content-Type application/json:
//   {"apiKey":"","events":{"<source_type_name>":[<event>,...],...},"internalHostname":"<host>"}
// Events are grouped under their source_type_name, or "api" when they have none. Each event:
//   {"msg_title","msg_text","timestamp","priority"?,"host","tags"?,"alert_type"?,
//    "aggregation_key"?,"source_type_name"?}   (? = omitted when empty)
// The same route carries the v5 host metadata (§6, another encoder); the intake tells them
// apart by the "events" key.
//
// Intake limits (§2.2, the generic serializer limits), per payload:
//   - 2,621,440 bytes compressed     (serializer_max_payload_size)
//   - 4,194,304 bytes uncompressed   (serializer_max_uncompressed_payload_size)
// Payloads are capped at 4 MiB uncompressed (kEventMaxUncompressedBytes); JSON compresses far
// better than the 1.6x that keeps the compressed cap. A 413 is answered by `split`; an event
// over 4 MiB on its own is dropped and counted.

namespace outpost {

inline constexpr size_t kEventMaxUncompressedBytes = 4u << 20;

class EventEncoder {
 public:
  struct Options {
    std::string hostname;  // internalHostname: the Agent's canonical hostname
    size_t max_uncompressed_bytes = kEventMaxUncompressedBytes;
  };

  explicit EventEncoder(Options options);

  EncodeResult encode(std::span<const EventRecord> events) const;

  // One event as its JSON object.
  static std::string encodeOne(const EventRecord& event);

 private:
  Options options_;
  std::shared_ptr<const PayloadShape> shape_;
};

}  // namespace outpost
