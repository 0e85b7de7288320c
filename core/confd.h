#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace outpost {

// Reads every check and log-source configuration under `dir`, as the Datadog Agent lays them
// out: `<dir>/<name>.d/*.yaml` (or `conf.yaml.default` when the folder has no other YAML) and
// `<dir>/<name>.yaml`. Checks the shape (init_config, instances, logs and each log source's
// required keys); what a check's instance means is left to that check. `missing_ok`: a missing
// directory is not worth a warning (the default location).
void loadConfd(const std::string& dir, bool missing_ok, std::vector<ConfdEntry>& entries,
               std::vector<ConfigMessage>& errors, std::vector<ConfigMessage>& warnings);

}  // namespace outpost
