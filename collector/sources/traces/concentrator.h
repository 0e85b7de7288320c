#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "collector/sources/traces/apm_sketch.h"
#include "collector/sources/traces/span.h"
#include "collector/sources/traces/stats_payload.h"

// APM stats computed by the agent (wire-formats.md §5.6–§5.8): per 10 s bucket (by span end
// time) and per aggregation key, weighted hits, errors, top-level hits, total duration and
// ok/error duration sketches of the spans that count (top-level, measured, or with a span.kind
// of server, consumer, client or producer). Closed buckets are flushed as StatsPayload bodies.
namespace outpost::traces {

struct ConcentratorOptions {
  std::string hostname;      // AgentHostname, and Hostname when the tracer gave none
  std::string env = "none";  // AgentEnv, and Env when neither payload nor root span has one
  std::string agent_version;
  int64_t bucket_ns = 10'000'000'000;
  int buffer_len = 2;  // closed buckets kept for late spans before they are flushed
  size_t max_entries_per_payload = 4000;
  // Groups held across the open buckets at most (each about 1-2 KB with its two sketches): a
  // tracer with unbounded resource names cannot grow the stats without end. Spans of new
  // groups past it are left out of the stats and counted (droppedSpans).
  size_t max_entries = 100'000;
};

class Concentrator {
 public:
  explicit Concentrator(ConcentratorOptions o);
  ~Concentrator();

  void add(const TracerPayload& payload, const TraceChunk& chunk, int64_t now_ns);
  // Bodies for the buckets older than now - buffer_len buckets (all of them when `force`).
  std::vector<std::string> flush(int64_t now_ns, bool force);
  size_t memoryEntries() const;
  size_t maxEntries() const { return o_.max_entries; }
  uint64_t droppedSpans() const { return dropped_spans_; }

 private:
  struct Group;
  struct Bucket {
    std::unordered_map<uint64_t, std::unique_ptr<Group>> groups;
  };

  ConcentratorOptions o_;
  std::map<int64_t, Bucket> buckets_;  // by start (ns)
  int64_t oldest_open_ = 0;            // buckets before it were flushed; late spans go there
  uint64_t dropped_spans_ = 0;         // past max_entries
  size_t entries_ = 0;                 // groups in buckets_
};

}  // namespace outpost::traces
