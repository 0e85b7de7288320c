#include "core/confd.h"

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/strings.h"

namespace outpost {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kLogTypes[] = {"file", "tcp", "udp", "journald"};

class ConfdReader {
 public:
  ConfdReader(std::vector<ConfigMessage>& errors, std::vector<ConfigMessage>& warnings)
      : errors_(errors), warnings_(warnings) {}

  void error(const std::string& file, const YAML::Mark& mark, std::string key, std::string text) {
    errors_.push_back(message(file, mark, std::move(key), std::move(text)));
  }
  void warning(const std::string& file, const YAML::Mark& mark, std::string key, std::string text) {
    warnings_.push_back(message(file, mark, std::move(key), std::move(text)));
  }

  std::optional<ConfdEntry> read(const std::string& name, const std::string& file) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(file);
    } catch (const YAML::BadFile&) {
      error(file, YAML::Mark::null_mark(), "",
            fmt::format("cannot read: {}", std::strerror(errno)));
      return std::nullopt;
    } catch (const YAML::Exception& e) {
      error(file, e.mark, "", "YAML syntax error: " + e.msg);
      return std::nullopt;
    }
    if (root.IsNull()) {
      warning(file, YAML::Mark::null_mark(), "", "empty file, ignored");
      return std::nullopt;
    }
    if (!root.IsMap()) {
      error(file, root.Mark(), "",
            "expected a mapping with instances and/or logs at the top level");
      return std::nullopt;
    }
    ConfdEntry entry;
    entry.name = name;
    entry.file = file;
    const size_t errors_before = errors_.size();
    for (const auto& kv : root) {
      const std::string key = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (key == "init_config") {
        if (!v.IsNull() && !v.IsMap()) {
          error(file, v.Mark(), key, "expected a mapping");
        }
        entry.init_config = v;
      } else if (key == "instances") {
        readInstances(file, v, entry);
      } else if (key == "logs") {
        readLogs(file, v, entry);
      } else {
        std::string text = "unknown key, ignored";
        for (const char* known : {"init_config", "instances", "logs"}) {
          if (editDistance(key, known) <= 2) {
            text = fmt::format("unknown key, ignored (did you mean '{}'?)", known);
          }
        }
        warning(file, kv.first.Mark(), key, text);
      }
    }
    if (!root["instances"] && !root["logs"]) {
      error(file, root.Mark(), "instances",
            "missing required key: a configuration needs 'instances' (a check) or 'logs' (log "
            "sources)");
    }
    if (errors_.size() != errors_before) {
      return std::nullopt;
    }
    return entry;
  }

 private:
  static ConfigMessage message(const std::string& file, const YAML::Mark& mark, std::string key,
                               std::string text) {
    ConfigMessage m;
    m.file = file;
    if (!mark.is_null()) {
      m.line = mark.line + 1;
      m.column = mark.column + 1;
    }
    m.key = std::move(key);
    m.text = std::move(text);
    return m;
  }

  void readInstances(const std::string& file, const YAML::Node& v, ConfdEntry& entry) {
    if (v.IsNull()) {
      return;
    }
    if (!v.IsSequence()) {
      error(file, v.Mark(), "instances", "expected a list of instances");
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const YAML::Node item = v[i];
      if (item.IsNull()) {
        entry.instances.emplace_back(YAML::NodeType::Map);  // `- {}` written as `-`
      } else if (!item.IsMap()) {
        error(file, item.Mark(), fmt::format("instances[{}]", i), "expected a mapping");
      } else {
        entry.instances.push_back(item);
      }
    }
  }

  void readLogs(const std::string& file, const YAML::Node& v, ConfdEntry& entry) {
    if (v.IsNull()) {
      return;
    }
    if (!v.IsSequence()) {
      error(file, v.Mark(), "logs", "expected a list of log sources");
      return;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const YAML::Node item = v[i];
      const std::string at = fmt::format("logs[{}]", i);
      if (!item.IsMap()) {
        error(file, item.Mark(), at, "expected a mapping with at least 'type'");
        continue;
      }
      const YAML::Node type = item["type"];
      if (!type || type.IsNull()) {
        error(file, item.Mark(), at + ".type",
              "missing required key (one of: file, tcp, udp, journald)");
        continue;
      }
      const std::string t = type.IsScalar() ? type.Scalar() : std::string();
      if (std::find(std::begin(kLogTypes), std::end(kLogTypes), t) == std::end(kLogTypes)) {
        error(file, type.Mark(), at + ".type",
              fmt::format("\"{}\" is not one of: file, tcp, udp, journald", escapeBytes(t, 40)));
        continue;
      }
      bool ok = true;
      if (t == "file") {
        const YAML::Node p = item["path"];
        if (!p || p.IsNull()) {
          error(file, item.Mark(), at + ".path", "missing required key for type: file");
          ok = false;
        } else if (!p.IsScalar() || p.Scalar().empty()) {
          error(file, p.Mark(), at + ".path", "expected a non-empty path or glob");
          ok = false;
        }
      } else if (t == "tcp" || t == "udp") {
        const YAML::Node p = item["port"];
        if (!p || p.IsNull()) {
          error(file, item.Mark(), at + ".port",
                fmt::format("missing required key for type: {}", t));
          ok = false;
        } else {
          long port = -1;
          if (p.IsScalar()) {
            char* end = nullptr;
            port = std::strtol(p.Scalar().c_str(), &end, 10);
            if (end == p.Scalar().c_str() || *end != '\0') {
              port = -1;
            }
          }
          if (port < 1 || port > 65535) {
            error(file, p.Mark(), at + ".port", "expected a port between 1 and 65535");
            ok = false;
          }
        }
      }
      for (const char* key : {"service", "source", "sourcecategory"}) {
        const YAML::Node s = item[key];
        if (s && !s.IsNull() && !s.IsScalar()) {
          error(file, s.Mark(), at + "." + key, "expected a string");
          ok = false;
        }
      }
      if (ok) {
        entry.logs.push_back(LogSourceEntry{t, item, item.Mark().line + 1});
      }
    }
  }

  std::vector<ConfigMessage>& errors_;
  std::vector<ConfigMessage>& warnings_;
};

