#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collector/sources/traces/agent_payload.h"
#include "collector/sources/traces/concentrator.h"
#include "collector/sources/traces/normalize.h"
#include "collector/sources/traces/obfuscate.h"
#include "collector/sources/traces/sampler.h"
#include "collector/sources/traces/span.h"

namespace outpost::traces {

// What happens to a decoded trace request, in the Datadog Agent's order (§4.11–§4.14, §5.5):
//   normalize (+ top-level) → ignore_resources → obfuscate → stats (unless the client computed
//   them) → samplers → kept chunks into the AgentPayload buffer
// No I/O and no clock of its own: the receiver (and bench/traces_bench.cpp) drive it.
class TracePipeline {
 public:
  struct Options {
    std::string hostname;
    std::string env = "none";
    std::string agent_version;
    double target_tps = 10;
    double errors_per_second = 10;
    bool rare_sampler = false;
    std::vector<std::string> ignore_resources;
    ObfuscationOptions obfuscation;
  };
  // Per request, from its headers.
  struct Request {
    bool client_computed_top_level = false;
    bool client_computed_stats = false;
  };
  struct Result {
    uint64_t traces = 0;  // chunks received
    uint64_t spans = 0;
    uint64_t dropped_invalid = 0;
    uint64_t dropped_ignored = 0;
    uint64_t dropped_sampling = 0;
    uint64_t kept = 0;
  };

  explicit TracePipeline(Options options);

  // Compiles ignore_resources; false with *error naming the bad pattern.
  bool init(std::string* error);
  // Processes a decoded payload; kept chunks are copied into the buffer (the payload may go).
  // Afterwards p.payload.chunks holds the valid chunks (kept or not), normalized.
  Result process(DecodedPayload& p, const Request& request, int64_t now_ns);

  AgentPayloadBuffer& buffer() { return buffer_; }
  Concentrator& concentrator() { return concentrator_; }
  Sampler& sampler() { return sampler_; }
  const Sampler& sampler() const { return sampler_; }
  const Concentrator& concentrator() const { return concentrator_; }
  const AgentPayloadBuffer& buffer() const { return buffer_; }
  const Obfuscator& obfuscator() const { return obfuscator_; }
  const ConcentratorOptions& statsOptions() const { return stats_options_; }
  const NormalizeCounts& normalizeCounts() const { return normalize_counts_; }

 private:
  Options options_;
  ConcentratorOptions stats_options_;
  Sampler sampler_;
  Concentrator concentrator_;
  Obfuscator obfuscator_;
  ResourceFilter resource_filter_;
  AgentPayloadBuffer buffer_;
  NormalizeCounts normalize_counts_;
};

}  // namespace outpost::traces
