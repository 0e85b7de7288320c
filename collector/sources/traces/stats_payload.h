#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// The APM stats intake's body (wire-formats.md §5.6–§5.7): msgpack maps with PascalCase keys,
// gzip-compressed by the forwarder. At most 4000 grouped entries per payload (then
// SplitPayload). Also the tracers' own ClientStatsPayload (/v0.6/stats, §4.10).
namespace outpost::traces {

struct GroupedStats {
  std::string service, name, resource, type, db_type, span_kind, grpc_status_code, http_method,
      http_endpoint;
  uint32_t http_status_code = 0;
  uint64_t hits = 0, errors = 0, duration = 0, top_level_hits = 0;
  std::string ok_summary, error_summary;  // protobuf DDSketch bytes
  bool synthetics = false;
  std::vector<std::string> peer_tags;
  int32_t is_trace_root = 0;  // NOT_SET 0, TRUE 1, FALSE 2
};

struct StatsBucket {
  uint64_t start = 0;     // ns
  uint64_t duration = 0;  // ns
  std::vector<GroupedStats> stats;
  int64_t agent_time_shift = 0;
};

struct ClientStatsPayload {
  std::string hostname, env, version, lang, tracer_version, runtime_id, agent_aggregation, service,
      container_id, git_commit_sha, image_tag;
  std::vector<StatsBucket> stats;
  uint64_t sequence = 0;
  std::vector<std::string> tags;
};

struct StatsPayload {
  std::string agent_hostname, agent_env, agent_version;
  std::vector<ClientStatsPayload> stats;
  bool client_computed = false;
  bool split_payload = false;
};

std::string encodeStatsPayload(const StatsPayload& p);

// Decodes a tracer's /v0.6/stats body; false with *error on malformed input. Unknown keys are
// skipped; integers are accepted for any numeric field.
bool decodeClientStatsPayload(std::string_view body, ClientStatsPayload* out, std::string* error);

struct ConcentratorOptions;
// A StatsPayload carrying a tracer's client-computed stats (ClientComputed = true), hostname and
// env filled from the agent when the tracer left them empty.
std::string wrapClientStats(const ClientStatsPayload& client, const ConcentratorOptions& agent);

}  // namespace outpost::traces
