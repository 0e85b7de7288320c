#include "checks/check.h"

#include <re2/re2.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "checks/builtin.h"

namespace outpost::checks {

namespace {

std::string contextKey(const std::string& name, std::vector<std::string> tags) {
  std::sort(tags.begin(), tags.end());
  std::string key = name;
  for (const auto& t : tags) {
    key.push_back('\0');
    key += t;
  }
  return key;
}

}  // namespace

void Sender::gauge(std::string name, double value, std::vector<std::string> tags) {
  samples_.push_back({Kind::kGauge, std::move(name), value, std::move(tags)});
}

void Sender::rate(std::string name, double value, std::vector<std::string> tags) {
  samples_.push_back({Kind::kRate, std::move(name), value, std::move(tags)});
}

void Sender::monotonicCount(std::string name, double value, std::vector<std::string> tags) {
  samples_.push_back({Kind::kMonotonic, std::move(name), value, std::move(tags)});
}

void Sender::serviceCheck(std::string name, int status, std::string message,
                          std::vector<std::string> tags) {
  ServiceCheckRun r;
  r.check = std::move(name);
  r.status = status;
  r.message = std::move(message);
  r.tags = std::move(tags);
  checks_.push_back(std::move(r));
}

Sender::Output Sender::commit(double now, const std::string& host,
                              const std::vector<std::string>& tags, bool ok) {
  Output out;
  std::vector<Sample> samples = std::move(samples_);
  samples_.clear();
  std::vector<ServiceCheckRun> checks = std::move(checks_);
  checks_.clear();
  if (!ok) {
    return out;
  }
  ++runs_;
  const auto ts = static_cast<int64_t>(now);
  for (auto& s : samples) {
    if (!std::isfinite(s.value)) {
      continue;
    }
    Serie serie;
    double value = s.value;
    if (s.kind != Kind::kGauge) {
      Previous& p = previous_[contextKey(s.name, s.tags)];
      const bool have = p.seen_run != 0 && p.seen_run + 1 == runs_;
      const double dv = s.value - p.value;
      const double dt = now - p.time;
      p = Previous{s.value, now, runs_};
      if (!have || dv < 0 || (s.kind == Kind::kRate && dt <= 0)) {
        continue;  // first run, a gap, or a counter that went back: nothing to say yet
      }
      value = s.kind == Kind::kRate ? dv / dt : dv;
      serie.type = s.kind == Kind::kRate ? SeriesType::kGauge : SeriesType::kCount;
    }
    serie.name = std::move(s.name);
    serie.host = host;
    for (auto& t : s.tags) {
      if (t.rfind("device:", 0) == 0) {
        serie.device = t.substr(7);
      } else {
        serie.tags.push_back(std::move(t));
      }
    }
    serie.tags.insert(serie.tags.end(), tags.begin(), tags.end());
    std::sort(serie.tags.begin(), serie.tags.end());
    serie.tags.erase(std::unique(serie.tags.begin(), serie.tags.end()), serie.tags.end());
    serie.points.emplace_back(ts, value);
    out.series.push_back(std::move(serie));
  }
  // Contexts not seen in this run lose their previous value (a device that went away).
  std::erase_if(previous_, [&](const auto& kv) { return kv.second.seen_run != runs_; });
  for (auto& c : checks) {
    c.host = host;
    c.timestamp = ts;
    c.tags.insert(c.tags.end(), tags.begin(), tags.end());
    out.service_checks.push_back(std::move(c));
  }
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw CheckError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string_view> splitFields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
      ++i;
    }
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      ++i;
    }
    if (i > start) {
      out.push_back(line.substr(start, i - start));
    }
  }
  return out;
}

std::vector<std::string_view> splitLines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      nl = text.size();
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::vector<std::string_view> firstLineFields(std::string_view text) {
  return splitFields(text.substr(0, text.find('\n')));
}

uint64_t parseU64(std::string_view field, const std::string& what) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || end != field.data() + field.size()) {
    throw CheckError(what + ": '" + std::string(field) + "' is not a number");
  }
  return v;
}

double parseDouble(std::string_view field, const std::string& what) {
  double v = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || end != field.data() + field.size()) {
    throw CheckError(what + ": '" + std::string(field) + "' is not a number");
  }
  return v;
}

namespace {

std::string where(const YAML::Node& node, const char* key) {
  return std::string("'") + key + "' (line " + std::to_string(node.Mark().line + 1) + ")";
}

}  // namespace

std::vector<std::string> stringListSetting(const YAML::Node& instance, const char* key) {
  std::vector<std::string> out;
  if (!instance.IsMap() || !instance[key] || instance[key].IsNull()) {
    return out;
  }
  const YAML::Node n = instance[key];
  if (!n.IsSequence()) {
    throw CheckError(where(n, key) + ": a list of strings expected");
  }
  for (const auto& item : n) {
    if (!item.IsScalar()) {
      throw CheckError(where(item, key) + ": a list of strings expected");
    }
    out.push_back(item.Scalar());
  }
  return out;
}

bool boolSetting(const YAML::Node& instance, const char* key, bool fallback) {
  if (!instance.IsMap() || !instance[key] || instance[key].IsNull()) {
    return fallback;
  }
  const YAML::Node n = instance[key];
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    throw CheckError(where(n, key) + ": true or false expected");
  }
  return v;
}

std::string regexSetting(const YAML::Node& instance, const char* key) {
  if (!instance.IsMap() || !instance[key] || instance[key].IsNull()) {
    return {};
  }
  const YAML::Node n = instance[key];
  if (!n.IsScalar()) {
    throw CheckError(where(n, key) + ": a regular expression expected");
  }
  RE2 re(n.Scalar(), RE2::Quiet);
  if (!re.ok()) {
    throw CheckError(where(n, key) + ": invalid regular expression: " + re.error());
  }
  return n.Scalar();
}

const std::vector<std::string>& builtinChecks() {
  static const std::vector<std::string> kNames = {
      "cpu", "load", "memory", "uptime", "file_handle", "disk", "io", "network", "process"};
  return kNames;
}

std::unique_ptr<Check> makeCheck(std::string_view name, const HostPaths& paths) {
  if (name == "cpu") {
    return makeCpuCheck(paths);
  }
  if (name == "load") {
    return makeLoadCheck(paths);
  }
  if (name == "memory") {
    return makeMemoryCheck(paths);
  }
  if (name == "uptime") {
    return makeUptimeCheck(paths);
  }
  if (name == "file_handle") {
    return makeFileHandleCheck(paths);
  }
  if (name == "disk") {
    return makeDiskCheck(paths);
  }
  if (name == "io") {
    return makeIoCheck(paths);
  }
  if (name == "network") {
    return makeNetworkCheck(paths);
  }
  if (name == "process") {
    return makeProcessCheck(paths);
  }
  return nullptr;
}

}  // namespace outpost::checks
