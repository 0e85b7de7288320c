#include "collector/sources/traces/stats_payload.h"

#include "collector/sources/traces/concentrator.h"
#include "collector/sources/traces/msgpack_reader.h"
#include "collector/sources/traces/msgpack_writer.h"

namespace outpost::traces {

namespace {

void writeGrouped(MsgpackWriter& w, const GroupedStats& g) {
  w.mapHeader(19);
  w.key("Service");
  w.str(g.service);
  w.key("Name");
  w.str(g.name);
  w.key("Resource");
  w.str(g.resource);
  w.key("HTTPStatusCode");
  w.uint(g.http_status_code);
  w.key("Type");
  w.str(g.type);
  w.key("DBType");
  w.str(g.db_type);
  w.key("Hits");
  w.uint(g.hits);
  w.key("Errors");
  w.uint(g.errors);
  w.key("Duration");
  w.uint(g.duration);
  w.key("OkSummary");
  w.bin(g.ok_summary);
  w.key("ErrorSummary");
  w.bin(g.error_summary);
  w.key("Synthetics");
  w.boolean(g.synthetics);
  w.key("TopLevelHits");
  w.uint(g.top_level_hits);
  w.key("SpanKind");
  w.str(g.span_kind);
  w.key("PeerTags");
  w.arrayHeader(static_cast<uint32_t>(g.peer_tags.size()));
  for (const auto& t : g.peer_tags) {
    w.str(t);
  }
  w.key("IsTraceRoot");
  w.integer(g.is_trace_root);
  w.key("GRPCStatusCode");
  w.str(g.grpc_status_code);
  w.key("HTTPMethod");
  w.str(g.http_method);
  w.key("HTTPEndpoint");
  w.str(g.http_endpoint);
}

void writeClient(MsgpackWriter& w, const ClientStatsPayload& c) {
  w.mapHeader(14);
  w.key("Hostname");
  w.str(c.hostname);
  w.key("Env");
  w.str(c.env);
  w.key("Version");
  w.str(c.version);
  w.key("Stats");
  w.arrayHeader(static_cast<uint32_t>(c.stats.size()));
  for (const auto& b : c.stats) {
    w.mapHeader(4);
    w.key("Start");
    w.uint(b.start);
    w.key("Duration");
    w.uint(b.duration);
    w.key("Stats");
    w.arrayHeader(static_cast<uint32_t>(b.stats.size()));
    for (const auto& g : b.stats) {
      writeGrouped(w, g);
    }
    w.key("AgentTimeShift");
    w.integer(b.agent_time_shift);
  }
  w.key("Lang");
  w.str(c.lang);
  w.key("TracerVersion");
  w.str(c.tracer_version);
  w.key("RuntimeID");
  w.str(c.runtime_id);
  w.key("Sequence");
  w.uint(c.sequence);
  w.key("AgentAggregation");
  w.str(c.agent_aggregation);
  w.key("Service");
  w.str(c.service);
  w.key("ContainerID");
  w.str(c.container_id);
  w.key("Tags");
  w.arrayHeader(static_cast<uint32_t>(c.tags.size()));
  for (const auto& t : c.tags) {
    w.str(t);
  }
  w.key("GitCommitSha");
  w.str(c.git_commit_sha);
  w.key("ImageTag");
  w.str(c.image_tag);
}

// --- decoding ---------------------------------------------------------------------------------

bool readStr(MsgpackReader& r, std::string* out) {
  std::string_view s;
  if (!r.readString(&s)) {
    return false;
  }
  out->assign(s);
  return true;
}

bool readStrings(MsgpackReader& r, std::vector<std::string>* out) {
  uint32_t n = 0;
  if (!r.readArrayHeader(&n)) {
    return false;
  }
  out->resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!readStr(r, &(*out)[i])) {
      return false;
    }
  }
  return true;
}

