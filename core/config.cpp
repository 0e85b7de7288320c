#include "core/config.h"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/confd.h"
#include "core/config_schema.h"
#include "core/redact.h"
#include "core/strings.h"

namespace outpost {
namespace fs = std::filesystem;

std::optional<std::string> processEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) {
    return std::nullopt;
  }
  return std::string(v);
}

std::string ConfigOrigin::describe() const {
  switch (kind) {
    case Kind::kDefault:
      return "default";
    case Kind::kFile:
      return fmt::format("{}:{}", file, line);
    case Kind::kEnv:
      return "env " + env;
    case Kind::kDerived:
      return note;
  }
  return "";
}

std::string ConfigMessage::format() const {
  std::string where;
  if (!env.empty()) {
    where = "environment variable " + env;
  } else if (!file.empty() && line > 0) {
    where = fmt::format("{}:{}:{}", file, line, column);
  } else {
    where = file;
  }
  std::string out = where;
  if (!key.empty()) {
    out += (out.empty() ? "" : ": ") + key;
  }
  out += (out.empty() ? "" : ": ") + text;
  return out;
}

namespace {

// Words the Datadog Agent accepts for booleans (YAML 1.1 and Go's strconv.ParseBool).
std::optional<bool> parseBoolWord(std::string_view s) {
  const std::string w = toLower(trim(s));
  if (w == "true" || w == "yes" || w == "on" || w == "y" || w == "1" || w == "t") {
    return true;
  }
  if (w == "false" || w == "no" || w == "off" || w == "n" || w == "0" || w == "f") {
    return false;
  }
  return std::nullopt;
}

std::optional<int64_t> parseInt(std::string_view s) {
  const std::string t(trim(s));
  if (t.empty()) {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (errno != 0 || end != t.c_str() + t.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<double> parseDouble(std::string_view s) {
  const std::string t(trim(s));
  if (t.empty()) {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (errno != 0 || end != t.c_str() + t.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

std::string nodeKindName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

// Where a value is, for messages: a file position or an environment variable.
struct Where {
  std::string file;
  YAML::Mark mark;
  std::string env;
};

class Loader {
 public:
  Loader(ConfigResult& result, LoadedConfig& loaded) : result_(result), loaded_(loaded) {}

  void error(const Where& w, std::string key, std::string text) {
    result_.errors.push_back(message(w, std::move(key), std::move(text)));
  }
  void warning(const Where& w, std::string key, std::string text) {
    result_.warnings.push_back(message(w, std::move(key), std::move(text)));
  }

  // Walks a mapping of outpost.yaml under `prefix` ("" at the top).
  void walkMap(const std::string& file, const YAML::Node& map, const std::string& prefix) {
    for (const auto& kv : map) {
      const YAML::Node& k = kv.first;
      const YAML::Node& v = kv.second;
      const std::string name = k.IsScalar() ? k.Scalar() : std::string();
      const std::string full = prefix.empty() ? name : prefix + "." + name;
      const Where at_key{file, k.Mark(), {}};
      if (name.empty()) {
        error(at_key, prefix, "keys must be non-empty strings");
        continue;
      }
      if (const KeyDef* def = findKey(full)) {
        const Where at_value{file, v.IsNull() ? k.Mark() : v.Mark(), {}};
        if (v.IsNull()) {
          continue;  // `key:` with no value keeps the default
        }
        if (setFromNode(*def, v, at_value)) {
          ConfigOrigin o;
          o.kind = ConfigOrigin::Kind::kFile;
          o.file = file;
          o.line = at_value.mark.line + 1;
          o.column = at_value.mark.column + 1;
          loaded_.origins[full] = o;
        }
      } else if (isSection(full)) {
        if (v.IsMap()) {
          walkMap(file, v, full);
        } else if (!v.IsNull()) {
          error(Where{file, v.Mark(), {}}, full,
                fmt::format("expected a mapping of {}.* keys, got {}", full, nodeKindName(v)));
        }
      } else {
        warning(at_key, full, unknownKeyText(full));
      }
    }
  }

  void applyEnv(const EnvLookup& env) {
    for (const auto& def : configSchema()) {
      const auto names = def.envNames();
      // The first name wins when several are set: walk them backwards.
      for (auto it = names.rbegin(); it != names.rend(); ++it) {
        auto value = env(*it);
        if (!value) {
          continue;
        }
        if (setFromString(def, *value, Where{{}, {}, *it})) {
          ConfigOrigin o;
          o.kind = ConfigOrigin::Kind::kEnv;
          o.env = *it;
          loaded_.origins[std::string(def.key)] = o;
        }
      }
    }
  }

  Where whereOf(std::string_view key) const {
    auto it = loaded_.origins.find(std::string(key));
    if (it == loaded_.origins.end()) {
      return {};
    }
    const ConfigOrigin& o = it->second;
    if (o.kind == ConfigOrigin::Kind::kEnv) {
      return Where{{}, {}, o.env};
    }
    if (o.kind == ConfigOrigin::Kind::kFile) {
      YAML::Mark m;
      m.line = o.line - 1;
      m.column = o.column - 1;
      return Where{o.file, m, {}};
    }
    return Where{"(default)", {}, {}};
  }

 private:
  ConfigMessage message(const Where& w, std::string key, std::string text) {
    ConfigMessage m;
    m.key = std::move(key);
    m.text = std::move(text);
    if (!w.env.empty()) {
      m.env = w.env;
    } else {
      m.file = w.file;
      if (!w.mark.is_null() && !w.file.empty() && w.file != "(default)") {
        m.line = w.mark.line + 1;
        m.column = w.mark.column + 1;
      }
    }
    return m;
  }

  static std::string unknownKeyText(const std::string& full) {
    const std::string last = full.substr(full.rfind('.') + 1);
    std::string best;
    size_t best_distance = SIZE_MAX;
    for (const auto& def : configSchema()) {
      const std::string_view key = def.key;
      const std::string_view key_last = key.substr(key.rfind('.') + 1);
      const size_t d = std::min(editDistance(full, key), editDistance(last, key_last));
      if (d < best_distance) {
        best_distance = d;
        best = std::string(key);
      }
    }
    const size_t allowed = std::max<size_t>(2, last.size() / 3);
    if (!best.empty() && best_distance <= allowed && best != full) {
      return fmt::format("unknown key, ignored (did you mean '{}'?)", best);
    }
    return "unknown key, ignored";
  }

  std::string shown(const KeyDef& def, std::string_view raw) const {
    if (def.secret) {
      return std::string(kRedacted);
    }
    return "\"" + escapeBytes(raw, 80) + "\"";
  }

  bool checkRange(const KeyDef& def, double v, std::string_view raw, const Where& w) {
    if (v < def.min || v > def.max) {
      std::string range;
      auto num = [](double d) {
        return d == std::floor(d) ? fmt::format("{}", static_cast<int64_t>(d))
                                  : fmt::format("{}", d);
      };
      if (def.max == std::numeric_limits<double>::max()) {
        range = "at least " + num(def.min);
      } else {
        range = "between " + num(def.min) + " and " + num(def.max);
      }
      error(w, std::string(def.key), fmt::format("must be {}, got {}", range, shown(def, raw)));
      return false;
    }
    return true;
  }

  // Parses one scalar string into the key's field. Used for YAML scalars and env values.
  bool setScalar(const KeyDef& def, const std::string& raw, const Where& w) {
    FieldRef ref = def.field(loaded_.config);
    const std::string key(def.key);
    if (auto* b = std::get_if<bool*>(&ref)) {
      auto v = parseBoolWord(raw);
      if (!v) {
        error(w, key, fmt::format("expected a boolean (true or false), got {}", shown(def, raw)));
        return false;
      }
      **b = *v;
      return true;
    }
    if (auto* i = std::get_if<int64_t*>(&ref)) {
      auto v = parseInt(raw);
      if (!v) {
        error(w, key, fmt::format("expected an integer, got {}", shown(def, raw)));
        return false;
      }
      if (!checkRange(def, static_cast<double>(*v), raw, w)) {
        return false;
      }
      **i = *v;
      return true;
    }
    if (auto* d = std::get_if<double*>(&ref)) {
      auto v = parseDouble(raw);
      if (!v) {
        error(w, key, fmt::format("expected a number, got {}", shown(def, raw)));
        return false;
      }
      if (!checkRange(def, *v, raw, w)) {
        return false;
      }
      **d = *v;
      return true;
    }
    if (auto* s = std::get_if<std::string*>(&ref)) {
      if (!def.choices.empty()) {
        const std::string lower = toLower(trim(raw));
        for (auto c : def.choices) {
          if (lower == c || (lower == "warning" && c == "warn")) {
            **s = std::string(c);
            return true;
          }
        }
        std::vector<std::string> names(def.choices.begin(), def.choices.end());
        error(w, key, fmt::format("{} is not one of: {}", shown(def, raw), join(names, ", ")));
        return false;
      }
      **s = def.secret ? std::string(trim(raw)) : raw;
      return true;
    }
    if (auto* l = std::get_if<StringList*>(&ref)) {
      **l = splitFields(raw);
      return true;
    }
    error(w, key, fmt::format("expected a mapping, got {}", shown(def, raw)));
    return false;
  }

  bool readStringList(const KeyDef& def, const YAML::Node& node, const std::string& file,
                      StringList& out) {
    out.clear();
    if (node.IsScalar()) {
      out = splitFields(node.Scalar());
      return true;
    }
    if (!node.IsSequence()) {
      error(Where{file, node.Mark(), {}}, std::string(def.key),
            fmt::format("expected a list of strings, got {}", nodeKindName(node)));
      return false;
    }
    bool ok = true;
    for (const auto& item : node) {
      if (item.IsScalar()) {
        out.push_back(item.Scalar());
        continue;
      }
      std::string text = fmt::format("expected a string in the list, got {}", nodeKindName(item));
      if (item.IsMap() && item.size() == 1) {
        const auto kv = *item.begin();
        if (kv.first.IsScalar() && kv.second.IsScalar()) {
          text += fmt::format(" (to write the tag {}:{}, leave no space after the colon)",
                              kv.first.Scalar(), kv.second.Scalar());
        }
      }
      error(Where{file, item.Mark(), {}}, std::string(def.key), text);
      ok = false;
    }
    return ok;
  }

  // [{api_key, Host, Port, is_reliable, use_ssl}], key names as the Datadog Agent writes them
  // (lower-case host/port accepted too).
  bool readLogsEndpoints(const KeyDef& def, const YAML::Node& node, const Where& w,
                         LogsEndpointList& out) {
    out.clear();
    if (!node.IsSequence()) {
      error(w, std::string(def.key),
            fmt::format("expected a list of {{api_key, Host, Port}} entries, got {}",
                        nodeKindName(node)));
      return false;
    }
    bool ok = true;
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node item = node[i];
      const std::string at = fmt::format("{}[{}]", def.key, i);
      const Where item_where{w.file, item.Mark(), w.env};
      if (!item.IsMap()) {
        error(item_where, at, "expected a mapping with api_key, Host and Port");
        ok = false;
        continue;
      }
      LogsEndpoint e;
      for (const auto& kv : item) {
        const std::string k = kv.first.Scalar();
        const std::string lower = toLower(k);
        const YAML::Node& v = kv.second;
        const Where vw{w.file, v.Mark(), w.env};
        if (!v.IsScalar()) {
          error(vw, at + "." + k, "expected a scalar");
          ok = false;
          continue;
        }
        if (lower == "api_key") {
          e.api_key = std::string(trim(v.Scalar()));
        } else if (lower == "host") {
          e.host = v.Scalar();
        } else if (lower == "port") {
          auto p = parseInt(v.Scalar());
          if (!p || *p < 1 || *p > 65535) {
            error(vw, at + "." + k, "expected a port between 1 and 65535");
            ok = false;
          } else {
            e.port = *p;
          }
        } else if (lower == "is_reliable" || lower == "use_ssl") {
          auto b = parseBoolWord(v.Scalar());
          if (!b) {
            error(vw, at + "." + k, "expected a boolean (true or false)");
            ok = false;
          } else {
            (lower == "use_ssl" ? e.use_ssl : e.is_reliable) = *b;
          }
        } else {
          warning(Where{w.file, kv.first.Mark(), w.env}, at + "." + k, "unknown key, ignored");
        }
      }
      if (e.api_key.empty() || e.host.empty()) {
        error(item_where, at, "missing required key: api_key and Host are required");
        ok = false;
        continue;
      }
      out.push_back(std::move(e));
    }
    return ok;
  }

  bool setFromNode(const KeyDef& def, const YAML::Node& node, const Where& w) {
    FieldRef ref = def.field(loaded_.config);
    if (auto* l = std::get_if<StringList*>(&ref)) {
      return readStringList(def, node, w.file, **l);
    }
    if (auto* m = std::get_if<StringListMap*>(&ref)) {
      if (!node.IsMap()) {
        error(w, std::string(def.key),
              fmt::format("expected a mapping of URL to a list of API keys, got {}",
                          nodeKindName(node)));
        return false;
      }
      StringListMap out;
      bool ok = true;
      for (const auto& kv : node) {
        StringList list;
        if (kv.second.IsNull()) {
          continue;
        }
        ok = readStringList(def, kv.second, w.file, list) && ok;
        out[kv.first.Scalar()] = list;
      }
      **m = std::move(out);
      return ok;
    }
    if (auto* e = std::get_if<LogsEndpointList*>(&ref)) {
      return readLogsEndpoints(def, node, w, **e);
    }
    if (auto* y = std::get_if<YamlValue*>(&ref)) {
      if (!node.IsSequence()) {
        error(w, std::string(def.key), fmt::format("expected a list, got {}", nodeKindName(node)));
        return false;
      }
      **y = YamlValue{node, w.file, w.env};
      return true;
    }
    if (!node.IsScalar()) {
      error(w, std::string(def.key),
            fmt::format("expected {} {}, got {}", def.typeName() == "integer" ? "an" : "a",
                        def.typeName() == "enum" ? "string" : def.typeName(), nodeKindName(node)));
      return false;
    }
    return setScalar(def, node.Scalar(), w);
  }

  bool setFromString(const KeyDef& def, const std::string& raw, const Where& w) {
    FieldRef ref = def.field(loaded_.config);
    const std::string t(trim(raw));
    const bool structured = std::holds_alternative<StringListMap*>(ref) ||
                            std::holds_alternative<LogsEndpointList*>(ref) ||
                            std::holds_alternative<YamlValue*>(ref) ||
                            (std::holds_alternative<StringList*>(ref) && t.starts_with("["));
    if (!structured) {
      return setScalar(def, raw, w);
    }
    // JSON (a subset of YAML's flow style), as the Datadog Agent reads these variables.
    YAML::Node node;
    try {
      node = YAML::Load(t);
    } catch (const YAML::Exception& e) {
      error(
          w, std::string(def.key),
          std::holds_alternative<YamlValue*>(ref)
              ? "expected a JSON list such as [{\"type\": \"exclude_at_match\", \"name\": "
                "\"x\", \"pattern\": \"y\"}]: " +
                    e.msg
              : "expected JSON such as {\"https://app.datadoghq.eu\": [\"<api key>\"]}: " + e.msg);
      return false;
    }
    return setFromNode(def, node, w);
  }

  ConfigResult& result_;
  LoadedConfig& loaded_;
};

bool isUrlOrHostPort(std::string_view s) {
  if (s.empty()) {
    return true;
  }
  if (s.starts_with("http://") || s.starts_with("https://")) {
    return s.size() > s.find("://") + 3;
  }
  if (s.find("://") != std::string_view::npos || s.find(' ') != std::string_view::npos) {
    return false;
  }
  const size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  auto port = parseInt(s.substr(colon + 1));
  return port && *port > 0 && *port < 65536;
}

std::string resolvePath(const std::string& base, const std::string& p) {
  if (p.empty() || p.front() == '/') {
    return p;
  }
  return (fs::path(base) / p).lexically_normal().string();
}

void validate(Loader& loader, LoadedConfig& loaded) {
  Config& c = loaded.config;
  if (c.site.empty() || c.site.find('/') != std::string::npos ||
      c.site.find(':') != std::string::npos || c.site.find('.') == std::string::npos) {
    loader.error(loader.whereOf("site"), "site",
                 fmt::format("expected a domain such as datadoghq.com or datadoghq.eu, got \"{}\"",
                             escapeBytes(c.site, 80)));
  }
  for (const char* key : {"dd_url", "logs_config.logs_dd_url", "apm_config.apm_dd_url"}) {
    const KeyDef* def = findKey(key);
    std::string* value = std::get<std::string*>(def->field(c));
    if (!isUrlOrHostPort(*value)) {
      loader.error(loader.whereOf(key), key,
                   fmt::format("expected a URL (https://host[:port]) or host:port, got \"{}\"",
                               escapeBytes(redactUrl(*value), 120)));
    }
  }
  for (const char* key : {"proxy.http", "proxy.https"}) {
    std::string* value = std::get<std::string*>(findKey(key)->field(c));
    if (!value->empty() && !value->starts_with("http://") && !value->starts_with("https://") &&
        !value->starts_with("socks5://") && !value->starts_with("socks5h://")) {
      loader.error(loader.whereOf(key), key,
                   fmt::format("expected a URL such as http://proxy:3128, got \"{}\"",
                               escapeBytes(redactUrl(*value), 120)));
    }
  }
  static const std::vector<std::string> kAggregates = {"min", "max", "median",
                                                       "avg", "sum", "count"};
  for (const auto& a : c.histogram_aggregates) {
    if (std::find(kAggregates.begin(), kAggregates.end(), a) == kAggregates.end()) {
      loader.error(
          loader.whereOf("histogram_aggregates"), "histogram_aggregates",
          fmt::format("\"{}\" is not one of: {}", escapeBytes(a, 40), join(kAggregates, ", ")));
    }
  }
  for (const auto& p : c.histogram_percentiles) {
    auto v = parseDouble(p);
    if (!v || *v <= 0 || *v >= 1) {
      loader.error(loader.whereOf("histogram_percentiles"), "histogram_percentiles",
                   fmt::format("expected fractions between 0 and 1 such as 0.95, got \"{}\"",
                               escapeBytes(p, 40)));
    }
  }
  for (const char* key : {"additional_endpoints", "apm_config.additional_endpoints"}) {
    const StringListMap* map = std::get<StringListMap*>(findKey(key)->field(c));
    for (const auto& [url, keys] : *map) {
      if (!isUrlOrHostPort(url)) {
        loader.error(
            loader.whereOf(key), key,
            fmt::format("expected URLs as keys, got \"{}\"", escapeBytes(redactUrl(url), 120)));
      }
      if (keys.empty()) {
        loader.error(loader.whereOf(key), key,
                     fmt::format("{} has no API key", escapeBytes(redactUrl(url), 120)));
      }
    }
  }

  // Derived values.
  auto derive = [&](const char* key, std::string note) {
    ConfigOrigin o;
    o.kind = ConfigOrigin::Kind::kDerived;
    o.note = std::move(note);
    loaded.origins[key] = o;
  };
  if (c.hostname.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0 && host[0] != '\0') {
      c.hostname = host;
      derive("hostname", "the machine's host name");
    } else {
      loader.error(loader.whereOf("hostname"), "hostname",
                   "empty, and the machine's host name cannot be read: set hostname");
    }
  }
  if (!c.run_path.empty() && c.run_path.front() != '/') {
    c.run_path = resolvePath(loaded.config_dir, c.run_path);
  }
  if (c.run_path.empty()) {
    loader.error(loader.whereOf("run_path"), "run_path", "must not be empty");
  }
  if (c.confd_path.empty()) {
    c.confd_path = (fs::path(loaded.config_dir) / "conf.d").string();
    derive("confd_path", "conf.d beside outpost.yaml");
  } else {
    c.confd_path = resolvePath(loaded.config_dir, c.confd_path);
  }
  c.query_socket = resolvePath(c.run_path, c.query_socket);
  if (c.forwarder_storage_path.empty()) {
    c.forwarder_storage_path = c.run_path + "/transactions_to_retry";
    derive("forwarder_storage_path", "transactions_to_retry under run_path");
  } else {
    c.forwarder_storage_path = resolvePath(loaded.config_dir, c.forwarder_storage_path);
  }
  if (c.query_socket.size() >= sizeof(sockaddr_un::sun_path)) {
    loader.error(loader.whereOf("query_socket"), "query_socket",
                 fmt::format("a Unix socket path must be shorter than {} bytes, this one has {}",
                             sizeof(sockaddr_un::sun_path), c.query_socket.size()));
  }
}

}  // namespace

ConfigResult loadConfig(const std::string& path, const EnvLookup& env) {
  ConfigResult result;
  LoadedConfig loaded;
  loaded.config = defaultConfig();
  for (const auto& def : configSchema()) {
    loaded.origins[std::string(def.key)] = ConfigOrigin{};
  }
  Loader loader(result, loaded);

  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    loader.error(Where{path, YAML::Mark::null_mark(), {}}, "",
                 fmt::format("no such file or directory (pass -c with the directory that holds "
                             "outpost.yaml, or the file itself)"));
    return result;
  }
  if (fs::is_directory(st)) {
    loaded.config_dir = fs::absolute(path).lexically_normal().string();
    const fs::path candidate = fs::path(loaded.config_dir) / "outpost.yaml";
    if (fs::exists(candidate, ec)) {
      loaded.config_file = candidate.string();
    }
  } else {
    loaded.config_file = fs::absolute(path).lexically_normal().string();
    loaded.config_dir = fs::path(loaded.config_file).parent_path().string();
  }
  if (!loaded.config_dir.empty() && loaded.config_dir.back() == '/' &&
      loaded.config_dir.size() > 1) {
    loaded.config_dir.pop_back();
  }

  if (!loaded.config_file.empty()) {
    YAML::Node root;
    bool parsed = false;
    try {
      root = YAML::LoadFile(loaded.config_file);
      parsed = true;
    } catch (const YAML::BadFile&) {
      loader.error(Where{loaded.config_file, YAML::Mark::null_mark(), {}}, "",
                   fmt::format("cannot read: {}", std::strerror(errno)));
    } catch (const YAML::ParserException& e) {
      loader.error(Where{loaded.config_file, e.mark, {}}, "", "YAML syntax error: " + e.msg);
    } catch (const YAML::Exception& e) {
      loader.error(Where{loaded.config_file, e.mark, {}}, "", "cannot parse: " + e.msg);
    }
    if (parsed && !root.IsNull()) {
      if (!root.IsMap()) {
        loader.error(
            Where{loaded.config_file, root.Mark(), {}}, "",
            fmt::format("expected a mapping of keys at the top level, got {}", nodeKindName(root)));
      } else {
        try {
          loader.walkMap(loaded.config_file, root, "");
        } catch (const YAML::Exception& e) {
          loader.error(Where{loaded.config_file, e.mark, {}}, "", "cannot parse: " + e.msg);
        }
      }
    }
  }
  loader.applyEnv(env);
  if (!result.errors.empty()) {
    return result;
  }
  validate(loader, loaded);
  if (!result.errors.empty()) {
    return result;
  }
  loadConfd(loaded.config.confd_path,
            loaded.origins["confd_path"].kind == ConfigOrigin::Kind::kDerived, loaded.confd,
            result.errors, result.warnings);
  if (result.errors.empty()) {
    result.loaded = std::move(loaded);
  }
  return result;
}

}  // namespace outpost
