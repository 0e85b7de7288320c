#include "collector/sources/logs/source_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>

#include "core/strings.h"

namespace outpost::logs {
namespace {

// Every key of a `logs:` entry: the types it applies to (empty: all) and whether Outpost reads
// it (others are accepted with a warning).
struct KeyInfo {
  std::string_view name;
  std::vector<std::string_view> types;
  bool supported = true;
};

const std::vector<KeyInfo>& sourceKeys() {
  static const std::vector<KeyInfo> keys = {
      {"type", {}},
      {"path", {"file", "journald"}},
      {"exclude_paths", {"file"}},
      {"encoding", {"file"}},
      {"start_position", {"file", "journald"}},
      {"port", {"tcp", "udp"}},
      {"bind_host", {"tcp", "udp"}},
      {"service", {}},
      {"source", {}},
      {"sourcecategory", {}},
      {"tags", {}},
      {"log_processing_rules", {}},
      {"include_units", {"journald"}},
      {"exclude_units", {"journald"}},
      {"auto_multi_line_detection", {}},
      {"include_matches", {"journald"}, false},
      {"exclude_matches", {"journald"}, false},
      {"container_mode", {"journald"}, false},
      {"fingerprint_config", {"file"}, false},
  };
  return keys;
}

constexpr std::string_view kRuleKeys[] = {"type", "name", "pattern", "replace_placeholder"};

std::string nearest(std::string_view key, const std::vector<std::string_view>& known) {
  std::string best;
  size_t best_d = 3;  // suggest only close names
  for (std::string_view k : known) {
    const size_t d = editDistance(key, k);
    if (d < best_d) {
      best_d = d;
      best = std::string(k);
    }
  }
  return best;
}

std::string unknownKeyText(std::string_view key, const std::vector<std::string_view>& known) {
  const std::string near = nearest(key, known);
  if (near.empty()) {
    return "unknown key, ignored";
  }
  return fmt::format("unknown key, ignored (did you mean '{}'?)", near);
}

std::optional<bool> parseBool(std::string_view s) {
  const std::string w = toLower(trim(s));
  if (w == "true" || w == "yes" || w == "on" || w == "y" || w == "1") {
    return true;
  }
  if (w == "false" || w == "no" || w == "off" || w == "n" || w == "0") {
    return false;
  }
  return std::nullopt;
}

class Reader {
 public:
  Reader(std::string file, std::vector<ConfigMessage>& errors, std::vector<ConfigMessage>* warnings)
      : file_(std::move(file)), errors_(errors), warnings_(warnings) {}

  void error(const YAML::Node& at, const std::string& key, std::string text) {
    errors_.push_back(message(at.Mark(), key, std::move(text)));
    failed_ = true;
  }
  void warning(const YAML::Mark& mark, const std::string& key, std::string text) {
    if (warnings_ != nullptr) {
      warnings_->push_back(message(mark, key, std::move(text)));
    }
  }
  bool failed() const { return failed_; }
  void reset() { failed_ = false; }
  const std::string& file() const { return file_; }

  // A scalar string value; nullopt (and an error) when the node is not a scalar.
  std::optional<std::string> scalar(const YAML::Node& v, const std::string& key) {
    if (!v.IsScalar()) {
      error(v, key, "expected a string");
      return std::nullopt;
    }
    return v.Scalar();
  }

  // A list of non-empty strings; with `comma_string`, also "a, b, c".
  std::vector<std::string> list(const YAML::Node& v, const std::string& key, bool comma_string) {
    std::vector<std::string> out;
    if (v.IsNull()) {
      return out;
    }
    if (v.IsScalar()) {
      if (!comma_string) {
        error(v, key, "expected a list of strings");
        return out;
      }
      for (const std::string& part : split(v.Scalar(), ',')) {
        const std::string_view t = trim(part);
        if (!t.empty()) {
          out.emplace_back(t);
        }
      }
      return out;
    }
    if (!v.IsSequence()) {
      error(v, key,
            comma_string ? "expected a list of strings or a comma-separated string"
                         : "expected a list of strings");
      return out;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      const YAML::Node item = v[i];
      const std::string at = fmt::format("{}[{}]", key, i);
      if (!item.IsScalar()) {
        error(item, at, "expected a string");
        continue;
      }
      const std::string_view t = trim(item.Scalar());
      if (t.empty()) {
        error(item, at, "must not be empty");
        continue;
      }
      out.emplace_back(t);
    }
    return out;
  }

