#include "forwarder/endpoints.h"

#include <regex>

#include "core/strings.h"

namespace outpost {
namespace {

std::string versionPrefix() {
  std::string v = kDatadogAgentCompatVersion;
  for (char& c : v) {
    if (c == '.') {
      c = '-';
    }
  }
  return v;
}

void addAdditional(IntakeKind kind, const StringListMap& urls, bool versioned,
                   std::vector<Endpoint>& out) {
  size_t n = 0;
  for (const auto& [url, keys] : urls) {
    std::string base = normalizeUrl(url, true);
    if (versioned) {
      base = versionedMetricsUrl(base);
    }
    for (const auto& key : keys) {
      out.push_back(Endpoint{kind, std::string(intakeKindName(kind)) + "#" + std::to_string(++n),
                             base, std::string(trim(key)), false});
    }
  }
}

}  // namespace

std::string_view intakeKindName(IntakeKind k) {
  switch (k) {
    case IntakeKind::kMetrics:
      return "metrics";
    case IntakeKind::kLogs:
      return "logs";
    case IntakeKind::kTraces:
      return "traces";
  }
  return "";
}

const std::vector<Endpoint>& Endpoints::of(IntakeKind k) const {
  switch (k) {
    case IntakeKind::kMetrics:
      return metrics;
    case IntakeKind::kLogs:
      return logs;
    case IntakeKind::kTraces:
      return traces;
  }
  return metrics;
}

std::string normalizeUrl(const std::string& url, bool use_ssl) {
  std::string u(trim(url));
  while (u.size() > 1 && u.back() == '/') {
    u.pop_back();
  }
  if (u.find("://") == std::string::npos) {
    u = (use_ssl ? "https://" : "http://") + u;
  }
  return u;
}

std::string versionedMetricsUrl(const std::string& url) {
  // app. + optional <2 letters><digit>. + one of the Datadog domains (wire-formats.md §7.2).
  static const std::regex kPattern(
      R"(^(https?://)app\.([a-z]{2}\d\.)?(datadoghq\.com|datadoghq\.eu|datad0g\.com|datad0g\.eu|ddog-gov\.com)(:\d+)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, kPattern)) {
    return url;
  }
  return m[1].str() + versionPrefix() + "-app.agent." + m[2].str() + m[3].str() + m[4].str();
}

Endpoints resolveEndpoints(const Config& c) {
  Endpoints e;
  const std::string key(trim(c.api_key));

  std::string metrics = c.dd_url.empty() ? "https://app." + c.site : normalizeUrl(c.dd_url, true);
  e.metrics.push_back(
      Endpoint{IntakeKind::kMetrics, "metrics", versionedMetricsUrl(metrics), key, true});
  addAdditional(IntakeKind::kMetrics, c.additional_endpoints, true, e.metrics);

  const std::string logs =
      c.logs_config.logs_dd_url.empty()
          ? "https://agent-http-intake.logs." + c.site
          : normalizeUrl(c.logs_config.logs_dd_url, !c.logs_config.logs_no_ssl);
  e.logs.push_back(Endpoint{IntakeKind::kLogs, "logs", logs, key, true});
  size_t n = 0;
  for (const auto& extra : c.logs_config.additional_endpoints) {
    const std::string host_port =
        extra.host.find(':') == std::string::npos && extra.host.find("://") == std::string::npos
            ? extra.host + ":" + std::to_string(extra.port)
            : extra.host;
    e.logs.push_back(Endpoint{IntakeKind::kLogs, "logs#" + std::to_string(++n),
                              normalizeUrl(host_port, extra.use_ssl), extra.api_key, false});
  }

  const std::string traces = c.apm_config.apm_dd_url.empty()
                                 ? "https://trace.agent." + c.site
                                 : normalizeUrl(c.apm_config.apm_dd_url, true);
  e.traces.push_back(Endpoint{IntakeKind::kTraces, "traces", traces, key, true});
  addAdditional(IntakeKind::kTraces, c.apm_config.additional_endpoints, false, e.traces);
  return e;
}

}  // namespace outpost
