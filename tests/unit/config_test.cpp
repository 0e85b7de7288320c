#include "core/config.h"

#include <gtest/gtest.h>

#include <map>

#include "core/config_render.h"
#include "core/config_schema.h"
#include "core/strings.h"
#include "tests/support/test_support.h"

namespace outpost {
namespace {

using testing::TempDir;

// An environment holding only what a test puts in it.
struct FakeEnv {
  std::map<std::string, std::string> vars;
  EnvLookup lookup() const {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) {
        return std::nullopt;
      }
      return it->second;
    };
  }
};

struct Loaded {
  ConfigResult result;
  std::string file;
};

Loaded loadYaml(const TempDir& dir, const std::string& yaml, const FakeEnv& env = {}) {
  Loaded l;
  l.file = dir.write("outpost.yaml", yaml);
  l.result = loadConfig(dir.path(), env.lookup());
  return l;
}

std::vector<std::string> formatted(const std::vector<ConfigMessage>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) {
    out.push_back(m.format());
  }
  return out;
}

TEST(ConfigTest, EmptyFileGivesTheDefaults) {
  TempDir dir;
  auto l = loadYaml(dir, "");
  ASSERT_TRUE(l.result.loaded) << join(formatted(l.result.errors), "\n");
  const Config& c = l.result.loaded->config;
  EXPECT_EQ(c.site, "datadoghq.com");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_TRUE(c.localMode());
  EXPECT_EQ(c.dogstatsd_port, 8125);
  EXPECT_EQ(c.apm_config.receiver_port, 8126);
  EXPECT_EQ(c.logs_config.open_files_limit, 500);
  EXPECT_EQ(c.histogram_aggregates, (StringList{"max", "median", "avg", "count"}));
  EXPECT_FALSE(c.hostname.empty());  // the machine's host name
  EXPECT_EQ(c.confd_path, dir.path() + "/conf.d");
  EXPECT_EQ(l.result.loaded->config_file, l.file);
  EXPECT_TRUE(l.result.warnings.empty());
}

TEST(ConfigTest, ValuesFromTheFileAreTypedAndTheirOriginKept) {
  TempDir dir;
  auto l = loadYaml(dir,
                    "api_key: 0123456789abcdef0123456789abcdef\n"
                    "site: datadoghq.eu\n"
                    "tags:\n"
                    "  - env:prod\n"
                    "  - team:core\n"
                    "log_level: DEBUG\n"
                    "logs_enabled: yes\n"
                    "logs_config:\n"
                    "  open_files_limit: 100\n"
                    "  file_scan_period: 2.5\n"
                    "proxy:\n"
                    "  https: http://proxy:3128\n"
                    "  no_proxy: [localhost, .internal]\n"
                    "additional_endpoints:\n"
                    "  https://app.datadoghq.com: [k1, k2]\n");
  ASSERT_TRUE(l.result.loaded) << join(formatted(l.result.errors), "\n");
  const LoadedConfig& lc = *l.result.loaded;
  EXPECT_FALSE(lc.config.localMode());
  EXPECT_EQ(lc.config.site, "datadoghq.eu");
  EXPECT_EQ(lc.config.tags, (StringList{"env:prod", "team:core"}));
  EXPECT_EQ(lc.config.log_level, "debug");
  EXPECT_TRUE(lc.config.logs_enabled);
  EXPECT_EQ(lc.config.logs_config.open_files_limit, 100);
  EXPECT_DOUBLE_EQ(lc.config.logs_config.file_scan_period, 2.5);
  EXPECT_EQ(lc.config.proxy.https, "http://proxy:3128");
  EXPECT_EQ(lc.config.proxy.no_proxy, (StringList{"localhost", ".internal"}));
  EXPECT_EQ(lc.config.additional_endpoints.at("https://app.datadoghq.com"),
            (StringList{"k1", "k2"}));
  EXPECT_EQ(lc.origins.at("site").describe(), l.file + ":2");
  EXPECT_EQ(lc.origins.at("logs_config.open_files_limit").describe(), l.file + ":9");
  EXPECT_EQ(lc.origins.at("env").describe(), "default");
}