  std::vector<RuleConfig> rules(const YAML::Node& v, const std::string& key) {
    std::vector<RuleConfig> out;
    if (!v || v.IsNull()) {
      return out;
    }
    if (!v.IsSequence()) {
      error(v, key, "expected a list of rules");
      return out;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      if (auto r = rule(v[i], fmt::format("{}[{}]", key, i))) {
        out.push_back(std::move(*r));
      }
    }
    return out;
  }

 private:
  ConfigMessage message(const YAML::Mark& mark, const std::string& key, std::string text) const {
    ConfigMessage m;
    m.file = file_;
    if (!mark.is_null()) {
      m.line = mark.line + 1;
      m.column = mark.column + 1;
    }
    m.key = key;
    m.text = std::move(text);
    return m;
  }

  std::optional<RuleConfig> rule(const YAML::Node& item, const std::string& at) {
    if (!item.IsMap()) {
      error(item, at, "expected a mapping with type, name and pattern");
      return std::nullopt;
    }
    const size_t errors_before = errors_.size();
    RuleConfig rc;
    rc.file = file_;
    rc.line = item.Mark().line + 1;
    const std::vector<std::string_view> known(std::begin(kRuleKeys), std::end(kRuleKeys));
    for (const auto& kv : item) {
      const std::string k = kv.first.Scalar();
      if (std::find(known.begin(), known.end(), k) == known.end()) {
        warning(kv.first.Mark(), fmt::format("{}.{}", at, k), unknownKeyText(k, known));
      }
    }
    auto required = [&](const char* k, std::string& dst) {
      const YAML::Node v = item[k];
      if (!v || v.IsNull()) {
        error(item, fmt::format("{}.{}", at, k), "missing required key");
        return false;
      }
      auto s = scalar(v, fmt::format("{}.{}", at, k));
      if (!s) {
        return false;
      }
      if (s->empty()) {
        error(v, fmt::format("{}.{}", at, k), "must not be empty");
        return false;
      }
      dst = std::move(*s);
      return true;
    };
    const bool type_ok = required("type", rc.type);
    if (type_ok &&
        std::find(std::begin(kRuleTypes), std::end(kRuleTypes), rc.type) == std::end(kRuleTypes)) {
      error(item["type"], at + ".type",
            fmt::format("\"{}\" is not one of: exclude_at_match, include_at_match, "
                        "mask_sequences, multi_line, exclude_truncated",
                        escapeBytes(rc.type, 40)));
    }
    required("name", rc.name);
    if (rc.type != "exclude_truncated" && required("pattern", rc.pattern)) {
      if (auto err = checkRulePattern(rc.pattern)) {
        error(item["pattern"], at + ".pattern",
              fmt::format("rule \"{}\": invalid regex: {}", escapeBytes(rc.name, 80), *err));
      }
    }
    if (rc.type == "mask_sequences") {
      required("replace_placeholder", rc.replace_placeholder);
    } else if (item["replace_placeholder"]) {
      warning(item["replace_placeholder"].Mark(), at + ".replace_placeholder",
              "only used by mask_sequences rules, ignored");
    }
    if (errors_.size() != errors_before) {
      return std::nullopt;
    }
    return rc;
  }

