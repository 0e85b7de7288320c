#include "tests/fakeintake/payload.h"

#include <fmt/format.h>
#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>
#include <zlib.h>
#include <zstd.h>

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST 1
#endif
#include <msgpack.hpp>

#include <algorithm>
#include <cctype>
#include <memory>

#include "proto/ddsketch.pb.h"
#include "proto/metrics_payload.pb.h"
#include "proto/trace_agent_payload.pb.h"

namespace outpost::fakeintake {

namespace {

using nlohmann::json;

constexpr std::string_view kMetricsOk = R"({"errors":[]})";
constexpr size_t kMaxErrors = 20;  // per payload; more are summarised
constexpr int kMaxJsonDepth = 128;
constexpr size_t kMaxMsgpackDepth = 64;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// "application/json; charset=utf-8" -> "application/json"
std::string mediaType(std::string_view content_type) {
  size_t semi = content_type.find(';');
  return lower(trim(content_type.substr(0, semi)));
}

std::string_view findHeader(const std::vector<std::pair<std::string, std::string>>& headers,
                            std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) {
      return value;
    }
  }
  return {};
}

// Collects errors, keeping the first kMaxErrors and counting the rest.
class Errors {
 public:
  explicit Errors(std::vector<std::string>* out) : out_(out) {}
  ~Errors() {
    if (dropped_ > 0) {
      out_->push_back(fmt::format("... and {} more errors", dropped_));
    }
  }
  Errors(const Errors&) = delete;
  Errors& operator=(const Errors&) = delete;

