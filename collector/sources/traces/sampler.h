#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "collector/sources/traces/span.h"

// The trace-agent's samplers (wire-formats.md §4.12, §4.13): which chunks are kept, and the
// per-(service, env) rates returned to tracers as rate_by_service so their priority samplers
// aim at apm_config.max_traces_per_second. Time is injected (now_ns); nothing reads a clock.
namespace outpost::traces {

struct SamplerOptions {
  double target_tps = 10;         // kept traces per second per (service, env)
  double errors_per_second = 10;  // error traces the error sampler keeps per second
  bool rare_enabled = false;
  double rare_tps = 5;
  int64_t rare_cooldown_ns = 300'000'000'000;
  size_t rare_cardinality = 200;
  std::string default_env = "none";
  size_t max_signatures = 2000;  // (service, env) pairs tracked; more share the default rate
};

enum class SampleReason { kPriority, kError, kRare, kNoPriority, kDropped };
struct SampleDecision {
  bool keep = false;
  SampleReason reason = SampleReason::kDropped;
};
const char* sampleReasonName(SampleReason r);

class Sampler {
 public:
  explicit Sampler(SamplerOptions o);

  // Rare sampler first (when on); priority > 0 keeps; priority <= 0 drops unless the error or
  // rare sampler keeps it; no priority: kept at the signature's rate, deterministically by
  // trace id (the root gets _dd.agent_psr), or by the error sampler. Counts the chunk towards
  // its signature's observed rate.
  SampleDecision sample(TraceChunk& chunk, std::string_view env, int64_t now_ns);
  // Recomputes the rates from what was seen since the last call (a 1 s timer calls it).
  void updateRates(int64_t now_ns);

  // {"rate_by_service":{"service:<s>,env:<e>":<rate>,...,"service:,env:":<default>}}
  const std::string& rateByServiceJson() const { return json_; }
  uint64_t ratesVersion() const { return version_; }
  size_t signatures() const { return signatures_.size(); }
  size_t maxSignatures() const { return o_.max_signatures; }
  double rateFor(std::string_view service, std::string_view env) const;

 private:
  struct Signature {
    double seen = 0;  // chunks since the last update
    double tps = 0;   // smoothed observed rate
    double rate = 1;  // rate returned to tracers and used for no-priority chunks
  };
  Signature& signature(std::string_view service, std::string_view env);
  bool errorKeeps(int64_t now_ns);
  bool rareKeeps(const TraceChunk& chunk, std::string_view env, int64_t now_ns);
  void rebuildJson();

  SamplerOptions o_;
  std::map<std::string, Signature, std::less<>> signatures_;  // "service:<s>,env:<e>"
  // The same signatures by a hash of (service, env), so a chunk finds its own without building
  // the key string.
  struct Known {
    std::string service, env;
    Signature* signature;
  };
  std::unordered_multimap<uint64_t, Known> by_hash_;
  Signature default_;
  int64_t last_update_ns_ = 0;
  std::string json_;
  uint64_t version_ = 1;
  // Error sampler: error traces kept in the current one-second window.
  int64_t error_window_ = -1;
  double error_kept_ = 0;
  // Rare sampler: last time each signature was kept; kept in the current second.
  std::unordered_map<uint64_t, int64_t> rare_seen_;
  int64_t rare_window_ = -1;
  double rare_kept_ = 0;
};

}  // namespace outpost::traces
