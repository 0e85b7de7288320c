#include "core/config_render.h"

#include <fmt/format.h>

#include <map>

#include "core/config_schema.h"
#include "core/redact.h"
#include "core/strings.h"

namespace outpost {
namespace {

// The sections of `key` (every component but the leaf).
std::vector<std::string> sectionsOf(std::string_view key) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.', start)) {
    out.emplace_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

// Opens the sections of `key` that `open` does not have yet, calling emit(depth, name) for
// each; `open` becomes the key's sections. Returns the leaf's depth.
template <typename Emit>
size_t openSections(std::string_view key, std::vector<std::string>& open, Emit emit) {
  const std::vector<std::string> want = sectionsOf(key);
  size_t common = 0;
  while (common < want.size() && common < open.size() && want[common] == open[common]) {
    ++common;
  }
  for (size_t d = common; d < want.size(); ++d) {
    emit(d, want[d]);
  }
  open = want;
  return want.size();
}

std::string leafOf(std::string_view key) {
  const size_t dot = key.rfind('.');
  return std::string(dot == std::string_view::npos ? key : key.substr(dot + 1));
}

std::string emitNode(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return out.c_str();
}

}  // namespace

std::string renderConfigcheck(const LoadedConfig& loaded) {
  const Config& c = loaded.config;
  std::string out;
  out += "# Outpost configuration, resolved (file, then DD_* environment). Secrets redacted.\n";
  out += fmt::format("# configuration file: {}\n", loaded.config_file.empty()
                                                       ? "(none; defaults and environment only)"
                                                       : loaded.config_file);
  out += fmt::format("# forwarding: {}\n",
                     c.localMode() ? "off (local mode: no api_key)" : "on (api_key is set)");
  std::vector<std::string> open;
  for (const auto& def : configSchema()) {
    const size_t depth = openSections(def.key, open, [&](size_t d, const std::string& name) {
      out += std::string(2 * d, ' ') + name + ":\n";
    });
    const std::string indent(2 * depth, ' ');
    const auto& origin = loaded.origins.at(std::string(def.key));
    out += fmt::format("{}{}: {}  # {}\n", indent, leafOf(def.key), renderValue(def, c),
                       origin.describe());
  }
  out += fmt::format("\n# conf.d: {} ({} file{})\n", c.confd_path, loaded.confd.size(),
                     loaded.confd.size() == 1 ? "" : "s");
  for (const auto& entry : loaded.confd) {
    out += fmt::format("---\n# {} ({}): {} instance{}, {} log source{}\n", entry.name, entry.file,
                       entry.instances.size(), entry.instances.size() == 1 ? "" : "s",
                       entry.logs.size(), entry.logs.size() == 1 ? "" : "s");
    YAML::Node doc(YAML::NodeType::Map);
    if (entry.init_config && !entry.init_config.IsNull()) {
      doc["init_config"] = redactNode(entry.init_config);
    }
    if (!entry.instances.empty()) {
      YAML::Node list(YAML::NodeType::Sequence);
      for (const auto& i : entry.instances) {
        list.push_back(redactNode(i));
      }
      doc["instances"] = list;
    }
    if (!entry.logs.empty()) {
      YAML::Node list(YAML::NodeType::Sequence);
      for (const auto& l : entry.logs) {
        list.push_back(redactNode(l.raw));
      }
      doc["logs"] = list;
    }
    out += emitNode(doc) + "\n";
  }
  return out;
}

std::vector<std::string> changedKeys(const Config& before, const Config& after) {
  std::vector<std::string> out;
  for (const auto& def : configSchema()) {
    FieldRef a = def.field(const_cast<Config&>(before));
    FieldRef b = def.field(const_cast<Config&>(after));
    const bool same = std::visit(
        [&](auto* pa) {
          using P = decltype(pa);
          return *pa == *std::get<P>(b);
        },
        a);
    if (!same) {
      out.emplace_back(def.key);
    }
  }
  return out;
}

std::string renderConfigReference() {
  std::string out;
  out += "# Configuration reference\n\n";
  out +=
      "<!-- Generated from core/config_schema.cpp by `./dev docs`; a test fails when this "
      "file is stale. -->\n\n";
  out +=
      "Outpost reads `outpost.yaml` (from `outpost run -c PATH`, default `/etc/outpost`), "
      "then lets `DD_*` environment variables override it, as the Datadog Agent does: the "
      "key's path joined with `_` and upper-cased (`logs_config.logs_dd_url` is "
      "`DD_LOGS_CONFIG_LOGS_DD_URL`). Lists from the environment are space-separated or "
      "JSON; maps are JSON. Unknown keys are warnings; a wrong type, a value out of range or "
      "an unknown enum value is an error naming the file, line, column and key, and the agent "
      "does not start.\n\n";
  out +=
      "Keys marked *not used yet* are parsed and validated (so an existing `datadog.yaml` "
      "loads) but have no effect until the named part is built.\n\n";
  out += "| key | type | default | environment | description |\n";
  out += "|---|---|---|---|---|\n";
  for (const auto& def : configSchema()) {
    std::string type = def.typeName();
    if (!def.choices.empty()) {
      std::vector<std::string> c(def.choices.begin(), def.choices.end());
      type = "one of " + join(c, ", ");
    }
    if (def.min != std::numeric_limits<double>::lowest()) {
      if (def.max != std::numeric_limits<double>::max()) {
        type += fmt::format(" ({} to {})", def.min, def.max);
      } else {
        type += fmt::format(" (≥ {})", def.min);
      }
    }
    std::string desc(def.description);
    if (def.secret) {
      desc += " Secret: redacted everywhere.";
    }
    if (!def.pending.empty()) {
      desc += fmt::format(" *Not used yet: for {}.*", def.pending);
    }
    std::vector<std::string> envs;
    for (const auto& e : def.envNames()) {
      envs.push_back("`" + e + "`");
    }
    out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", def.key, type, renderDefault(def),
                       join(envs, ", "), desc);
  }
  out += "\n## conf.d\n\n";
  out +=
      "Checks and log sources live in `conf.d/<name>.d/*.yaml` (or `conf.yaml.default` when "
      "the folder has no other YAML file) and `conf.d/<name>.yaml`, with the Datadog Agent's "
      "keys: `init_config`, `instances` (a list of mappings) and `logs` (a list of sources, "
      "each with `type`: `file` needs `path`, `tcp`/`udp` need `port`, `journald`). A file "
      "needs `instances` or `logs`.\n";
  return out;
}

std::string renderExampleConfig() {
  std::string out;
  out += "# Outpost configuration: every key, commented out at its default.\n";
  out +=
      "# Generated from core/config_schema.cpp by `./dev docs`. Reference: "
      "docs/configuration.md\n";
  out += "# Key names are the Datadog Agent's; DD_* environment variables override them.\n";
  std::vector<std::string> open;
  for (const auto& def : configSchema()) {
    const size_t depth = openSections(def.key, open, [&](size_t d, const std::string& name) {
      out += fmt::format("{}#{} {}:\n", d == 0 ? "\n" : "", std::string(2 * d, ' '), name);
    });
    const std::string indent(2 * depth, ' ');
    std::string desc(def.description);
    if (!def.pending.empty()) {
      desc += fmt::format(" (Not used yet: for {}.)", def.pending);
    }
    out += fmt::format("\n#{} {}\n#{} {}: {}\n", indent, desc, indent, leafOf(def.key),
                       renderDefault(def));
  }
  return out;
}

}  // namespace outpost