  template <class... Args>
  void add(fmt::format_string<Args...> format, Args&&... args) {
    if (out_->size() >= kMaxErrors) {
      ++dropped_;
      return;
    }
    out_->push_back(fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  std::vector<std::string>* out_;
  size_t dropped_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Decompression

// Grows *out by at most `chunk` bytes, never past max_bytes + 1 (so overflow is detectable).
size_t grow(std::string* out, size_t chunk, size_t max_bytes) {
  size_t old = out->size();
  size_t room = std::min(chunk, max_bytes + 1 - old);
  out->resize(old + room);
  return room;
}

bool decompressZstd(std::string_view body, size_t max_bytes, std::string* out, std::string* error) {
  if (body.empty()) {
    *error = "empty body is not a zstd frame";
    return false;
  }
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  ZSTD_inBuffer in{body.data(), body.size(), 0};
  size_t ret = 0;
  while (true) {
    size_t old = out->size();
    size_t room = grow(out, ZSTD_DStreamOutSize(), max_bytes);
    ZSTD_outBuffer ob{out->data() + old, room, 0};
    ret = ZSTD_decompressStream(dctx.get(), &ob, &in);
    out->resize(old + ob.pos);
    if (ZSTD_isError(ret)) {
      *error = fmt::format("zstd: {} (at input byte {})", ZSTD_getErrorName(ret), in.pos);
      return false;
    }
    if (out->size() > max_bytes) {
      *error = fmt::format("zstd: decompressed body exceeds {} bytes", max_bytes);
      return false;
    }
    if (in.pos == in.size && ob.pos < room) {
      break;
    }
  }
  if (ret != 0) {
    *error = "zstd: truncated frame (input ended inside a frame)";
    return false;
  }
  return true;
}

bool decompressZlib(std::string_view body, bool gzip, size_t max_bytes, std::string* out,
                    std::string* error) {
  const char* name = gzip ? "gzip" : "deflate";
  if (body.empty()) {
    *error = fmt::format("{}: empty body", name);
    return false;
  }
  z_stream zs{};
  if (inflateInit2(&zs, gzip ? 15 + 16 : 15) != Z_OK) {
    *error = fmt::format("{}: inflateInit2 failed", name);
    return false;
  }
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  zs.avail_in = static_cast<uInt>(body.size());
  while (true) {
    size_t old = out->size();
    size_t room = grow(out, 64 * 1024, max_bytes);
    zs.next_out = reinterpret_cast<Bytef*>(out->data() + old);
    zs.avail_out = static_cast<uInt>(room);
    int r = inflate(&zs, Z_NO_FLUSH);
    out->resize(old + room - zs.avail_out);
    if (out->size() > max_bytes) {
      *error = fmt::format("{}: decompressed body exceeds {} bytes", name, max_bytes);
      return false;
    }
    if (r == Z_STREAM_END) {
      if (zs.avail_in == 0) {
        return true;
      }
      if (gzip) {  // another gzip member follows
        inflateReset(&zs);
        continue;
      }
      *error = fmt::format("deflate: {} trailing bytes after the zlib stream", zs.avail_in);
      return false;
    }
    if (r == Z_OK) {
      if (zs.avail_in == 0 && zs.avail_out != 0) {
        *error = fmt::format("{}: truncated stream (input ended before its end)", name);
        return false;
      }
      continue;
    }
    if (r == Z_BUF_ERROR) {
      *error = fmt::format("{}: truncated stream (input ended before its end)", name);
      return false;
    }
    *error = fmt::format("{}: {} (at input byte {})", name, zs.msg ? zs.msg : "corrupt data",
                         body.size() - zs.avail_in);
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Protobuf

json unknownFieldsToJson(const google::protobuf::UnknownFieldSet& set) {
  using google::protobuf::UnknownField;
  json out = json::object();
  for (int i = 0; i < set.field_count(); ++i) {
    const UnknownField& f = set.field(i);
    json value;
    switch (f.type()) {
      case UnknownField::TYPE_VARINT:
        value = f.varint();
        break;
      case UnknownField::TYPE_FIXED32:
        value = f.fixed32();
        break;
      case UnknownField::TYPE_FIXED64:
        value = f.fixed64();
        break;
      case UnknownField::TYPE_LENGTH_DELIMITED:
        value = base64Encode(f.length_delimited());
        break;
      case UnknownField::TYPE_GROUP:
        value = unknownFieldsToJson(f.group());
        break;
    }
    out[std::to_string(f.number())].push_back(std::move(value));
  }
  return out;
}

// Adds "_unknown_fields": {"<number>": [values...]} to every object of `j` whose message has
// fields the schema does not declare (e.g. the NoIndex marker, Origin field 3).
void annotateUnknownFields(const google::protobuf::Message& m, json& j) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  if (!j.is_object()) {
    return;
  }
  const auto& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    j["_unknown_fields"] = unknownFieldsToJson(unknown);
  }
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    auto it = j.find(f->name());
    if (it == j.end()) {
      continue;
    }
    if (f->is_map()) {
      const FieldDescriptor* value_field = f->message_type()->map_value();
      if (value_field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || !it->is_object()) {
        continue;
      }
      const FieldDescriptor* key_field = f->message_type()->map_key();
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const auto& entry = r->GetRepeatedMessage(m, f, i);
        const auto* er = entry.GetReflection();
        std::string key;
        if (key_field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          key = er->GetString(entry, key_field);
        } else {
          continue;  // non-string keys: no message-valued maps of that kind in our schemas
        }
        auto vit = it->find(key);
        if (vit != it->end()) {
          annotateUnknownFields(er->GetMessage(entry, value_field), *vit);
        }
      }
    } else if (f->is_repeated()) {
      if (!it->is_array()) {
        continue;
      }
      int n = r->FieldSize(m, f);
      for (int i = 0; i < n && static_cast<size_t>(i) < it->size(); ++i) {
        annotateUnknownFields(r->GetRepeatedMessage(m, f, i), (*it)[static_cast<size_t>(i)]);
      }
    } else {
      annotateUnknownFields(r->GetMessage(m, f), *it);
    }
  }
}

// Proto3 JSON with the .proto field names, every field printed (zero values too), enums by
// name, 64-bit integers as strings (the proto3 JSON mapping), bytes as base64.
bool protoToJson(const google::protobuf::Message& m, json* out, std::string* error) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(m, &text, options);
  if (!status.ok()) {
    *error = fmt::format("protobuf to JSON: {}", status.ToString());
    return false;
  }
  *out = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    *error = "protobuf to JSON: produced invalid JSON";
    *out = nullptr;
    return false;
  }
  annotateUnknownFields(m, *out);
  return true;
}

template <class Message>
bool parseProto(std::string_view raw, Message* msg, Decoded* d) {
  if (raw.size() > static_cast<size_t>(INT32_MAX) ||
      !msg->ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
    d->errors.push_back(fmt::format("body is not a valid {} protobuf", msg->GetTypeName()));
    return false;
  }
  std::string error;
  if (!protoToJson(*msg, &d->json, &error)) {
    d->errors.push_back(error);
    return false;
  }
  return true;
}

void checkMetricPayload(const datadog::agentpayload::MetricPayload& p, Decoded* d) {
  Errors errors(&d->errors);
  if (p.series_size() == 0) {
    errors.add("MetricPayload has no series");
  }
  for (int i = 0; i < p.series_size(); ++i) {
    const auto& s = p.series(i);
    if (s.metric().empty()) {
      errors.add("series[{}]: empty metric name", i);
    }
    if (s.points_size() == 0) {
      errors.add("series[{}] ({}): no points", i, s.metric());
    }
  }
}

