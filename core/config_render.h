#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace outpost {

// `outpost configcheck`: the resolved configuration as YAML (secrets redacted), each value with
// where it came from, then every conf.d entry.
std::string renderConfigcheck(const LoadedConfig& loaded);

// Keys whose values differ between two configurations (for reload logs).
std::vector<std::string> changedKeys(const Config& before, const Config& after);

// docs/configuration.md and conf.d/outpost.yaml.example, both generated from the schema.
std::string renderConfigReference();
std::string renderExampleConfig();

}  // namespace outpost