TEST(ConfigTest, PathMayBeTheFileItselfOrADirectoryWithoutOne) {
  TempDir dir;
  const std::string file = dir.write("custom.yaml", "site: datadoghq.eu\n");
  auto r = loadConfig(file, FakeEnv{}.lookup());
  ASSERT_TRUE(r.loaded);
  EXPECT_EQ(r.loaded->config.site, "datadoghq.eu");
  EXPECT_EQ(r.loaded->config_dir, dir.path());

  TempDir empty;
  auto r2 = loadConfig(empty.path(), FakeEnv{}.lookup());
  ASSERT_TRUE(r2.loaded);
  EXPECT_EQ(r2.loaded->config_file, "");
  EXPECT_EQ(r2.loaded->config.site, "datadoghq.com");
}

TEST(ConfigTest, RelativePathsResolveFromTheConfigDirectoryAndRunPath) {
  TempDir dir;
  auto l = loadYaml(dir, "run_path: state\nconfd_path: checks\nquery_socket: q.sock\n");
  ASSERT_TRUE(l.result.loaded);
  EXPECT_EQ(l.result.loaded->config.run_path, dir.path() + "/state");
  EXPECT_EQ(l.result.loaded->config.confd_path, dir.path() + "/checks");
  EXPECT_EQ(l.result.loaded->config.query_socket, dir.path() + "/state/q.sock");
}

// --- Every class of error, with its exact message -------------------------------------------

struct ErrorCase {
  const char* name;
  const char* yaml;
  const char* expected;  // after "<file>:"
};

void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << c.name;
}

class ConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesFileLineColumnAndKey) {
  TempDir dir;
  const ErrorCase& c = GetParam();
  auto l = loadYaml(dir, c.yaml);
  ASSERT_FALSE(l.result.loaded);
  ASSERT_EQ(l.result.errors.size(), 1u) << join(formatted(l.result.errors), "\n");
  EXPECT_EQ(l.result.errors[0].format(), l.file + ":" + c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Classes, ConfigErrorTest,
    ::testing::Values(
        ErrorCase{"SyntaxError", "site: datadoghq.com\ntags: [a, b\n",
                  "3:1: YAML syntax error: end of sequence flow not found"},
        ErrorCase{"BadBoolean", "logs_enabled: maybe\n",
                  "1:15: logs_enabled: expected a boolean (true or false), got \"maybe\""},
        ErrorCase{"BadInteger", "dogstatsd_port: eighty\n",
                  "1:17: dogstatsd_port: expected an integer, got \"eighty\""},
        ErrorCase{"IntegerOutOfRange", "dogstatsd_port: 70000\n",
                  "1:17: dogstatsd_port: must be between 0 and 65535, got \"70000\""},
        ErrorCase{"BadNumber", "forwarder_backoff_base: fast\n",
                  "1:25: forwarder_backoff_base: expected a number, got \"fast\""},
        ErrorCase{"BadEnum", "log_level: loud\n",
                  "1:12: log_level: \"loud\" is not one of: trace, debug, info, warn, error, "
                  "critical, off"},
        ErrorCase{"NestedKey", "logs_config:\n  open_files_limit: lots\n",
                  "2:21: logs_config.open_files_limit: expected an integer, got \"lots\""},
        ErrorCase{"ScalarWhereListOfStringsWanted", "tags:\n  - env: prod\n",
                  "2:5: tags: expected a string in the list, got a mapping (to write the tag "
                  "env:prod, leave no space after the colon)"},
        ErrorCase{"MappingWhereScalarWanted", "site:\n  name: eu\n",
                  "2:3: site: expected a string, got a mapping"},
        ErrorCase{"SectionNotAMapping", "logs_config: 5\n",
                  "1:14: logs_config: expected a mapping of logs_config.* keys, got a scalar"},
        ErrorCase{"TopLevelNotAMapping", "- a\n- b\n",
                  "1:1: expected a mapping of keys at the top level, got a list"},
        ErrorCase{"SiteWithScheme", "site: https://datadoghq.eu\n",
                  "1:7: site: expected a domain such as datadoghq.com or datadoghq.eu, got "
                  "\"https://datadoghq.eu\""},
        ErrorCase{"BadUrl", "logs_config:\n  logs_dd_url: not a url\n",
                  "2:16: logs_config.logs_dd_url: expected a URL (https://host[:port]) or "
                  "host:port, got \"not a url\""},
        ErrorCase{"BadHistogramAggregate", "histogram_aggregates: [max, p99]\n",
                  "1:23: histogram_aggregates: \"p99\" is not one of: min, max, median, avg, sum, "
                  "count"},
        ErrorCase{"EndpointWithoutKeys", "additional_endpoints:\n  https://x.example.com: []\n",
                  "2:3: additional_endpoints: https://x.example.com has no API key"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ConfigTest, MissingConfigPathIsAnError) {
  auto r = loadConfig("/nonexistent/outpost", FakeEnv{}.lookup());
  ASSERT_FALSE(r.loaded);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].format(),
            "/nonexistent/outpost: no such file or directory (pass -c with the directory that "
            "holds outpost.yaml, or the file itself)");
}

TEST(ConfigTest, EveryErrorIsReportedNotJustTheFirst) {
  TempDir dir;
  auto l = loadYaml(dir, "logs_enabled: maybe\ndogstatsd_port: -1\nlog_level: loud\n");
  ASSERT_FALSE(l.result.loaded);
  EXPECT_EQ(l.result.errors.size(), 3u);
}

TEST(ConfigTest, QuerySocketPathLongerThanSunPathIsAnError) {
  TempDir dir;
  auto l = loadYaml(dir, "query_socket: /" + std::string(120, 'q') + "\n");
  ASSERT_FALSE(l.result.loaded);
  ASSERT_EQ(l.result.errors.size(), 1u);
  EXPECT_EQ(l.result.errors[0].format(),
            l.file +
                ":1:15: query_socket: a Unix socket path must be shorter than 108 bytes, "
                "this one has 121");
}

// --- Warnings ----------------------------------------------------------------------------------

TEST(ConfigTest, UnknownKeysWarnWithTheNearestKnownKey) {
  TempDir dir;
  auto l = loadYaml(dir,
                    "log_levle: debug\n"
                    "logs_config:\n"
                    "  open_file_limit: 10\n"
                    "open_files_limit: 3\n"
                    "process_config:\n"
                    "  enabled: true\n");
  ASSERT_TRUE(l.result.loaded);
  EXPECT_EQ(formatted(l.result.warnings),
            (std::vector<std::string>{
                l.file + ":1:1: log_levle: unknown key, ignored (did you mean 'log_level'?)",
                l.file + ":3:3: logs_config.open_file_limit: unknown key, ignored (did you mean "
                         "'logs_config.open_files_limit'?)",
                l.file + ":4:1: open_files_limit: unknown key, ignored (did you mean "
                         "'logs_config.open_files_limit'?)",
                l.file + ":5:1: process_config: unknown key, ignored",
            }));
  EXPECT_EQ(l.result.loaded->config.log_level, "info");
}

// --- Environment --------------------------------------------------------------------------------

TEST(ConfigTest, EnvironmentOverridesTheFileIncludingNestedKeys) {
  TempDir dir;
  FakeEnv env;
  env.vars = {{"DD_SITE", "datadoghq.eu"},
              {"DD_API_KEY", "  abcdefabcdefabcdefabcdefabcdef12\n"},
              {"DD_LOGS_CONFIG_LOGS_DD_URL", "http://127.0.0.1:10518"},
              {"DD_LOGS_CONFIG_OPEN_FILES_LIMIT", "42"},
              {"DD_LOGS_ENABLED", "true"},
              {"DD_TAGS", "env:prod  team:core role:syslog"},
              {"DD_PROXY_NO_PROXY", "localhost 10.0.0.1"},
              {"DD_HISTOGRAM_PERCENTILES", "[\"0.5\", \"0.99\"]"},
              {"DD_ADDITIONAL_ENDPOINTS", "{\"https://app.datadoghq.com\": [\"k1\"]}"}};
  auto l = loadYaml(dir, "site: datadoghq.com\nlogs_config:\n  open_files_limit: 100\n", env);
  ASSERT_TRUE(l.result.loaded) << join(formatted(l.result.errors), "\n");
  const LoadedConfig& lc = *l.result.loaded;
  EXPECT_EQ(lc.config.site, "datadoghq.eu");
  EXPECT_EQ(lc.config.api_key, "abcdefabcdefabcdefabcdefabcdef12");  // trimmed
  EXPECT_EQ(lc.config.logs_config.logs_dd_url, "http://127.0.0.1:10518");
  EXPECT_EQ(lc.config.logs_config.open_files_limit, 42);
  EXPECT_TRUE(lc.config.logs_enabled);
  EXPECT_EQ(lc.config.tags, (StringList{"env:prod", "team:core", "role:syslog"}));
  EXPECT_EQ(lc.config.proxy.no_proxy, (StringList{"localhost", "10.0.0.1"}));
  EXPECT_EQ(lc.config.histogram_percentiles, (StringList{"0.5", "0.99"}));
  EXPECT_EQ(lc.config.additional_endpoints.at("https://app.datadoghq.com"), StringList{"k1"});
  EXPECT_EQ(lc.origins.at("site").describe(), "env DD_SITE");
  EXPECT_EQ(lc.origins.at("logs_config.open_files_limit").describe(),
            "env DD_LOGS_CONFIG_OPEN_FILES_LIMIT");
}

TEST(ConfigTest, DatadogAliasesWorkAndTheDerivedNameWins) {
  TempDir dir;
  FakeEnv env;
  env.vars = {{"DD_APM_ENABLED", "false"}, {"DD_APM_RECEIVER_PORT", "9126"}};
  auto l = loadYaml(dir, "", env);
  ASSERT_TRUE(l.result.loaded);
  EXPECT_FALSE(l.result.loaded->config.apm_config.enabled);
  EXPECT_EQ(l.result.loaded->config.apm_config.receiver_port, 9126);

  env.vars["DD_APM_CONFIG_RECEIVER_PORT"] = "7126";
  auto l2 = loadYaml(dir, "", env);
  ASSERT_TRUE(l2.result.loaded);
  EXPECT_EQ(l2.result.loaded->config.apm_config.receiver_port, 7126);
}

TEST(ConfigTest, BadEnvironmentValuesNameTheVariableAndKey) {
  TempDir dir;
  FakeEnv env;
  env.vars = {{"DD_LOGS_ENABLED", "maybe"},
              {"DD_DOGSTATSD_PORT", "99999"},
              {"DD_ADDITIONAL_ENDPOINTS", "{broken"}};
  auto l = loadYaml(dir, "", env);
  ASSERT_FALSE(l.result.loaded);
  const auto errors = formatted(l.result.errors);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0],
            "environment variable DD_ADDITIONAL_ENDPOINTS: additional_endpoints: expected JSON "
            "such as {\"https://app.datadoghq.eu\": [\"<api key>\"]}: end of map flow not found");
  EXPECT_EQ(errors[1],
            "environment variable DD_LOGS_ENABLED: logs_enabled: expected a boolean (true or "
            "false), got \"maybe\"");
  EXPECT_EQ(errors[2],
            "environment variable DD_DOGSTATSD_PORT: dogstatsd_port: must be between 0 and 65535, "
            "got \"99999\"");
}

