#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "collector/sources/traces/span.h"

// Span normalization as the Datadog Agent applies it to every span (wire-formats.md §4.11), and
// top-level marking (§4.12). The common case, a span that is already valid, is checked without
// copying; only fields that must change are rewritten into the payload's arena.
namespace outpost::traces {

struct NormalizeOptions {
  int64_t now_ns = 0;                      // injected clock
  bool client_computed_top_level = false;  // Datadog-Client-Computed-Top-Level was sent
};

// Why chunks were dropped or fields fixed (the receiver's telemetry).
struct NormalizeCounts {
  uint64_t dropped_zero_id = 0;       // a span with trace_id or span_id 0
  uint64_t dropped_foreign_span = 0;  // spans of different trace ids in one chunk
  uint64_t dropped_empty = 0;         // a chunk without spans
  uint64_t service_empty = 0, service_truncated = 0, service_invalid = 0;
  uint64_t name_empty = 0, name_truncated = 0, name_invalid = 0;
  uint64_t resource_empty = 0, resource_truncated = 0;
  uint64_t type_truncated = 0, env_normalized = 0, invalid_start = 0, invalid_duration = 0,
           invalid_http_status = 0, meta_truncated = 0, metrics_key_truncated = 0;
};

inline constexpr size_t kMaxServiceLen = 100;
inline constexpr size_t kMaxNameLen = 100;
inline constexpr size_t kMaxResourceLen = 5000;
inline constexpr size_t kMaxTypeLen = 100;
inline constexpr size_t kMaxMetaKeyLen = 200;
inline constexpr size_t kMaxMetaValueLen = 25000;
inline constexpr size_t kMaxMetricsKeyLen = 200;
inline constexpr size_t kMaxTagLen = 200;

// Normalizes every chunk of p.payload in place: drops invalid chunks (counted), fixes fields,
// sets chunk.priority from the root's _sampling_priority_v1 when unset and chunk.origin from the
// root's _dd.origin, and marks top-level spans (metric _top_level = 1, removed from the
// others) unless the client did. "unnamed-<lang>-service" uses p.payload.language_name.
void normalizePayload(DecodedPayload& p, const NormalizeOptions& opts, NormalizeCounts& counts);

// The root span of a chunk: parent_id 0, else a span whose parent is not in the chunk, else
// the last span. The chunk must not be empty.
size_t rootSpanIndex(const TraceChunk& chunk);

// Tag rules (§4.11): lower case; letters (also non-ASCII ones), digits, ':', '.', '/', '-'
// kept; a run of '_' and other characters becomes one '_'; leading characters that are not
// letters or ':' dropped; trailing '_' dropped; at most 200 bytes. Idempotent. Returns `in`
// itself (no copy) when it is already normal, else a string in `arena`.
std::string_view normalizeTag(std::string_view in, Arena& arena);
// Metric-name rules: leading characters up to the first ASCII letter dropped; a run of '_' and
// characters other than letters, digits and '.' becomes one '_'; no '_' right before '.'; no
// trailing '_'. Case is kept. Empty when nothing valid is left; `in` itself when already normal.
std::string_view normalizeMetricName(std::string_view in, Arena& arena);
// Cuts to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view truncateUtf8(std::string_view s, size_t max);

bool isTopLevel(const Span& s);         // metric _top_level == 1 or _dd.top_level == 1
bool isMeasured(const Span& s);         // metric _dd.measured == 1
bool isPartialSnapshot(const Span& s);  // metric _dd.partial_version present and >= 0

}  // namespace outpost::traces