bool readGrouped(MsgpackReader& r, GroupedStats& g) {
  uint32_t keys = 0;
  if (!r.readMapHeader(&keys)) {
    return false;
  }
  for (uint32_t k = 0; k < keys; ++k) {
    std::string_view key;
    if (!r.readString(&key)) {
      return false;
    }
    bool ok = true;
    uint64_t u = 0;
    int64_t i = 0;
    if (key == "Service") {
      ok = readStr(r, &g.service);
    } else if (key == "Name") {
      ok = readStr(r, &g.name);
    } else if (key == "Resource") {
      ok = readStr(r, &g.resource);
    } else if (key == "HTTPStatusCode") {
      ok = r.readUint64(&u);
      g.http_status_code = static_cast<uint32_t>(u);
    } else if (key == "Type") {
      ok = readStr(r, &g.type);
    } else if (key == "DBType") {
      ok = readStr(r, &g.db_type);
    } else if (key == "Hits") {
      ok = r.readUint64(&g.hits);
    } else if (key == "Errors") {
      ok = r.readUint64(&g.errors);
    } else if (key == "Duration") {
      ok = r.readUint64(&g.duration);
    } else if (key == "OkSummary") {
      ok = readStr(r, &g.ok_summary);
    } else if (key == "ErrorSummary") {
      ok = readStr(r, &g.error_summary);
    } else if (key == "Synthetics") {
      ok = r.readBool(&g.synthetics);
    } else if (key == "TopLevelHits") {
      ok = r.readUint64(&g.top_level_hits);
    } else if (key == "SpanKind") {
      ok = readStr(r, &g.span_kind);
    } else if (key == "PeerTags") {
      ok = readStrings(r, &g.peer_tags);
    } else if (key == "IsTraceRoot") {
      ok = r.readInt64(&i);
      g.is_trace_root = static_cast<int32_t>(i);
    } else if (key == "GRPCStatusCode") {
      if (r.peek() == MsgpackReader::Type::kStr || r.peek() == MsgpackReader::Type::kNil) {
        ok = readStr(r, &g.grpc_status_code);
      } else {
        ok = r.readUint64(&u);
        g.grpc_status_code = std::to_string(u);
      }
    } else if (key == "HTTPMethod") {
      ok = readStr(r, &g.http_method);
    } else if (key == "HTTPEndpoint") {
      ok = readStr(r, &g.http_endpoint);
    } else {
      ok = r.skip();
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool readBucket(MsgpackReader& r, StatsBucket& b) {
  uint32_t keys = 0;
  if (!r.readMapHeader(&keys)) {
    return false;
  }
  for (uint32_t k = 0; k < keys; ++k) {
    std::string_view key;
    if (!r.readString(&key)) {
      return false;
    }
    bool ok = true;
    if (key == "Start") {
      ok = r.readUint64(&b.start);
    } else if (key == "Duration") {
      ok = r.readUint64(&b.duration);
    } else if (key == "AgentTimeShift") {
      ok = r.readInt64(&b.agent_time_shift);
    } else if (key == "Stats") {
      uint32_t n = 0;
      ok = r.readArrayHeader(&n);
      b.stats.resize(ok ? n : 0);
      for (uint32_t i = 0; ok && i < n; ++i) {
        ok = readGrouped(r, b.stats[i]);
      }
    } else {
      ok = r.skip();
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string encodeStatsPayload(const StatsPayload& p) {
  std::string out;
  MsgpackWriter w(out);
  w.mapHeader(6);
  w.key("AgentHostname");
  w.str(p.agent_hostname);
  w.key("AgentEnv");
  w.str(p.agent_env);
  w.key("Stats");
  w.arrayHeader(static_cast<uint32_t>(p.stats.size()));
  for (const auto& c : p.stats) {
    writeClient(w, c);
  }
  w.key("AgentVersion");
  w.str(p.agent_version);
  w.key("ClientComputed");
  w.boolean(p.client_computed);
  w.key("SplitPayload");
  w.boolean(p.split_payload);
  return out;
}

bool decodeClientStatsPayload(std::string_view body, ClientStatsPayload* out, std::string* error) {
  MsgpackReader r(body);
  uint32_t keys = 0;
  if (r.peek() != MsgpackReader::Type::kMap || !r.readMapHeader(&keys)) {
    *error = r.ok() ? "expected a ClientStatsPayload map" : r.error();
    return false;
  }
  bool ok = true;
  for (uint32_t k = 0; ok && k < keys; ++k) {
    std::string_view key;
    if (!r.readString(&key)) {
      ok = false;
      break;
    }
    if (key == "Hostname") {
      ok = readStr(r, &out->hostname);
    } else if (key == "Env") {
      ok = readStr(r, &out->env);
    } else if (key == "Version") {
      ok = readStr(r, &out->version);
    } else if (key == "Lang") {
      ok = readStr(r, &out->lang);
    } else if (key == "TracerVersion") {
      ok = readStr(r, &out->tracer_version);
    } else if (key == "RuntimeID") {
      ok = readStr(r, &out->runtime_id);
    } else if (key == "Sequence") {
      ok = r.readUint64(&out->sequence);
    } else if (key == "AgentAggregation") {
      ok = readStr(r, &out->agent_aggregation);
    } else if (key == "Service") {
      ok = readStr(r, &out->service);
    } else if (key == "ContainerID") {
      ok = readStr(r, &out->container_id);
    } else if (key == "Tags") {
      ok = readStrings(r, &out->tags);
    } else if (key == "GitCommitSha") {
      ok = readStr(r, &out->git_commit_sha);
    } else if (key == "ImageTag") {
      ok = readStr(r, &out->image_tag);
    } else if (key == "Stats") {
      uint32_t n = 0;
      ok = r.readArrayHeader(&n);
      out->stats.resize(ok ? n : 0);
      for (uint32_t i = 0; ok && i < n; ++i) {
        ok = readBucket(r, out->stats[i]);
      }
    } else {
      ok = r.skip();
    }
  }
  if (!ok) {
    *error = r.ok() ? "malformed ClientStatsPayload" : r.error();
    return false;
  }
  if (!r.atEnd()) {
    *error = "unexpected bytes after the payload at byte " + std::to_string(r.position());
    return false;
  }
  return true;
}

std::string wrapClientStats(const ClientStatsPayload& client, const ConcentratorOptions& agent) {
  StatsPayload p;
  p.agent_hostname = agent.hostname;
  p.agent_env = agent.env;
  p.agent_version = agent.agent_version;
  p.client_computed = true;
  p.stats.push_back(client);
  if (p.stats.back().hostname.empty()) {
    p.stats.back().hostname = agent.hostname;
  }
  if (p.stats.back().env.empty()) {
    p.stats.back().env = agent.env;
  }
  return encodeStatsPayload(p);
}

}  // namespace outpost::traces
