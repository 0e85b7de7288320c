#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector/sources/traces/span.h"

// The recent traces the query socket answers from (issue 8, /v1/traces and
// /v1/traces/{trace_id}): the chunks the trace pipeline kept (sampled in), held as the decoded
// requests themselves (their bodies, arenas and span views: no copy of any span), newest last,
// up to `max_bytes`; the oldest requests go first. Written on the loop after each request, read
// by queries on the worker pool under a reader-writer lock.
namespace outpost::query {

struct TraceSearch {
  std::string service;    // a span of the trace has this service
  std::string operation;  // ... this operation name
  std::string resource;   // ... a resource containing this
  double min_duration_ms = 0;
  bool error_only = false;
  std::optional<int64_t> from_ms;  // the trace started at or after
  std::optional<int64_t> to_ms;    // ... at or before
  enum class Sort { kNewest, kOldest, kSlowest } sort = Sort::kNewest;
  size_t limit = 20;
  size_t offset = 0;  // from the cursor
};

class TraceStore {
 public:
  explicit TraceStore(size_t max_bytes);

  // Keeps the chunks of `payload` marked kept. Evicts the oldest payloads over the budget.
  void add(std::unique_ptr<traces::DecodedPayload> payload);

  // {"traces": [summary...], "total", "truncated", "next_cursor"}.
  nlohmann::json search(const TraceSearch& s) const;
  // The whole trace (every stored chunk of it): spans in start order with depth, meta and
  // metrics. `trace_id`: decimal or 16/32 hex digits. nullopt when not stored.
  std::optional<nlohmann::json> trace(std::string_view trace_id, size_t max_spans,
                                      bool include_meta) const;

  nlohmann::json statusJson() const;

 private:
  struct Payload {
    std::unique_ptr<traces::DecodedPayload> decoded;
    size_t bytes = 0;
  };
  // One kept chunk.
  struct Chunk {
    std::shared_ptr<const Payload> payload;
    uint32_t index = 0;  // into payload->decoded->payload.chunks
    uint64_t trace_id = 0;
    int64_t start_ns = 0;
    int64_t end_ns = 0;
    uint32_t root = 0;
    uint32_t errors = 0;
    uint64_t seq = 0;
  };
  const traces::TraceChunk& chunkOf(const Chunk& c) const {
    return c.payload->decoded->payload.chunks[c.index];
  }
  void evict();

  size_t max_bytes_;
  mutable std::shared_mutex mu_;
  std::deque<Chunk> chunks_;  // arrival order; chunks_[i].seq == first_seq_ + i
  uint64_t first_seq_ = 0;
  std::unordered_map<uint64_t, std::vector<uint64_t>> by_trace_;  // trace id → seqs
  std::deque<std::shared_ptr<const Payload>> payloads_;
  size_t bytes_ = 0;
  uint64_t added_ = 0;
  uint64_t evicted_ = 0;
};

// "0x..." / 16 or 32 hex digits / decimal → the low 64 bits; nullopt when unreadable.
std::optional<uint64_t> parseTraceId(std::string_view s);

}  // namespace outpost::query
