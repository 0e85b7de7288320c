#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/config.h"

namespace outpost {

// A typed pointer to the Config field a key fills.
using FieldRef = std::variant<bool*, int64_t*, double*, std::string*, StringList*, StringListMap*,
                              LogsEndpointList*, YamlValue*>;
// A value of one of those types (defaults).
using ConfigValue = std::variant<bool, int64_t, double, std::string, StringList, StringListMap,
                                 LogsEndpointList, YamlValue>;

// One configuration key: the single place that says its name, type (the default's type),
// default, description, bounds, secrecy and environment variables.
struct KeyDef {
  std::string_view key;  // dotted path, e.g. "logs_config.open_files_limit"
  ConfigValue default_value;
  std::string_view description;
  FieldRef (*field)(Config&);
  std::vector<std::string_view> choices = {};  // non-empty: a string enum (case-insensitive)
  double min = std::numeric_limits<double>::lowest();
  double max = std::numeric_limits<double>::max();
  bool secret = false;                             // never printed; redacted in configcheck
  std::vector<std::string_view> env_aliases = {};  // besides DD_<KEY>
  // Empty when Outpost uses the key today; otherwise what will use it. Such keys are parsed
  // and validated so an existing datadog.yaml loads, and docs say they have no effect yet.
  std::string_view pending = {};

  // DD_<KEY>: dots become underscores, upper-cased. Then the aliases.
  std::vector<std::string> envNames() const;
  std::string typeName() const;  // "boolean", "integer", "number", "string", "list", "map", "enum"
};

const std::vector<KeyDef>& configSchema();
const KeyDef* findKey(std::string_view key);
// True when `prefix` names a section (e.g. "logs_config") rather than a key.
bool isSection(std::string_view prefix);

// A Config with every schema default applied.
Config defaultConfig();

// Value of a key as YAML text (for configcheck, docs and reload diffs). Secrets redacted.
std::string renderValue(const KeyDef& def, const Config& config);
std::string renderDefault(const KeyDef& def);

}  // namespace outpost