  std::string file_;
  std::vector<ConfigMessage>& errors_;
  std::vector<ConfigMessage>* warnings_;
  bool failed_ = false;
};

std::optional<long> parseInt(const std::string& s) {
  if (s.empty()) {
    return std::nullopt;
  }
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0' || errno != 0) {
    return std::nullopt;
  }
  return v;
}

void parseSource(Reader& r, const ConfdEntry& entry, const LogSourceEntry& src, size_t index,
                 std::vector<LogSourceConfig>& out) {
  const std::string at = fmt::format("logs[{}]", index);
  const YAML::Node& item = src.raw;
  auto key = [&](std::string_view k) { return fmt::format("{}.{}", at, k); };
  r.reset();
  if (!item.IsMap()) {
    r.error(item, at, "expected a mapping with at least 'type'");
    return;
  }
  LogSourceConfig c;
  c.integration = entry.name;
  c.file = entry.file;
  c.line = item.Mark().is_null() ? src.line : item.Mark().line + 1;
  {
    const YAML::Node t = item["type"];
    if (!t || !t.IsScalar()) {
      r.error(item, key("type"), "missing required key (one of: file, tcp, udp, journald)");
      return;
    }
    c.type = t.Scalar();
    if (c.type != "file" && c.type != "tcp" && c.type != "udp" && c.type != "journald") {
      r.error(
          t, key("type"),
          fmt::format("\"{}\" is not one of: file, tcp, udp, journald", escapeBytes(c.type, 40)));
      return;
    }
  }

  std::vector<std::string_view> known;
  for (const KeyInfo& k : sourceKeys()) {
    known.push_back(k.name);
  }
  for (const auto& kv : item) {
    const std::string k = kv.first.Scalar();
    const auto it = std::find_if(sourceKeys().begin(), sourceKeys().end(),
                                 [&](const KeyInfo& info) { return info.name == k; });
    if (it == sourceKeys().end()) {
      r.warning(kv.first.Mark(), key(k), unknownKeyText(k, known));
      continue;
    }
    if (!it->types.empty() &&
        std::find(it->types.begin(), it->types.end(), c.type) == it->types.end()) {
      std::vector<std::string> types(it->types.begin(), it->types.end());
      r.warning(kv.first.Mark(), key(k),
                fmt::format("applies only to type {}, ignored for type {}", join(types, " and "),
                            c.type));
      continue;
    }
    if (!it->supported) {
      r.warning(kv.first.Mark(), key(k), "not supported by Outpost, ignored");
    }
  }

  auto str = [&](const char* k, std::string& dst) {
    const YAML::Node v = item[k];
    if (v && !v.IsNull()) {
      if (auto s = r.scalar(v, key(k))) {
        dst = std::move(*s);
      }
    }
  };
  str("service", c.service);
  str("source", c.source);
  str("sourcecategory", c.sourcecategory);
  if (const YAML::Node v = item["tags"]) {
    c.tags = r.list(v, key("tags"), true);
  }

  if (c.type == "file") {
    const YAML::Node p = item["path"];
    if (!p || p.IsNull()) {
      r.error(item, key("path"), "missing required key for type: file");
    } else if (auto s = r.scalar(p, key("path"))) {
      if (s->empty() || (*s)[0] != '/') {
        r.error(p, key("path"),
                fmt::format("must be an absolute path or glob, got \"{}\"", escapeBytes(*s, 80)));
      }
      c.path = std::move(*s);
    }
    if (const YAML::Node v = item["exclude_paths"]) {
      c.exclude_paths = r.list(v, key("exclude_paths"), false);
      for (size_t i = 0; i < c.exclude_paths.size(); ++i) {
        if (c.exclude_paths[i][0] != '/') {
          r.error(v[i], fmt::format("{}[{}]", key("exclude_paths"), i),
                  "must be an absolute path or glob");
        }
      }
    }
    if (const YAML::Node v = item["encoding"]; v && !v.IsNull()) {
      if (auto s = r.scalar(v, key("encoding"))) {
        if (auto e = parseEncoding(*s)) {
          c.encoding = *e;
        } else {
          r.error(v, key("encoding"),
                  fmt::format("\"{}\" is not one of: utf-16-le, utf-16-be, shift-jis",
                              escapeBytes(*s, 40)));
        }
      }
    }
  }
  if (c.type == "journald") {
    str("path", c.path);
    if (const YAML::Node v = item["include_units"]) {
      c.include_units = r.list(v, key("include_units"), false);
    }
    if (const YAML::Node v = item["exclude_units"]) {
      c.exclude_units = r.list(v, key("exclude_units"), false);
    }
  }
  if (c.type == "file" || c.type == "journald") {
    if (const YAML::Node v = item["start_position"]; v && !v.IsNull()) {
      if (auto s = r.scalar(v, key("start_position"))) {
        if (auto sp = parseStartPosition(*s)) {
          c.start_position = *sp;
        } else {
          r.error(v, key("start_position"),
                  fmt::format("\"{}\" is not one of: beginning, end, forceBeginning, forceEnd",
                              escapeBytes(*s, 40)));
        }
      }
    }
  }
  if (c.type == "tcp" || c.type == "udp") {
    const YAML::Node p = item["port"];
    if (!p || p.IsNull()) {
      r.error(item, key("port"), fmt::format("missing required key for type: {}", c.type));
    } else {
      const auto v = p.IsScalar() ? parseInt(p.Scalar()) : std::nullopt;
      if (!v || *v < 1 || *v > 65535) {
        r.error(p, key("port"), "must be 1-65535");
      } else {
        c.port = static_cast<int>(*v);
      }
    }
    if (const YAML::Node v = item["bind_host"]; v && !v.IsNull()) {
      if (auto s = r.scalar(v, key("bind_host"))) {
        if (s->empty()) {
          r.error(v, key("bind_host"), "must not be empty");
        }
        c.bind_host = std::move(*s);
      }
    }
  }
  if (const YAML::Node v = item["auto_multi_line_detection"]; v && !v.IsNull()) {
    const auto b = v.IsScalar() ? parseBool(v.Scalar()) : std::nullopt;
    if (!b) {
      r.error(v, key("auto_multi_line_detection"), "expected true or false");
    } else {
      c.auto_multi_line_detection = *b;
    }
  }
  c.rules = r.rules(item["log_processing_rules"], key("log_processing_rules"));
  if (!r.failed()) {
    out.push_back(std::move(c));
  }
}

}  // namespace