TEST(ConfigTest, ValidationErrorsPointAtTheEnvironmentWhenTheValueCameFromThere) {
  TempDir dir;
  FakeEnv env;
  env.vars = {{"DD_SITE", "https://datadoghq.eu"}};
  auto l = loadYaml(dir, "site: datadoghq.com\n", env);
  ASSERT_EQ(l.result.errors.size(), 1u);
  EXPECT_EQ(l.result.errors[0].format(),
            "environment variable DD_SITE: site: expected a domain such as datadoghq.com or "
            "datadoghq.eu, got \"https://datadoghq.eu\"");
}

// --- Redaction and configcheck -------------------------------------------------------------------

TEST(ConfigTest, ConfigcheckRedactsSecretsAndParsesBackAsYaml) {
  TempDir dir;
  dir.write("conf.d/app.d/conf.yaml",
            "init_config:\n  token: init-secret-token\n"
            "instances:\n  - url: http://localhost\n    password: hunter2-secret\n"
            "    api_key: instance-secret-key\n");
  FakeEnv env;
  env.vars = {{"DD_API_KEY", "abcdefabcdefabcdefabcdefabcdef12"}};
  auto l = loadYaml(dir,
                    "proxy:\n  https: http://user:proxy-secret-pw@proxy:3128\n"
                    "additional_endpoints:\n  https://app.datadoghq.com: [second-secret-key]\n",
                    env);
  ASSERT_TRUE(l.result.loaded) << join(formatted(l.result.errors), "\n");
  const std::string out = renderConfigcheck(*l.result.loaded);
  for (const char* secret : {"abcdefabcdefabcdefabcdefabcdef12", "proxy-secret-pw", "hunter2",
                             "instance-secret-key", "second-secret-key", "init-secret-token"}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << secret << " leaked:\n" << out;
  }
  EXPECT_NE(out.find("api_key: \"********\"  # env DD_API_KEY"), std::string::npos) << out;
  EXPECT_NE(out.find("https: http://user:********@proxy:3128"), std::string::npos) << out;
  EXPECT_NE(out.find("password: \"********\""), std::string::npos) << out;

  // The output is YAML: each document parses, and the main one holds the resolved values.
  std::vector<YAML::Node> docs = YAML::LoadAll(out);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0]["site"].as<std::string>(), "datadoghq.com");
  EXPECT_EQ(docs[0]["logs_config"]["open_files_limit"].as<int>(), 500);
  EXPECT_EQ(docs[0]["run_path"].as<std::string>(), "/var/lib/outpost");
  EXPECT_EQ(docs[1]["instances"][0]["url"].as<std::string>(), "http://localhost");
}

