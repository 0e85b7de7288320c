#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace outpost {

// The Datadog Agent version whose wire behaviour Outpost follows: the metrics host prefix
// (<maj>-<min>-<patch>-app.agent.<site>), DD-Agent-Version and the User-Agent carry it, so the
// intake treats our payloads as that Agent's.
inline constexpr const char* kDatadogAgentCompatVersion = "7.60.0";

// Which intake a payload goes to; each has its own endpoints.
enum class IntakeKind { kMetrics, kLogs, kTraces };
std::string_view intakeKindName(IntakeKind k);

// One place payloads are sent to, with its own API key.
struct Endpoint {
  IntakeKind kind;
  std::string name;      // stable, secret-free: "metrics", "logs#1", ... (telemetry, spool dir)
  std::string base_url;  // scheme://host[:port], no trailing slash
  std::string api_key;
  bool primary = false;  // acknowledgements follow the primary endpoint only
};

struct Endpoints {
  std::vector<Endpoint> metrics;  // [0] is primary
  std::vector<Endpoint> logs;
  std::vector<Endpoint> traces;
  const std::vector<Endpoint>& of(IntakeKind k) const;
};

// Derives every endpoint from the configuration as the Datadog Agent does: the site's hosts,
// dd_url / logs_config.logs_dd_url (+ logs_no_ssl) / apm_config.apm_dd_url overrides (full URLs
// or host:port), and the additional_endpoints of each intake (one endpoint per API key).
// The primary endpoints carry api_key; empty when in local mode.
Endpoints resolveEndpoints(const Config& config);

// https://app.datadoghq.com -> https://7-60-0-app.agent.datadoghq.com for the Datadog hosts
// that have versioned names; any other URL unchanged.
std::string versionedMetricsUrl(const std::string& url);

// "host:port" -> "<scheme>://host:port"; a URL with a scheme is kept; a trailing '/' removed.
std::string normalizeUrl(const std::string& url, bool use_ssl);

}  // namespace outpost