bool isYaml(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

}  // namespace

void loadConfd(const std::string& dir, bool missing_ok, std::vector<ConfdEntry>& entries,
               std::vector<ConfigMessage>& errors, std::vector<ConfigMessage>& warnings) {
  ConfdReader reader(errors, warnings);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    if (!missing_ok) {
      reader.warning(dir, YAML::Mark::null_mark(), "confd_path",
                     "not a directory: no checks or log sources are configured");
    }
    return;
  }
  // (name, file) pairs in a stable order.
  std::vector<std::pair<std::string, std::string>> files;
  std::vector<fs::directory_entry> top;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    top.push_back(e);
  }
  std::sort(top.begin(), top.end());
  for (const auto& e : top) {
    const fs::path p = e.path();
    const std::string fname = p.filename().string();
    if (e.is_directory(ec) && fname.size() > 2 && fname.ends_with(".d")) {
      const std::string name = fname.substr(0, fname.size() - 2);
      std::vector<fs::path> yamls;
      fs::path fallback;
      for (const auto& f : fs::directory_iterator(p, ec)) {
        if (!f.is_regular_file(ec)) {
          continue;
        }
        if (isYaml(f.path())) {
          yamls.push_back(f.path());
        } else if (f.path().filename() == "conf.yaml.default") {
          fallback = f.path();
        }
      }
      std::sort(yamls.begin(), yamls.end());
      if (yamls.empty() && !fallback.empty()) {
        yamls.push_back(fallback);
      }
      for (const auto& y : yamls) {
        files.emplace_back(name, y.string());
      }
    } else if (e.is_regular_file(ec) && isYaml(p)) {
      files.emplace_back(p.stem().string(), p.string());
    }
  }
  for (const auto& [name, file] : files) {
    if (auto entry = reader.read(name, file)) {
      entries.push_back(std::move(*entry));
    }
  }
}

}  // namespace outpost
