#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/sources/logs/line_decoder.h"
#include "collector/sources/logs/processing_rules.h"
#include "core/config.h"

// Log sources from conf.d (`logs:` lists, wire-formats.md §3.6), parsed and validated into typed
// values before anything is built from them.
namespace outpost::logs {

enum class StartPosition { kBeginning, kEnd, kForceBeginning, kForceEnd };

// "beginning", "end", "forceBeginning", "forceEnd" (the registry's TailingMode words).
std::string_view startPositionName(StartPosition p);
std::optional<StartPosition> parseStartPosition(std::string_view s);
// "utf-16-le", "utf-16-be", "shift-jis" (and "utf-8"); case-insensitive.
std::optional<TextEncoding> parseEncoding(std::string_view s);

struct LogSourceConfig {
  std::string integration;  // conf.d name
  std::string file;         // where it was configured
  int line = 0;
  std::string type;  // file | tcp | udp | journald
  // file: absolute path or glob; journald: optional journal directory or file (for tests and
  // non-default journals).
  std::string path;
  std::vector<std::string> exclude_paths;  // file: absolute globs
  std::string service;
  std::string source;
  std::string sourcecategory;
  std::vector<std::string> tags;  // a list or a comma-separated string in YAML
  StartPosition start_position = StartPosition::kEnd;
  TextEncoding encoding = TextEncoding::kUtf8;
  int port = 0;  // tcp, udp
  std::string bind_host = "127.0.0.1";
  std::vector<std::string> include_units;  // journald
  std::vector<std::string> exclude_units;
  std::optional<bool> auto_multi_line_detection;  // unset: the global setting
  std::vector<RuleConfig> rules;                  // log_processing_rules, in order
};

// Parses and validates every `logs:` entry of every conf.d file. Each problem becomes a
// ConfigMessage naming the file, line and key, e.g.
//   key "logs[0].log_processing_rules[1].pattern", text "invalid regex: <RE2 error>"
//   key "logs[2].port", text "must be 1-65535"
// Unknown keys are warnings (with the nearest known key). An entry with an error is left out of
// the result. Patterns are compiled here once to validate them.
std::vector<LogSourceConfig> parseLogSources(const std::vector<ConfdEntry>& confd,
                                             std::vector<ConfigMessage>& errors,
                                             std::vector<ConfigMessage>& warnings);

// Global rules from outpost.yaml's logs_config.processing_rules (a YAML list), validated the
// same way; keys are named "logs_config.processing_rules[i].<key>". A null node: no rules.
std::vector<RuleConfig> parseGlobalRules(const YAML::Node& node, const std::string& file,
                                         std::vector<ConfigMessage>& errors);
// The same from the loaded configuration's logs_config.processing_rules (unset: no rules).
std::vector<RuleConfig> parseGlobalRules(const YamlValue& value,
                                         std::vector<ConfigMessage>& errors);

}  // namespace outpost::logs
