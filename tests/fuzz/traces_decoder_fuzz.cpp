// libFuzzer target for the trace payload decoders and the client stats decoder: any bytes, as
// every API version and content type, must decode or fail with a reason, never crash, hang or
// trip a sanitizer; a decoded payload's strings must lie in the body or the arena.
//
// Input layout: byte 0 picks the version and content type, the rest is the body.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "collector/sources/traces/decoder.h"
#include "collector/sources/traces/stats_payload.h"

namespace {

using namespace outpost::traces;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  static constexpr TraceApiVersion kVersions[] = {TraceApiVersion::kV03, TraceApiVersion::kV04,
                                                  TraceApiVersion::kV05, TraceApiVersion::kV07};
  static constexpr std::string_view kTypes[] = {"application/msgpack", "application/json", "",
                                                "text/plain"};
  const uint8_t selector = data[0];
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto dp = std::make_unique<DecodedPayload>();
  dp->body = body;
  std::string error;
  if (decodeTraces(kVersions[selector & 3], kTypes[(selector >> 2) & 3], *dp, &error)) {
    for (const auto& chunk : dp->payload.chunks) {
      for (const auto& s : chunk.spans) {
        check(validUtf8(s.service) && validUtf8(s.name) && validUtf8(s.resource));
        for (const auto& [k, v] : s.meta) {
          check(validUtf8(k) && validUtf8(v));
        }
      }
    }
  } else {
    check(!error.empty());
  }
  ClientStatsPayload cs;
  if (!decodeClientStatsPayload(body, &cs, &error)) {
    check(!error.empty());
  }
  return 0;
}
