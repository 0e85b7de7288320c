#include "collector/sources/logs/source_config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/confd.h"
#include "core/config.h"
#include "tests/support/test_support.h"

namespace outpost::logs {
namespace {

const char* const kFile = "/etc/outpost/conf.d/app.d/conf.yaml";

// A conf.d entry as core/confd.cpp builds it, from YAML text.
ConfdEntry entryFrom(const std::string& yaml) {
  ConfdEntry e;
  e.name = "app";
  e.file = kFile;
  const YAML::Node root = YAML::Load(yaml);
  for (const auto& item : root["logs"]) {
    const std::string type = item["type"] && item["type"].IsScalar() ? item["type"].Scalar() : "";
    e.logs.push_back(LogSourceEntry{type, item, item.Mark().line + 1});
  }
  return e;
}

TEST(SourceConfigTest, ParsesEveryKey) {
  const std::string yaml = R"(logs:
  - type: file
    path: /var/log/app/*.log
    exclude_paths: [/var/log/app/debug.log, "/var/log/app/*.gz"]
    service: app
    source: python
    sourcecategory: backend
    tags: env:prod, team:core ,
    start_position: beginning
    encoding: UTF-16-LE
    auto_multi_line_detection: true
    log_processing_rules:
      - type: exclude_at_match
        name: no_debug
        pattern: DEBUG
      - type: mask_sequences
        name: mask_cards
        pattern: '(\d{4})-\d{4}'
        replace_placeholder: '${1}-XXXX'
  - type: tcp
    port: 10514
    bind_host: 0.0.0.0
    tags: [a:b, "c:d"]
  - type: udp
    port: 10514
  - type: journald
    path: /var/log/journal
    include_units: [sshd.service]
    exclude_units: [cron.service]
    start_position: forceEnd
)";
  std::vector<ConfigMessage> errors, warnings;
  const auto sources = parseLogSources({entryFrom(yaml)}, errors, warnings);
  for (const auto& e : errors) {
    ADD_FAILURE() << e.format();
  }
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(sources.size(), 4u);

  const LogSourceConfig& f = sources[0];
  EXPECT_EQ(f.integration, "app");
  EXPECT_EQ(f.file, kFile);
  EXPECT_EQ(f.line, 2);
  EXPECT_EQ(f.type, "file");
  EXPECT_EQ(f.path, "/var/log/app/*.log");
  EXPECT_EQ(f.exclude_paths,
            (std::vector<std::string>{"/var/log/app/debug.log", "/var/log/app/*.gz"}));
  EXPECT_EQ(f.service, "app");
  EXPECT_EQ(f.source, "python");
  EXPECT_EQ(f.sourcecategory, "backend");
  EXPECT_EQ(f.tags, (std::vector<std::string>{"env:prod", "team:core"}));
  EXPECT_EQ(f.start_position, StartPosition::kBeginning);
  EXPECT_EQ(f.encoding, TextEncoding::kUtf16Le);
  EXPECT_EQ(f.auto_multi_line_detection, std::optional<bool>(true));
  ASSERT_EQ(f.rules.size(), 2u);
  EXPECT_EQ(f.rules[0].type, "exclude_at_match");
  EXPECT_EQ(f.rules[0].name, "no_debug");
  EXPECT_EQ(f.rules[0].pattern, "DEBUG");
  EXPECT_EQ(f.rules[0].file, kFile);
  EXPECT_EQ(f.rules[0].line, 13);
  EXPECT_EQ(f.rules[1].pattern, "(\\d{4})-\\d{4}");
  EXPECT_EQ(f.rules[1].replace_placeholder, "${1}-XXXX");

  EXPECT_EQ(sources[1].type, "tcp");
  EXPECT_EQ(sources[1].port, 10514);
  EXPECT_EQ(sources[1].bind_host, "0.0.0.0");
  EXPECT_EQ(sources[1].tags, (std::vector<std::string>{"a:b", "c:d"}));
  EXPECT_EQ(sources[1].start_position, StartPosition::kEnd);
  EXPECT_EQ(sources[2].type, "udp");  // the same port on udp is no conflict
  EXPECT_EQ(sources[2].bind_host, "127.0.0.1");
  EXPECT_FALSE(sources[2].auto_multi_line_detection.has_value());

  EXPECT_EQ(sources[3].type, "journald");
  EXPECT_EQ(sources[3].path, "/var/log/journal");
  EXPECT_EQ(sources[3].include_units, (std::vector<std::string>{"sshd.service"}));
  EXPECT_EQ(sources[3].exclude_units, (std::vector<std::string>{"cron.service"}));
  EXPECT_EQ(sources[3].start_position, StartPosition::kForceEnd);

  // The rules compile as the pipeline will compile them.
  std::string error;
  auto rules = ProcessingRules::compile(f.rules, &error);
  ASSERT_TRUE(rules) << error;
  std::string msg = "card 1234-5678";
  EXPECT_TRUE(rules->apply(msg, false));
  EXPECT_EQ(msg, "card 1234-XXXX");
}

TEST(SourceConfigTest, ReadsRealConfdFiles) {
  testing::TempDir dir;
  dir.write("conf.d/nginx.d/conf.yaml",
            "logs:\n  - type: file\n    path: /var/log/nginx/access.log\n    service: nginx\n");
  dir.write("conf.d/syslog.yaml", "logs:\n  - type: udp\n    port: 5514\n");
  std::vector<ConfdEntry> confd;
  std::vector<ConfigMessage> errors, warnings;
  loadConfd(dir.file("conf.d"), false, confd, errors, warnings);
  ASSERT_TRUE(errors.empty());
  const auto sources = parseLogSources(confd, errors, warnings);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0].integration, "nginx");
  EXPECT_EQ(sources[0].file, dir.file("conf.d/nginx.d/conf.yaml"));
  EXPECT_EQ(sources[0].line, 2);
  EXPECT_EQ(sources[0].service, "nginx");
  EXPECT_EQ(sources[1].integration, "syslog");
  EXPECT_EQ(sources[1].port, 5514);
}

struct BadCase {
  const char* yaml;
  const char* key;
  int line;
  const char* text;  // a substring of the message
};

TEST(SourceConfigTest, BadConfigsNameFileLineAndKey) {
  const std::vector<BadCase> cases = {
      {"logs:\n  - type: file\n    path: var/log/x.log\n", "logs[0].path", 3,
       "must be an absolute path"},
      {"logs:\n  - type: file\n    service: x\n", "logs[0].path", 2, "missing required key"},
      {"logs:\n  - type: tcp\n    port: 70000\n", "logs[0].port", 3, "must be 1-65535"},
      {"logs:\n  - type: udp\n    port: abc\n", "logs[0].port", 3, "must be 1-65535"},
      {"logs:\n  - type: tcp\n    port: 0\n", "logs[0].port", 3, "must be 1-65535"},
      {"logs:\n  - type: tcp\n", "logs[0].port", 2, "missing required key for type: tcp"},
      {"logs:\n  - type: file\n    path: /x\n    start_position: middle\n",
       "logs[0].start_position", 4, "\"middle\" is not one of: beginning, end"},
      {"logs:\n  - type: file\n    path: /x\n    encoding: latin1\n", "logs[0].encoding", 4,
       "\"latin1\" is not one of: utf-16-le, utf-16-be, shift-jis"},
      {"logs:\n  - type: file\n    path: /x\n    log_processing_rules:\n      - type: "
       "exclude_at_match\n        name: ok\n        pattern: x\n      - type: include_at_match\n"
       "        name: bad\n        pattern: '(abc'\n",
       "logs[0].log_processing_rules[1].pattern", 10, "invalid regex: missing ): (abc"},
      {"logs:\n  - type: file\n    path: /x\n    log_processing_rules:\n      - type: drop\n"
       "        name: r\n        pattern: x\n",
       "logs[0].log_processing_rules[0].type", 5, "\"drop\" is not one of: exclude_at_match"},
      {"logs:\n  - type: file\n    path: /x\n    log_processing_rules:\n      - type: "
       "exclude_at_match\n        pattern: x\n",
       "logs[0].log_processing_rules[0].name", 5, "missing required key"},
      {"logs:\n  - type: file\n    path: /x\n    log_processing_rules:\n      - type: "
       "mask_sequences\n        name: m\n        pattern: x\n",
       "logs[0].log_processing_rules[0].replace_placeholder", 5, "missing required key"},
      {"logs:\n  - type: file\n    path: /x\n    log_processing_rules:\n      - type: "
       "include_at_match\n        name: m\n",
       "logs[0].log_processing_rules[0].pattern", 5, "missing required key"},
      {"logs:\n  - type: file\n    path: /x\n    log_processing_rules:\n      - type: multi_line\n"
       "        name: m\n        pattern: '*'\n",
       "logs[0].log_processing_rules[0].pattern", 7,
       "invalid regex: no argument for repetition operator"},
      {"logs:\n  - type: file\n    path: /x\n    log_processing_rules: {type: x}\n",
       "logs[0].log_processing_rules", 4, "expected a list of rules"},
      {"logs:\n  - type: file\n    path: /x\n    log_processing_rules: [x]\n",
       "logs[0].log_processing_rules[0]", 4, "expected a mapping"},
      {"logs:\n  - type: file\n    path: /x\n    tags: {a: b}\n", "logs[0].tags", 4,
       "expected a list of strings or a comma-separated string"},
      {"logs:\n  - type: file\n    path: /x\n    tags: [a, [b]]\n", "logs[0].tags[1]", 4,
       "expected a string"},
      {"logs:\n  - type: file\n    path: /x\n    auto_multi_line_detection: maybe\n",
       "logs[0].auto_multi_line_detection", 4, "expected true or false"},
      {"logs:\n  - type: file\n    path: /x\n    exclude_paths: [/ok, rel/x]\n",
       "logs[0].exclude_paths[1]", 4, "must be an absolute path"},
      {"logs:\n  - type: file\n    path: /x\n    exclude_paths: /one\n", "logs[0].exclude_paths", 4,
       "expected a list of strings"},
      {"logs:\n  - type: file\n    path: /x\n    service: [a]\n", "logs[0].service", 4,
       "expected a string"},
      {"logs:\n  - type: journald\n    include_units: sshd\n", "logs[0].include_units", 3,
       "expected a list of strings"},
      {"logs:\n  - type: tcp\n    port: 9000\n  - type: udp\n    port: 9000\n  - type: tcp\n"
       "    port: 9000\n",
       "logs[2].port", 7,
       "port 9000/tcp is already used by the source at /etc/outpost/conf.d/app.d/conf.yaml:2"},
      {"logs:\n  - type: tcp\n    port: 9001\n    bind_host: ''\n", "logs[0].bind_host", 4,
       "must not be empty"},
  };
  for (const auto& c : cases) {
    std::vector<ConfigMessage> errors, warnings;
    const auto sources = parseLogSources({entryFrom(c.yaml)}, errors, warnings);
    ASSERT_EQ(errors.size(), 1u) << c.yaml;
    const ConfigMessage& m = errors[0];
    EXPECT_EQ(m.file, kFile) << c.yaml;
    EXPECT_EQ(m.key, c.key) << c.yaml;
    EXPECT_EQ(m.line, c.line) << c.yaml << m.format();
    EXPECT_NE(m.text.find(c.text), std::string::npos) << m.format() << " lacks " << c.text;
    EXPECT_NE(m.format().find(fmt::format("{}:{}:", kFile, c.line)), std::string::npos);
    for (const auto& s : sources) {
      EXPECT_NE(s.line, m.line) << "the bad source is left out: " << c.yaml;
    }
  }
}

TEST(SourceConfigTest, GoodSourcesSurviveABadNeighbour) {
  const auto entry =
      entryFrom("logs:\n  - type: tcp\n    port: 99999\n  - type: udp\n    port: 514\n");
  std::vector<ConfigMessage> errors, warnings;
  const auto sources = parseLogSources({entry}, errors, warnings);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].format(), fmt::format("{}:3:11: logs[0].port: must be 1-65535", kFile));
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].port, 514);
}

TEST(SourceConfigTest, WarningsForUnknownAndMisplacedKeys) {
  const auto entry = entryFrom(R"(logs:
  - type: file
    path: /x
    servce: app
    port: 10
    fingerprint_config: {count: 1}
    log_processing_rules:
      - type: exclude_at_match
        name: r
        patern: x
        pattern: y
)");
  std::vector<ConfigMessage> errors, warnings;
  const auto sources = parseLogSources({entry}, errors, warnings);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(sources.size(), 1u);
  struct Want {
    const char* key;
    int line;
    const char* text;
  };
  const std::vector<Want> want = {
      {"logs[0].servce", 4, "unknown key, ignored (did you mean 'service'?)"},
      {"logs[0].port", 5, "applies only to type tcp and udp, ignored for type file"},
      {"logs[0].fingerprint_config", 6, "not supported by Outpost, ignored"},
      {"logs[0].log_processing_rules[0].patern", 10,
       "unknown key, ignored (did you mean 'pattern'?)"},
  };
  ASSERT_EQ(warnings.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(warnings[i].key, want[i].key);
    EXPECT_EQ(warnings[i].line, want[i].line) << warnings[i].format();
    EXPECT_EQ(warnings[i].text, want[i].text);
    EXPECT_EQ(warnings[i].file, kFile);
  }
}

TEST(SourceConfigTest, GlobalRules) {
  std::vector<ConfigMessage> errors;
  const auto good = parseGlobalRules(
      YAML::Load("- type: exclude_truncated\n  name: no_cut\n- type: mask_sequences\n  name: m\n"
                 "  pattern: 'key=\\w+'\n  replace_placeholder: key=***\n"),
      "/etc/outpost/outpost.yaml", errors);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(good.size(), 2u);
  EXPECT_EQ(good[0].type, "exclude_truncated");
  EXPECT_EQ(good[1].replace_placeholder, "key=***");
  EXPECT_EQ(good[1].file, "/etc/outpost/outpost.yaml");
  EXPECT_EQ(good[1].line, 3);
  EXPECT_TRUE(parseGlobalRules(YAML::Node(), "x", errors).empty());
  EXPECT_TRUE(errors.empty());

  const auto bad = parseGlobalRules(
      YAML::Load("- type: exclude_at_match\n  name: x\n  pattern: '[z'\n"), "/o.yaml", errors);
  EXPECT_TRUE(bad.empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "logs_config.processing_rules[0].pattern");
  EXPECT_EQ(errors[0].line, 3);
  EXPECT_EQ(errors[0].text, "rule \"x\": invalid regex: missing ]: [z");
}

// logs_config.processing_rules as loadConfig keeps it: from outpost.yaml (errors name its file,
// line and key) and from DD_LOGS_CONFIG_PROCESSING_RULES as JSON.
TEST(SourceConfigTest, GlobalRulesFromTheLoadedConfiguration) {
  testing::TempDir dir;
  const std::string file = dir.write("outpost.yaml",
                                     "logs_config:\n"
                                     "  processing_rules:\n"
                                     "    - type: exclude_at_match\n"
                                     "      name: no_health\n"
                                     "      pattern: GET /health\n"
                                     "    - type: mask_sequences\n"
                                     "      name: bad\n"
                                     "      replace_placeholder: x\n"
                                     "      pattern: '(unclosed'\n");
  const auto none = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  ConfigResult r = loadConfig(dir.path(), none);
  ASSERT_TRUE(r.loaded);
  std::vector<ConfigMessage> errors;
  const auto rules = parseGlobalRules(r.loaded->config.logs_config.processing_rules, errors);
  ASSERT_EQ(rules.size(), 1u);  // the good one; the error makes the configuration invalid
  EXPECT_EQ(rules[0].line, 3);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, file);
  EXPECT_EQ(errors[0].line, 9);
  EXPECT_EQ(errors[0].key, "logs_config.processing_rules[1].pattern");

  dir.write("outpost.yaml", "logs_config:\n  processing_rules: []\n");
  const auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "DD_LOGS_CONFIG_PROCESSING_RULES") {
      return R"([{"type": "exclude_at_match", "name": "no_health", "pattern": "GET /health"}])";
    }
    return std::nullopt;
  };
  r = loadConfig(dir.path(), env);
  ASSERT_TRUE(r.loaded);
  errors.clear();
  const auto from_env = parseGlobalRules(r.loaded->config.logs_config.processing_rules, errors);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(from_env.size(), 1u);
  EXPECT_EQ(from_env[0].name, "no_health");
  EXPECT_EQ(from_env[0].pattern, "GET /health");

  // Not a list: the configuration loader says so.
  dir.write("outpost.yaml", "logs_config:\n  processing_rules: exclude\n");
  r = loadConfig(dir.path(), none);
  EXPECT_FALSE(r.loaded);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].key, "logs_config.processing_rules");
}

TEST(SourceConfigTest, EnumWords) {
  EXPECT_EQ(parseStartPosition("forceBeginning"), StartPosition::kForceBeginning);
  EXPECT_FALSE(parseStartPosition("Beginning").has_value());
  EXPECT_EQ(startPositionName(StartPosition::kForceEnd), "forceEnd");
  EXPECT_EQ(parseEncoding("shift-jis"), TextEncoding::kShiftJis);
  EXPECT_EQ(parseEncoding("utf-16-be"), TextEncoding::kUtf16Be);
  EXPECT_EQ(parseEncoding("utf-8"), TextEncoding::kUtf8);
  EXPECT_FALSE(parseEncoding("ebcdic").has_value());
}

}  // namespace
}  // namespace outpost::logs