std::string_view startPositionName(StartPosition p) {
  switch (p) {
    case StartPosition::kBeginning:
      return "beginning";
    case StartPosition::kEnd:
      return "end";
    case StartPosition::kForceBeginning:
      return "forceBeginning";
    case StartPosition::kForceEnd:
      return "forceEnd";
  }
  return "end";
}

std::optional<StartPosition> parseStartPosition(std::string_view s) {
  for (StartPosition p : {StartPosition::kBeginning, StartPosition::kEnd,
                          StartPosition::kForceBeginning, StartPosition::kForceEnd}) {
    if (s == startPositionName(p)) {
      return p;
    }
  }
  return std::nullopt;
}

std::optional<TextEncoding> parseEncoding(std::string_view s) {
  const std::string e = toLower(trim(s));
  if (e == "utf-16-le" || e == "utf16-le" || e == "utf-16le") {
    return TextEncoding::kUtf16Le;
  }
  if (e == "utf-16-be" || e == "utf16-be" || e == "utf-16be") {
    return TextEncoding::kUtf16Be;
  }
  if (e == "shift-jis" || e == "shift_jis" || e == "sjis") {
    return TextEncoding::kShiftJis;
  }
  if (e == "utf-8" || e == "utf8" || e.empty()) {
    return TextEncoding::kUtf8;
  }
  return std::nullopt;
}

std::vector<LogSourceConfig> parseLogSources(const std::vector<ConfdEntry>& confd,
                                             std::vector<ConfigMessage>& errors,
                                             std::vector<ConfigMessage>& warnings) {
  std::vector<LogSourceConfig> out;
  // tcp/udp ports in use: "<port>/<type>" → where.
  std::map<std::string, std::string> ports;
  for (const ConfdEntry& entry : confd) {
    Reader r(entry.file, errors, &warnings);
    for (size_t i = 0; i < entry.logs.size(); ++i) {
      const size_t before = out.size();
      parseSource(r, entry, entry.logs[i], i, out);
      if (out.size() == before || out.back().port == 0) {
        continue;
      }
      const LogSourceConfig& c = out.back();
      const std::string id = fmt::format("{}/{}", c.port, c.type);
      const std::string where = fmt::format("{}:{}", c.file, c.line);
      if (auto [it, fresh] = ports.emplace(id, where); !fresh) {
        r.error(entry.logs[i].raw["port"], fmt::format("logs[{}].port", i),
                fmt::format("port {} is already used by the source at {}", id, it->second));
        out.pop_back();
      }
    }
  }
  return out;
}

std::vector<RuleConfig> parseGlobalRules(const YAML::Node& node, const std::string& file,
                                         std::vector<ConfigMessage>& errors) {
  Reader r(file, errors, nullptr);
  return r.rules(node, "logs_config.processing_rules");
}

std::vector<RuleConfig> parseGlobalRules(const YamlValue& value,
                                         std::vector<ConfigMessage>& errors) {
  if (!value.node || value.node.IsNull()) {
    return {};
  }
  return parseGlobalRules(value.node, value.file.empty() ? value.env : value.file, errors);
}

}  // namespace outpost::logs
