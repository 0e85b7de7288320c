#include "forwarder/endpoints.h"

#include <gtest/gtest.h>

#include "core/config_schema.h"

namespace outpost {
namespace {

Config withKey() {
  Config c = defaultConfig();
  c.api_key = "primary-key";
  return c;
}

TEST(EndpointsTest, DerivedFromTheSiteAsTheDatadogAgentDoes) {
  Config c = withKey();
  Endpoints e = resolveEndpoints(c);
  ASSERT_EQ(e.metrics.size(), 1u);
  EXPECT_EQ(e.metrics[0].base_url, "https://7-60-0-app.agent.datadoghq.com");
  EXPECT_EQ(e.metrics[0].api_key, "primary-key");
  EXPECT_TRUE(e.metrics[0].primary);
  EXPECT_EQ(e.logs[0].base_url, "https://agent-http-intake.logs.datadoghq.com");
  EXPECT_EQ(e.traces[0].base_url, "https://trace.agent.datadoghq.com");

  c.site = "us3.datadoghq.com";
  e = resolveEndpoints(c);
  EXPECT_EQ(e.metrics[0].base_url, "https://7-60-0-app.agent.us3.datadoghq.com");
  EXPECT_EQ(e.logs[0].base_url, "https://agent-http-intake.logs.us3.datadoghq.com");
  c.site = "datadoghq.eu";
  EXPECT_EQ(resolveEndpoints(c).traces[0].base_url, "https://trace.agent.datadoghq.eu");
  c.site = "ddog-gov.com";
  EXPECT_EQ(resolveEndpoints(c).metrics[0].base_url, "https://7-60-0-app.agent.ddog-gov.com");
}

TEST(EndpointsTest, OverridesTakeUrlsOrHostPort) {
  Config c = withKey();
  c.dd_url = "http://127.0.0.1:8080/";
  c.logs_config.logs_dd_url = "127.0.0.1:10518";
  c.logs_config.logs_no_ssl = true;
  c.apm_config.apm_dd_url = "https://traces.example.com:8443";
  const Endpoints e = resolveEndpoints(c);
  EXPECT_EQ(e.metrics[0].base_url, "http://127.0.0.1:8080");
  EXPECT_EQ(e.logs[0].base_url, "http://127.0.0.1:10518");
  EXPECT_EQ(e.traces[0].base_url, "https://traces.example.com:8443");
  c.logs_config.logs_no_ssl = false;
  EXPECT_EQ(resolveEndpoints(c).logs[0].base_url, "https://127.0.0.1:10518");
  c.dd_url = "proxy.internal:3834";
  EXPECT_EQ(resolveEndpoints(c).metrics[0].base_url, "https://proxy.internal:3834");
}

TEST(EndpointsTest, OnlyDatadogAppHostsGetTheVersionPrefix) {
  EXPECT_EQ(versionedMetricsUrl("https://app.datadoghq.eu"),
            "https://7-60-0-app.agent.datadoghq.eu");
  EXPECT_EQ(versionedMetricsUrl("https://app.us5.datadoghq.com"),
            "https://7-60-0-app.agent.us5.datadoghq.com");
  EXPECT_EQ(versionedMetricsUrl("https://app.datad0g.com"), "https://7-60-0-app.agent.datad0g.com");
  EXPECT_EQ(versionedMetricsUrl("https://app.example.com"), "https://app.example.com");
  EXPECT_EQ(versionedMetricsUrl("https://metrics.datadoghq.com"), "https://metrics.datadoghq.com");
}

TEST(EndpointsTest, AdditionalEndpointsGetOneEndpointPerKey) {
  Config c = withKey();
  c.additional_endpoints = {{"https://app.datadoghq.eu", {"eu-1", " eu-2 "}}};
  c.apm_config.additional_endpoints = {{"https://trace.agent.datadoghq.eu", {"apm-eu"}}};
  c.logs_config.additional_endpoints = {
      LogsEndpoint{"logs-eu", "agent-http-intake.logs.datadoghq.eu", 443, true, true},
      LogsEndpoint{"logs-local", "127.0.0.1", 10518, false, false}};
  const Endpoints e = resolveEndpoints(c);
  ASSERT_EQ(e.metrics.size(), 3u);
  EXPECT_EQ(e.metrics[1].name, "metrics#1");
  EXPECT_EQ(e.metrics[1].base_url, "https://7-60-0-app.agent.datadoghq.eu");
  EXPECT_EQ(e.metrics[1].api_key, "eu-1");
  EXPECT_EQ(e.metrics[2].api_key, "eu-2");
  EXPECT_FALSE(e.metrics[2].primary);
  ASSERT_EQ(e.traces.size(), 2u);
  EXPECT_EQ(e.traces[1].base_url, "https://trace.agent.datadoghq.eu");
  ASSERT_EQ(e.logs.size(), 3u);
  EXPECT_EQ(e.logs[1].base_url, "https://agent-http-intake.logs.datadoghq.eu:443");
  EXPECT_EQ(e.logs[2].base_url, "http://127.0.0.1:10518");
  // Names carry no secret: they go into telemetry and spool paths.
  for (const auto& ep : e.metrics) {
    EXPECT_EQ(ep.name.find("eu-"), std::string::npos);
  }
}

}  // namespace
}  // namespace outpost