TEST(ConfigTest, ChangedKeysListsExactlyWhatDiffers) {
  Config a = defaultConfig();
  Config b = a;
  EXPECT_TRUE(changedKeys(a, b).empty());
  b.log_level = "debug";
  b.logs_config.close_timeout = 5;
  b.tags = {"x:y"};
  EXPECT_EQ(changedKeys(a, b),
            (std::vector<std::string>{"tags", "log_level", "logs_config.close_timeout"}));
}

// --- The schema is the one place: docs and the example are generated from it ------------------

TEST(ConfigSchemaTest, SectionsAreContiguousAndKeysUnique) {
  std::vector<std::string> seen_sections;
  std::string current;
  std::vector<std::string> keys;
  for (const auto& def : configSchema()) {
    keys.emplace_back(def.key);
    const size_t dot = def.key.find('.');
    const std::string section(dot == std::string_view::npos ? "" : def.key.substr(0, dot));
    if (section != current) {
      if (!section.empty()) {
        EXPECT_EQ(std::count(seen_sections.begin(), seen_sections.end(), section), 0)
            << section << " appears in two places; configcheck would print it twice";
        seen_sections.push_back(section);
      }
      current = section;
    }
    EXPECT_FALSE(def.description.empty()) << def.key;
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
}

TEST(ConfigSchemaTest, GeneratedDocsAreUpToDate) {
  EXPECT_EQ(testing::readFile(OUTPOST_SOURCE_DIR "/docs/configuration.md"), renderConfigReference())
      << "docs/configuration.md is stale: run ./dev docs";
  EXPECT_EQ(testing::readFile(OUTPOST_SOURCE_DIR "/conf.d/outpost.yaml.example"),
            renderExampleConfig())
      << "conf.d/outpost.yaml.example is stale: run ./dev docs";
}

TEST(ConfigSchemaTest, UncommentedExampleLoadsToTheDefaults) {
  // Uncomment every `# key: value` line of the example, keeping its indentation.
  const std::string example = renderExampleConfig();
  std::string yaml;
  for (const auto& line : split(example, '\n')) {
    std::string body = line.starts_with("# ") ? line.substr(2) : line;
    const std::string_view t = trim(body);
    const size_t colon = t.find(':');
    const bool is_key = line.starts_with("# ") && colon != std::string_view::npos &&
                        t.substr(0, colon).find_first_not_of("abcdefghijklmnopqrstuvwxyz_") ==
                            std::string_view::npos;
    if (is_key) {
      yaml += body + "\n";
    }
  }
  TempDir dir;
  auto l = loadYaml(dir, yaml);
  ASSERT_TRUE(l.result.loaded) << join(formatted(l.result.errors), "\n") << "\n" << yaml;
  EXPECT_TRUE(l.result.warnings.empty()) << join(formatted(l.result.warnings), "\n");
  auto empty = loadYaml(dir, "");
  ASSERT_TRUE(empty.result.loaded);
  EXPECT_TRUE(changedKeys(empty.result.loaded->config, l.result.loaded->config).empty())
      << join(changedKeys(empty.result.loaded->config, l.result.loaded->config), ", ");
  // Every key made it into the example.
  for (const auto& def : configSchema()) {
    EXPECT_NE(l.result.loaded->origins.at(std::string(def.key)).kind, ConfigOrigin::Kind::kDefault)
        << def.key << " is missing from the example";
  }
}

}  // namespace
}  // namespace outpost
