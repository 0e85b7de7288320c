#include "collector/sources/traces/pipeline.h"

namespace outpost::traces {

namespace {

SamplerOptions samplerOptions(const TracePipeline::Options& o) {
  SamplerOptions s;
  s.target_tps = o.target_tps;
  s.errors_per_second = o.errors_per_second;
  s.rare_enabled = o.rare_sampler;
  s.default_env = o.env;
  return s;
}

ConcentratorOptions concentratorOptions(const TracePipeline::Options& o) {
  ConcentratorOptions c;
  c.hostname = o.hostname;
  c.env = o.env;
  c.agent_version = o.agent_version;
  return c;
}

AgentPayloadBuffer::Options bufferOptions(const TracePipeline::Options& o) {
  AgentPayloadBuffer::Options b;
  b.hostname = o.hostname;
  b.env = o.env;
  b.agent_version = o.agent_version;
  b.target_tps = o.target_tps;
  b.error_tps = o.errors_per_second;
  b.rare_sampler_enabled = o.rare_sampler;
  return b;
}

Str rootEnv(const TraceChunk& chunk) {
  if (chunk.spans.empty()) {
    return {};
  }
  const Str* env = chunk.spans[rootSpanIndex(chunk)].findMeta("env");
  return env != nullptr ? *env : Str();
}

void add(NormalizeCounts& total, const NormalizeCounts& c) {
  total.dropped_zero_id += c.dropped_zero_id;
  total.dropped_foreign_span += c.dropped_foreign_span;
  total.dropped_empty += c.dropped_empty;
  total.service_empty += c.service_empty;
  total.service_truncated += c.service_truncated;
  total.service_invalid += c.service_invalid;
  total.name_empty += c.name_empty;
  total.name_truncated += c.name_truncated;
  total.name_invalid += c.name_invalid;
  total.resource_empty += c.resource_empty;
  total.resource_truncated += c.resource_truncated;
  total.type_truncated += c.type_truncated;
  total.env_normalized += c.env_normalized;
  total.invalid_start += c.invalid_start;
  total.invalid_duration += c.invalid_duration;
  total.invalid_http_status += c.invalid_http_status;
  total.meta_truncated += c.meta_truncated;
  total.metrics_key_truncated += c.metrics_key_truncated;
}

}  // namespace

TracePipeline::TracePipeline(Options options)
    : options_(std::move(options)),
      stats_options_(concentratorOptions(options_)),
      sampler_(samplerOptions(options_)),
      concentrator_(stats_options_),
      obfuscator_(options_.obfuscation),
      buffer_(bufferOptions(options_)) {}

bool TracePipeline::init(std::string* error) {
  return resource_filter_.compile(options_.ignore_resources, error);
}

TracePipeline::Result TracePipeline::process(DecodedPayload& dp, const Request& request,
                                             int64_t now_ns) {
  Result r;
  TracerPayload& p = dp.payload;
  r.traces = p.chunks.size();
  for (const auto& c : p.chunks) {
    r.spans += c.spans.size();
  }
  NormalizeOptions no;
  no.now_ns = now_ns;
  no.client_computed_top_level = request.client_computed_top_level;
  NormalizeCounts counts;
  normalizePayload(dp, no, counts);
  add(normalize_counts_, counts);
  r.dropped_invalid = counts.dropped_zero_id + counts.dropped_foreign_span + counts.dropped_empty;
  if (p.env.empty() && !p.chunks.empty()) {
    p.env = rootEnv(p.chunks.front());
  }
  for (auto& chunk : p.chunks) {
    if (!resource_filter_.empty() && resource_filter_.ignored(chunk)) {
      ++r.dropped_ignored;
      continue;
    }
    for (auto& span : chunk.spans) {
      obfuscator_.obfuscateSpan(span, dp.arena);
    }
    Str env = p.env;
    if (env.empty()) {
      env = rootEnv(chunk);
    }
    if (!request.client_computed_stats) {
      concentrator_.add(p, chunk, now_ns);
    }
    if (!sampler_.sample(chunk, env, now_ns).keep) {
      ++r.dropped_sampling;
      continue;
    }
    ++r.kept;
    chunk.kept = true;
    buffer_.add(p, chunk);
  }
  return r;
}

}  // namespace outpost::traces