void checkSketchPayload(const datadog::agentpayload::SketchPayload& p, Decoded* d) {
  Errors errors(&d->errors);
  if (p.sketches_size() == 0) {
    errors.add("SketchPayload has no sketches");
  }
  for (int i = 0; i < p.sketches_size(); ++i) {
    const auto& s = p.sketches(i);
    if (s.metric().empty()) {
      errors.add("sketches[{}]: empty metric name", i);
    }
    if (s.dogsketches_size() == 0 && s.distributions_size() == 0) {
      errors.add("sketches[{}] ({}): no dogsketches", i, s.metric());
    }
    for (int j = 0; j < s.dogsketches_size(); ++j) {
      const auto& ds = s.dogsketches(j);
      if (ds.k_size() != ds.n_size()) {
        errors.add("sketches[{}].dogsketches[{}]: {} keys (k) but {} counts (n)", i, j, ds.k_size(),
                   ds.n_size());
      }
      for (int b = 1; b < ds.k_size(); ++b) {
        if (ds.k(b) < ds.k(b - 1)) {
          errors.add("sketches[{}].dogsketches[{}]: keys (k) not ascending at {}", i, j, b);
          break;
        }
      }
      for (int b = 0; b < ds.n_size(); ++b) {
        if (ds.n(b) > 65535) {
          errors.add("sketches[{}].dogsketches[{}]: count n[{}] = {} exceeds 65535", i, j, b,
                     ds.n(b));
          break;
        }
      }
      if (ds.cnt() > 0 && ds.min() > ds.max()) {
        errors.add("sketches[{}].dogsketches[{}]: min {} > max {}", i, j, ds.min(), ds.max());
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JSON

bool parseJson(std::string_view raw, Decoded* d) {
  int max_depth = 0;
  json::parser_callback_t cb = [&max_depth](int depth, json::parse_event_t, json&) {
    max_depth = std::max(max_depth, depth);
    return true;
  };
  try {
    d->json = json::parse(raw.begin(), raw.end(), cb);
  } catch (const json::exception& e) {
    d->json = nullptr;
    d->errors.push_back(fmt::format("body is not valid JSON: {}", e.what()));
    return false;
  }
  if (max_depth > kMaxJsonDepth) {
    d->json = nullptr;
    d->errors.push_back(fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
    return false;
  }
  return true;
}

std::string_view jsonTypeName(const json& j) {
  return j.type_name();
}

void checkSeriesV1(const json& j, Decoded* d) {
  Errors errors(&d->errors);
  if (!j.is_object() || !j.contains("series") || !j["series"].is_array()) {
    errors.add("expected an object with a \"series\" array");
    return;
  }
  const json& series = j["series"];
  for (size_t i = 0; i < series.size(); ++i) {
    const json& s = series[i];
    if (!s.is_object()) {
      errors.add("series[{}]: expected an object, got {}", i, jsonTypeName(s));
      continue;
    }
    if (!s.contains("metric") || !s["metric"].is_string() ||
        s["metric"].get_ref<const std::string&>().empty()) {
      errors.add("series[{}]: \"metric\" must be a non-empty string", i);
    }
    if (!s.contains("points") || !s["points"].is_array()) {
      errors.add("series[{}]: \"points\" must be an array", i);
      continue;
    }
    for (size_t p = 0; p < s["points"].size(); ++p) {
      const json& point = s["points"][p];
      if (!point.is_array() || point.size() != 2 || !point[0].is_number() ||
          !point[1].is_number()) {
        errors.add("series[{}].points[{}]: expected [timestamp, value]", i, p);
        break;
      }
    }
  }
}

// Public API form of /api/v2/series (§2.4).
void checkSeriesV2Json(const json& j, Decoded* d) {
  Errors errors(&d->errors);
  if (!j.is_object() || !j.contains("series") || !j["series"].is_array()) {
    errors.add("expected an object with a \"series\" array");
    return;
  }
  const json& series = j["series"];
  for (size_t i = 0; i < series.size(); ++i) {
    const json& s = series[i];
    if (!s.is_object() || !s.contains("metric") || !s["metric"].is_string()) {
      errors.add("series[{}]: \"metric\" must be a string", i);
    } else if (!s.contains("points") || !s["points"].is_array()) {
      errors.add("series[{}]: \"points\" must be an array of {{timestamp, value}}", i);
    }
  }
}

void checkCheckRuns(const json& j, Decoded* d) {
  Errors errors(&d->errors);
  if (!j.is_array()) {
    errors.add("expected a JSON array of service checks, got {}", jsonTypeName(j));
    return;
  }
  for (size_t i = 0; i < j.size(); ++i) {
    const json& c = j[i];
    if (!c.is_object()) {
      errors.add("[{}]: expected an object, got {}", i, jsonTypeName(c));
      continue;
    }
    if (!c.contains("check") || !c["check"].is_string()) {
      errors.add("[{}]: \"check\" must be a string", i);
    }
    if (!c.contains("status") || !c["status"].is_number_integer() ||
        c["status"].get<int64_t>() < 0 || c["status"].get<int64_t>() > 3) {
      errors.add("[{}]: \"status\" must be an integer 0-3", i);
    }
  }
}

// The host metadata payload (wire-formats.md §6): the fields the backend reads, with their types.
template <class E>
void checkHostMetadata(const json& j, E& errors) {
  for (const char* key : {"internalHostname", "apiKey", "agentVersion", "uuid", "os"}) {
    if (!j.contains(key) || !j[key].is_string()) {
      errors.add("host metadata: \"{}\" must be a string", key);
    }
  }
  if (j.contains("internalHostname") && j["internalHostname"].is_string() &&
      j["internalHostname"].get<std::string>().empty()) {
    errors.add("host metadata: empty internalHostname");
  }
  if (!j.contains("systemStats") || !j["systemStats"].is_object() ||
      !j["systemStats"].contains("cpuCores") || !j["systemStats"]["cpuCores"].is_number()) {
    errors.add("host metadata: systemStats.cpuCores must be a number");
  }
  if (!j.contains("meta") || !j["meta"].is_object() || !j["meta"].contains("hostname") ||
      !j["meta"]["hostname"].is_string() ||
      (j["meta"].contains("host_aliases") && !j["meta"]["host_aliases"].is_array())) {
    errors.add("host metadata: meta.hostname (string) and meta.host_aliases (array) expected");
  }
  if (!j.contains("host-tags") || !j["host-tags"].is_object() ||
      !j["host-tags"].contains("system") || !j["host-tags"]["system"].is_array()) {
    errors.add("host metadata: host-tags.system must be an array");
  } else {
    for (const auto& t : j["host-tags"]["system"]) {
      if (!t.is_string()) {
        errors.add("host metadata: host-tags.system holds a non-string");
      }
    }
  }
  if (j.contains("gohai")) {
    if (!j["gohai"].is_string()) {
      errors.add("host metadata: gohai must be a string of JSON");
    } else {
      const json g = json::parse(j["gohai"].get<std::string>(), nullptr, false);
      if (!g.is_object()) {
        errors.add("host metadata: gohai does not hold a JSON object");
      }
    }
  }
}

void checkIntake(const json& j, Decoded* d) {
  Errors errors(&d->errors);
  if (!j.is_object()) {
    errors.add("expected a JSON object, got {}", jsonTypeName(j));
    return;
  }
  if (j.contains("events")) {
    const json& events = j["events"];
    if (!events.is_object()) {
      errors.add("\"events\" must be an object of source type name to event list");
      return;
    }
    for (const auto& [source, list] : events.items()) {
      if (!list.is_array()) {
        errors.add("events[\"{}\"]: expected an array", source);
        continue;
      }
      for (size_t i = 0; i < list.size(); ++i) {
        if (!list[i].is_object()) {
          errors.add("events[\"{}\"][{}]: expected an object", source, i);
        }
      }
    }
  } else if (!j.contains("internalHostname")) {
    errors.add("neither events (\"events\") nor host metadata (\"internalHostname\")");
  } else {
    checkHostMetadata(j, errors);
  }
}

void checkObject(const json& j, Decoded* d) {
  if (!j.is_object()) {
    d->errors.push_back(fmt::format("expected a JSON object, got {}", jsonTypeName(j)));
  }
}

void checkLogs(const json& j, const Route& route, Decoded* d) {
  Errors errors(&d->errors);
  if (j.is_object()) {  // a single log, or the Agent's `{}` connectivity check
    return;
  }
  if (!j.is_array()) {
    errors.add("expected a JSON array of log objects, got {}", jsonTypeName(j));
    return;
  }
  if (route.max_items != 0 && j.size() > route.max_items) {
    d->too_large = true;
    errors.add("{} log entries exceed the intake's {} per request", j.size(), route.max_items);
  }
  for (size_t i = 0; i < j.size(); ++i) {
    const json& log = j[i];
    if (!log.is_object()) {
      errors.add("[{}]: expected a log object, got {}", i, jsonTypeName(log));
    } else if (log.contains("message") && !log["message"].is_string()) {
      errors.add("[{}]: \"message\" must be a string", i);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// msgpack (APM stats, §5.7)

enum class Kind { kStr, kBool, kUint, kInt, kStrArray, kObjArray, kSketchBin };

struct Schema;
struct FieldSpec {
  std::string_view key;
  Kind kind;
  const Schema* sub = nullptr;
};
struct Schema {
  std::string_view name;
  std::vector<FieldSpec> fields;
};

const Schema kGroupedStats{"ClientGroupedStats",
                           {{"Service", Kind::kStr},
                            {"Name", Kind::kStr},
                            {"Resource", Kind::kStr},
                            {"HTTPStatusCode", Kind::kUint},
                            {"Type", Kind::kStr},
                            {"DBType", Kind::kStr},
                            {"Hits", Kind::kUint},
                            {"Errors", Kind::kUint},
                            {"Duration", Kind::kUint},
                            {"OkSummary", Kind::kSketchBin},
                            {"ErrorSummary", Kind::kSketchBin},
                            {"Synthetics", Kind::kBool},
                            {"TopLevelHits", Kind::kUint},
                            {"SpanKind", Kind::kStr},
                            {"PeerTags", Kind::kStrArray},
                            {"IsTraceRoot", Kind::kInt},
                            {"GRPCStatusCode", Kind::kStr},
                            {"HTTPMethod", Kind::kStr},
                            {"HTTPEndpoint", Kind::kStr},
                            {"srv_src", Kind::kStr},
                            {"SpanDerivedPrimaryTags", Kind::kStrArray},
                            {"AdditionalMetricTags", Kind::kStrArray}}};
const Schema kStatsBucket{"ClientStatsBucket",
                          {{"Start", Kind::kUint},
                           {"Duration", Kind::kUint},
                           {"Stats", Kind::kObjArray, &kGroupedStats},
                           {"AgentTimeShift", Kind::kInt}}};
const Schema kClientStats{"ClientStatsPayload",
                          {{"Hostname", Kind::kStr},
                           {"Env", Kind::kStr},
                           {"Version", Kind::kStr},
                           {"Stats", Kind::kObjArray, &kStatsBucket},
                           {"Lang", Kind::kStr},
                           {"TracerVersion", Kind::kStr},
                           {"RuntimeID", Kind::kStr},
                           {"Sequence", Kind::kUint},
                           {"AgentAggregation", Kind::kStr},
                           {"Service", Kind::kStr},
                           {"ContainerID", Kind::kStr},
                           {"Tags", Kind::kStrArray},
                           {"GitCommitSha", Kind::kStr},
                           {"ImageTag", Kind::kStr},
                           {"ProcessTagsHash", Kind::kUint},
                           {"ProcessTags", Kind::kStr}}};
const Schema kStatsPayload{"StatsPayload",
                           {{"AgentHostname", Kind::kStr},
                            {"AgentEnv", Kind::kStr},
                            {"Stats", Kind::kObjArray, &kClientStats},
                            {"AgentVersion", Kind::kStr},
                            {"ClientComputed", Kind::kBool},
                            {"SplitPayload", Kind::kBool}}};

std::string_view msgpackTypeName(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return "bool";
    case msgpack::type::POSITIVE_INTEGER:
      return "uint";
    case msgpack::type::NEGATIVE_INTEGER:
      return "negative int";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "float";
    case msgpack::type::STR:
      return "str";
    case msgpack::type::BIN:
      return "bin";
    case msgpack::type::ARRAY:
      return "array";
    case msgpack::type::MAP:
      return "map";
    case msgpack::type::EXT:
      return "ext";
  }
  return "unknown";
}

json msgpackToJson(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return nullptr;
    case msgpack::type::BOOLEAN:
      return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
      return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
      return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o.via.f64;
    case msgpack::type::STR:
      return std::string(o.via.str.ptr, o.via.str.size);
    case msgpack::type::BIN:
      return base64Encode(std::string_view(o.via.bin.ptr, o.via.bin.size));
    case msgpack::type::EXT:
      return json{{"ext_type", o.via.ext.type()},
                  {"data", base64Encode(std::string_view(o.via.ext.data(), o.via.ext.size))}};
    case msgpack::type::ARRAY: {
      json out = json::array();
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        out.push_back(msgpackToJson(o.via.array.ptr[i]));
      }
      return out;
    }
    case msgpack::type::MAP: {
      json out = json::object();
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack::object_kv& kv = o.via.map.ptr[i];
        std::string key = kv.key.type == msgpack::type::STR
                              ? std::string(kv.key.via.str.ptr, kv.key.via.str.size)
                              : dumpJson(msgpackToJson(kv.key));
        out[key] = msgpackToJson(kv.val);
      }
      return out;
    }
  }
  return nullptr;
}

// Converts `o` to JSON while checking it against `schema` (key names and value types).
json msgpackChecked(const msgpack::object& o, const Schema& schema, const std::string& path,
                    Errors& errors) {
  if (o.type != msgpack::type::MAP) {
    errors.add("{}: expected a map ({}), got {}", path, schema.name, msgpackTypeName(o));
    return msgpackToJson(o);
  }
  json out = json::object();
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const msgpack::object_kv& kv = o.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) {
      errors.add("{}: a key is a {}, not a str", path, msgpackTypeName(kv.key));
      continue;
    }
    std::string key(kv.key.via.str.ptr, kv.key.via.str.size);
    std::string field_path = path + "." + key;
    if (out.contains(key)) {
      errors.add("{}: duplicate key", field_path);
    }
    auto spec = std::find_if(schema.fields.begin(), schema.fields.end(),
                             [&key](const FieldSpec& f) { return f.key == key; });
    if (spec == schema.fields.end()) {
      errors.add("{}: unknown key in {}", field_path, schema.name);
      out[key] = msgpackToJson(kv.val);
      continue;
    }
    const msgpack::object& v = kv.val;
    auto expect = [&](bool ok, std::string_view what) {
      if (!ok) {
        errors.add("{}: expected {}, got {}", field_path, what, msgpackTypeName(v));
      }
      return ok;
    };
    switch (spec->kind) {
      case Kind::kStr:
        expect(v.type == msgpack::type::STR, "str");
        out[key] = msgpackToJson(v);
        break;
      case Kind::kBool:
        expect(v.type == msgpack::type::BOOLEAN, "bool");
        out[key] = msgpackToJson(v);
        break;
      case Kind::kUint:
        expect(v.type == msgpack::type::POSITIVE_INTEGER, "uint");
        out[key] = msgpackToJson(v);
        break;
      case Kind::kInt:
        expect(
            v.type == msgpack::type::POSITIVE_INTEGER || v.type == msgpack::type::NEGATIVE_INTEGER,
            "int");
        out[key] = msgpackToJson(v);
        break;
      case Kind::kStrArray:
        if (expect(v.type == msgpack::type::ARRAY || v.type == msgpack::type::NIL,
                   "array of str")) {
          for (uint32_t k = 0; v.type == msgpack::type::ARRAY && k < v.via.array.size; ++k) {
            if (v.via.array.ptr[k].type != msgpack::type::STR) {
              errors.add("{}[{}]: expected str, got {}", field_path, k,
                         msgpackTypeName(v.via.array.ptr[k]));
            }
          }
        }
        out[key] = msgpackToJson(v);
        break;
      case Kind::kObjArray:
        if (v.type == msgpack::type::ARRAY) {
          json list = json::array();
          for (uint32_t k = 0; k < v.via.array.size; ++k) {
            list.push_back(msgpackChecked(v.via.array.ptr[k], *spec->sub,
                                          fmt::format("{}[{}]", field_path, k), errors));
          }
          out[key] = std::move(list);
        } else {
          expect(v.type == msgpack::type::NIL, "array");
          out[key] = msgpackToJson(v);
        }
        break;
      case Kind::kSketchBin:
        if (v.type == msgpack::type::BIN) {
          ddsketch::DDSketch sketch;
          json decoded;
          std::string error;
          if (!sketch.ParseFromArray(v.via.bin.ptr, static_cast<int>(v.via.bin.size))) {
            errors.add("{}: not a valid ddsketch.DDSketch protobuf", field_path);
            out[key] = msgpackToJson(v);
          } else if (!protoToJson(sketch, &decoded, &error)) {
            errors.add("{}: {}", field_path, error);
            out[key] = msgpackToJson(v);
          } else {
            out[key] = std::move(decoded);
          }
        } else {
          expect(v.type == msgpack::type::NIL, "bin (DDSketch protobuf)");
          out[key] = msgpackToJson(v);
        }
        break;
    }
  }
  return out;
}

void decodeStats(std::string_view raw, Decoded* d) {
  std::size_t off = 0;
  msgpack::object_handle oh;
  // Every element takes at least one byte, so no count can honestly exceed the body size; the
  // limits stop a forged length from allocating gigabytes.
  msgpack::unpack_limit limit(raw.size(), raw.size(), raw.size(), raw.size(), raw.size(),
                              kMaxMsgpackDepth);
  try {
    oh = msgpack::unpack(raw.data(), raw.size(), off, nullptr, nullptr, limit);
  } catch (const std::exception& e) {
    d->errors.push_back(fmt::format("body is not valid msgpack: {}", e.what()));
    return;
  }
  Errors errors(&d->errors);
  if (off != raw.size()) {
    errors.add("{} trailing bytes after the msgpack value", raw.size() - off);
  }
  d->json = msgpackChecked(oh.get(), kStatsPayload, "StatsPayload", errors);
}

HttpResponse errorResponse(int status, const std::vector<std::string>& errors) {
  return jsonResponse(status, dumpJson(json{{"errors", errors}}));
}

}  // namespace

// -----------------------------------------------------------------------------------------------

const std::vector<Route>& routes() {
  static const std::vector<Route> kRoutes = {
      {"/api/v2/series", "POST", BodyFormat::kMetricPayload, "application/x-protobuf", 202,
       kMetricsOk, 512'000, 5'242'880},
      {"/api/v1/series", "POST", BodyFormat::kJson, "application/json", 202, kMetricsOk, 3'200'000,
       62'914'560},
      {"/api/beta/sketches", "POST", BodyFormat::kSketchPayload, "application/x-protobuf", 202,
       kMetricsOk},
      {"/api/v1/check_run", "POST", BodyFormat::kJson, "application/json", 202, kMetricsOk},
      {"/intake/", "POST", BodyFormat::kJson, "application/json", 202, kMetricsOk},
      {"/api/v1/metadata", "POST", BodyFormat::kJson, "application/json", 202, kMetricsOk},
      {"/api/v2/host_metadata", "POST", BodyFormat::kJson, "application/json", 202, kMetricsOk},
      {"/api/v1/validate", "GET", BodyFormat::kNone, "", 200, R"({"valid":true})"},
      {"/api/v2/logs", "POST", BodyFormat::kJson, "application/json", 202, "{}", 0, 0, 1000},
      {"/v1/input", "POST", BodyFormat::kJson, "application/json", 202, "{}", 0, 0, 1000},
      {"/api/v0.2/traces", "POST", BodyFormat::kAgentPayload, "application/x-protobuf", 200, "{}"},
      {"/api/v0.2/stats", "POST", BodyFormat::kStatsMsgpack, "application/msgpack", 200, "{}"},
  };
  return kRoutes;
}

const Route* findRoute(std::string_view path) {
  if (path == "/intake") {
    path = "/intake/";
  }
  for (const Route& r : routes()) {
    if (r.path == path) {
      return &r;
    }
  }
  return nullptr;
}

std::string canonicalRoute(std::string_view path) {
  const Route* r = findRoute(path);
  return std::string(r != nullptr ? r->path : path);
}

bool decompress(std::string_view encoding, std::string_view body, size_t max_bytes,
                std::string* out, std::string* error) {
  out->clear();
  std::string enc = lower(trim(encoding));
  if (enc.empty() || enc == "identity") {
    if (body.size() > max_bytes) {
      *error = fmt::format("body exceeds {} bytes", max_bytes);
      return false;
    }
    out->assign(body);
    return true;
  }
  if (enc == "zstd") {
    return decompressZstd(body, max_bytes, out, error);
  }
  if (enc == "gzip" || enc == "deflate") {
    return decompressZlib(body, enc == "gzip", max_bytes, out, error);
  }
  *error = fmt::format(
      "unsupported Content-Encoding \"{}\" (expected zstd, gzip, deflate or "
      "identity)",
      encoding);
  return false;
}

Decoded decodeBody(const Route& route, std::string_view content_type, std::string_view raw) {
  Decoded d;
  std::string media = mediaType(content_type);
  switch (route.format) {
    case BodyFormat::kNone:
      break;
    case BodyFormat::kMetricPayload:
      if (media == "application/json") {  // the public API's JSON form (§2.4)
        if (parseJson(raw, &d)) {
          checkSeriesV2Json(d.json, &d);
        }
        break;
      }
      {
        datadog::agentpayload::MetricPayload msg;
        if (parseProto(raw, &msg, &d)) {
          checkMetricPayload(msg, &d);
        }
      }
      break;
    case BodyFormat::kSketchPayload: {
      datadog::agentpayload::SketchPayload msg;
      if (parseProto(raw, &msg, &d)) {
        checkSketchPayload(msg, &d);
      }
      break;
    }
    case BodyFormat::kAgentPayload: {
      pb::AgentPayload msg;
      parseProto(raw, &msg, &d);
      break;
    }
    case BodyFormat::kStatsMsgpack:
      decodeStats(raw, &d);
      break;
    case BodyFormat::kJson:
      if (!parseJson(raw, &d)) {
        break;
      }
      if (route.path == "/api/v1/series") {
        checkSeriesV1(d.json, &d);
      } else if (route.path == "/api/v1/check_run") {
        checkCheckRuns(d.json, &d);
      } else if (route.path == "/intake/") {
        checkIntake(d.json, &d);
      } else if (route.path == "/api/v2/logs" || route.path == "/v1/input") {
        checkLogs(d.json, route, &d);
      } else {
        checkObject(d.json, &d);
      }
      break;
  }
  return d;
}

std::string_view Payload::header(std::string_view lower_name) const {
  return findHeader(headers, lower_name);
}

Processed processRequest(const HttpRequest& request, const ValidationOptions& options,
                         int64_t now_ms) {
  Processed out;
  Payload& p = out.payload;
  p.route = canonicalRoute(request.path);
  p.method = request.method;
  p.target = request.target;
  p.received_ms = now_ms;
  p.headers = request.headers;
  p.content_type = std::string(findHeader(request.headers, "content-type"));
  p.content_encoding = lower(trim(findHeader(request.headers, "content-encoding")));
  p.compressed_size = request.body.size();

  const Route* route = findRoute(request.path);
  if (route == nullptr) {
    p.raw = request.body;
    p.decompressed_size = p.raw.size();
    p.errors.push_back(fmt::format("no intake route {} {}", request.method, request.path));
    out.response = errorResponse(404, p.errors);
    return out;
  }
  if (request.method != route->method) {
    p.raw = request.body;
    p.decompressed_size = p.raw.size();
    p.errors.push_back(fmt::format("method {} not allowed on {} (expected {})", request.method,
                                   route->path, route->method));
    out.response = errorResponse(405, p.errors);
    out.response.headers.emplace_back("Allow", std::string(route->method));
    return out;
  }

  int status = 0;  // of the first error
  auto fail = [&](int s, std::string message) {
    if (status == 0) {
      status = s;
    }
    p.errors.push_back(std::move(message));
  };

  // The real intake checks the key before anything else: 403 for a key it does not know.
  // Outpost's intake answers a missing key 400 like any other bad request, except on
  // /api/v1/validate, which answers 403.
  std::string_view key = findHeader(request.headers, "dd-api-key");
  if (key.empty()) {
    fail(route->format == BodyFormat::kNone ? 403 : 400, "missing DD-API-KEY header");
  } else if (options.invalid_api_keys.count(std::string(key)) != 0) {
    fail(403, "invalid API key (configured as invalid)");
  }

  if (route->format == BodyFormat::kNone) {
    p.raw = request.body;
    p.decompressed_size = p.raw.size();
    p.valid = p.errors.empty();
    out.response = p.valid ? jsonResponse(route->ok_status, std::string(route->ok_body))
                           : errorResponse(status, p.errors);
    return out;
  }

  std::string media = mediaType(p.content_type);
  if (media.empty()) {
    fail(400, fmt::format("missing Content-Type header (expected {})", route->content_type));
  } else if (media != route->content_type &&
             !(route->format == BodyFormat::kMetricPayload && media == "application/json")) {
    fail(400,
         fmt::format("Content-Type is \"{}\", expected {}", p.content_type, route->content_type));
  }

  if (options.enforce_intake_limits && route->max_compressed != 0 &&
      request.body.size() > route->max_compressed) {
    fail(413, fmt::format("compressed body of {} bytes exceeds the intake's {} bytes",
                          request.body.size(), route->max_compressed));
  }

  std::string error;
  bool decompressed =
      decompress(p.content_encoding, request.body, options.max_decompressed_bytes, &p.raw, &error);
  if (!decompressed) {
    fail(400, fmt::format("Content-Encoding \"{}\": {}", p.content_encoding, error));
    p.raw = request.body;
  }
  p.decompressed_size = p.raw.size();
  if (decompressed) {
    if (options.enforce_intake_limits && route->max_decompressed != 0 &&
        p.raw.size() > route->max_decompressed) {
      fail(413, fmt::format("decompressed body of {} bytes exceeds the intake's {} bytes",
                            p.raw.size(), route->max_decompressed));
    }
    Decoded d = decodeBody(*route, media, p.raw);
    p.decoded = std::move(d.json);
    for (std::string& e : d.errors) {
      fail(d.too_large && options.enforce_intake_limits ? 413 : 400, std::move(e));
    }
  }

  p.valid = p.errors.empty();
  out.response = p.valid ? jsonResponse(route->ok_status, std::string(route->ok_body))
                         : errorResponse(status, p.errors);
  return out;
}

json toJson(const Payload& p, bool include_raw) {
  json headers = json::object();
  for (const auto& [name, value] : p.headers) {
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = value;
    } else {
      *it = it->get<std::string>() + ", " + value;
    }
  }
  json out = {
      {"seq", p.seq},
      {"route", p.route},
      {"method", p.method},
      {"target", p.target},
      {"received_ms", p.received_ms},
      {"headers", std::move(headers)},
      {"content_type", p.content_type},
      {"content_encoding", p.content_encoding},
      {"compressed_size", p.compressed_size},
      {"decompressed_size", p.decompressed_size},
      {"decoded", p.decoded},
      {"valid", p.valid},
      {"errors", p.errors},
      {"status", p.status},
      {"faulted", p.faulted},
  };
  if (include_raw) {
    out["raw_base64"] = base64Encode(p.raw);
  }
  return out;
}

std::string base64Encode(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8) |
                 static_cast<uint8_t>(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    uint32_t n = (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string dumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse jsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

}  // namespace outpost::fakeintake
