#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "collector/sources/traces/msgpack_writer.h"

// Tracer request bodies built the way dd-trace libraries write them, for tests and benchmarks:
// v0.4 (an array of traces, each an array of span maps) and v0.5 (a string table and spans as
// 12-element arrays). Header-only.
namespace outpost::testing {

struct TraceSpan {
  std::string service, name, resource, type;
  uint64_t trace_id = 0, span_id = 0, parent_id = 0;
  int64_t start = 0, duration = 0;
  int32_t error = 0;
  std::vector<std::pair<std::string, std::string>> meta;
  std::vector<std::pair<std::string, double>> metrics;
};
using Trace = std::vector<TraceSpan>;

inline void writeSpanMap(traces::MsgpackWriter& w, const TraceSpan& s) {
  w.mapHeader(12);
  w.key("service");
  w.str(s.service);
  w.key("name");
  w.str(s.name);
  w.key("resource");
  w.str(s.resource);
  w.key("type");
  w.str(s.type);
  w.key("trace_id");
  w.uint(s.trace_id);
  w.key("span_id");
  w.uint(s.span_id);
  w.key("parent_id");
  w.uint(s.parent_id);
  w.key("start");
  w.integer(s.start);
  w.key("duration");
  w.integer(s.duration);
  w.key("error");
  w.integer(s.error);
  w.key("meta");
  w.mapHeader(static_cast<uint32_t>(s.meta.size()));
  for (const auto& [k, v] : s.meta) {
    w.str(k);
    w.str(v);
  }
  w.key("metrics");
  w.mapHeader(static_cast<uint32_t>(s.metrics.size()));
  for (const auto& [k, v] : s.metrics) {
    w.str(k);
    w.float64(v);
  }
}

inline std::string v04Body(const std::vector<Trace>& traces) {
  std::string out;
  traces::MsgpackWriter w(out);
  w.arrayHeader(static_cast<uint32_t>(traces.size()));
  for (const auto& t : traces) {
    w.arrayHeader(static_cast<uint32_t>(t.size()));
    for (const auto& s : t) {
      writeSpanMap(w, s);
    }
  }
  return out;
}

inline std::string v05Body(const std::vector<Trace>& traces) {
  std::vector<std::string> dict{""};
  std::unordered_map<std::string, uint64_t> index_of{{"", 0}};
  auto index = [&](const std::string& s) -> uint64_t {
    auto [it, fresh] = index_of.emplace(s, dict.size());
    if (fresh) {
      dict.push_back(s);
    }
    return it->second;
  };
  std::string spans;
  traces::MsgpackWriter w(spans);
  w.arrayHeader(static_cast<uint32_t>(traces.size()));
  for (const auto& t : traces) {
    w.arrayHeader(static_cast<uint32_t>(t.size()));
    for (const auto& s : t) {
      w.arrayHeader(12);
      w.uint(index(s.service));
      w.uint(index(s.name));
      w.uint(index(s.resource));
      w.uint(s.trace_id);
      w.uint(s.span_id);
      w.uint(s.parent_id);
      w.integer(s.start);
      w.integer(s.duration);
      w.integer(s.error);
      w.mapHeader(static_cast<uint32_t>(s.meta.size()));
      for (const auto& [k, v] : s.meta) {
        w.uint(index(k));
        w.uint(index(v));
      }
      w.mapHeader(static_cast<uint32_t>(s.metrics.size()));
      for (const auto& [k, v] : s.metrics) {
        w.uint(index(k));
        w.float64(v);
      }
      w.uint(index(s.type));
    }
  }
  std::string out;
  traces::MsgpackWriter o(out);
  o.arrayHeader(2);
  o.arrayHeader(static_cast<uint32_t>(dict.size()));
  for (const auto& s : dict) {
    o.str(s);
  }
  out += spans;
  return out;
}

}  // namespace outpost::testing
