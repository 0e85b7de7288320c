#pragma once

#include <string>
#include <string_view>

#include "collector/sources/traces/span.h"

// Tracer payload decoders (wire-formats.md §4.3, §4.5–§4.7), lenient as the Datadog Agent is:
// keys in any order, unknown keys skipped, nil for a zero value, str or bin for strings, signed
// ids cast, integer metrics as doubles; invalid UTF-8 repaired (U+FFFD) into the arena. Valid
// strings stay views into the body. A key repeated in a meta or metrics map is kept twice, in
// order (the protobuf map the intake decodes keeps the last, as a msgpack map decode would).
// Malformed input returns false with a short reason (the 400 body), never reads out of bounds and
// never allocates from an unchecked length; one payload holds at most 100,000 traces and 500,000
// spans (a one-byte element is a whole struct in memory).
namespace outpost::traces {

enum class TraceApiVersion { kV03, kV04, kV05, kV07 };

// Decodes out.body (already set) into out.payload, choosing msgpack or JSON by content type:
// "application/msgpack" msgpack; "application/json", "text/json" or "" JSON; anything else JSON
// first, then msgpack (§4.3). v0.5 and v0.7 are msgpack only. v0.3–v0.5: one TraceChunk per
// trace (priority unset); the TracerPayload's header fields are the caller's (HTTP headers).
bool decodeTraces(TraceApiVersion version, std::string_view content_type, DecodedPayload& out,
                  std::string* error);

// True when `s` is valid UTF-8; else a copy with each invalid sequence replaced by U+FFFD.
bool validUtf8(std::string_view s);
std::string repairUtf8(std::string_view s);

}  // namespace outpost::traces
