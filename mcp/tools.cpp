#include "mcp/tools.h"

#include <grp.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "collector/query/query_client.h"

namespace outpost::mcp {
namespace {

using nlohmann::json;

// --- schemas ---------------------------------------------------------------------------------

json str(std::string description) {
  return {{"type", "string"}, {"description", description}};
}
json boolean(std::string description) {
  return {{"type", "boolean"}, {"description", description}};
}
json integer(std::string description, int64_t lo, int64_t hi) {
  return {{"type", "integer"}, {"description", description}, {"minimum", lo}, {"maximum", hi}};
}
json oneOf(std::string description, std::vector<std::string> values) {
  return {{"type", "string"}, {"description", description}, {"enum", values}};
}
json object(json properties, std::vector<std::string> required = {}) {
  json o = {
      {"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) {
    o["required"] = required;
  }
  return o;
}
// An output: an object with these (documented) fields and whatever else the socket answers.
json output(json properties) {
  return {{"type", "object"}, {"properties", std::move(properties)}};
}
json listOutput(const char* list_field, const char* item_description) {
  return output({{list_field, {{"type", "array"}, {"description", item_description}}},
                 {"truncated", {{"type", "boolean"}}},
                 {"next_cursor", {{"type", {"string", "null"}}}},
                 {"hints", {{"type", "array"}, {"items", {{"type", "string"}}}}}});
}

constexpr const char* kTimeHelp =
    "RFC 3339 (2026-11-22T09:10:00Z), epoch milliseconds as digits, or relative (now, -15m, "
    "now-2h, -1d)";

// --- calling the socket ----------------------------------------------------------------------

// Why the socket could not be reached, as something a person (or an agent) can act on.
std::string unreachable(const query::ClientResult& r, const std::string& socket) {
  if (r.error_number == ENOENT || r.error_number == ECONNREFUSED) {
    return fmt::format(
        "outpost is not running (nothing answers at {}): is outpost running? try `systemctl "
        "status outpost`; or point outpost-mcp at another socket with --socket",
        socket);
  }
  if (r.error_number == EACCES || r.error_number == EPERM) {
    struct stat st {};
    std::string owner = "outpost";
    if (::stat(socket.c_str(), &st) == 0) {
      if (const struct group* g = ::getgrgid(st.st_gid)) {
        owner = g->gr_name;
      }
    }
    return fmt::format(
        "permission denied on {}: the query socket is for members of group '{}' (`sudo "
        "usermod -aG {} $USER`, then log in again)",
        socket, owner, owner);
  }
  if (r.error_number == ECANCELED) {
    return "cancelled";
  }
  return fmt::format("the query socket {} did not answer: {}", socket, r.error);
}

ToolResult errorResult(std::string message) {
  ToolResult t;
  t.is_error = true;
  t.text = message;
  t.structured = {{"error", std::move(message)}};
  return t;
}

// One call; a 2xx JSON answer becomes the result, anything else an error result.
ToolResult call(const ToolContext& ctx, std::string_view method, const std::string& target,
                const json& body = nullptr) {
  const auto r =
      query::queryRequest(ctx.socket_path, method, target,
                          body.is_null() ? std::string() : body.dump(), ctx.timeout, ctx.cancel);
  if (!r.ok) {
    return errorResult(unreachable(r, ctx.socket_path));
  }
  json j = json::parse(r.body, nullptr, false);
  if (r.status < 200 || r.status >= 300) {
    std::string why = fmt::format("outpost answered {}", r.status);
    if (j.is_object() && j.contains("error")) {
      why += ": " + j.value("error", std::string()) + ": " + j.value("detail", std::string());
    }
    return errorResult(why);
  }
  if (!j.is_object()) {
    return errorResult("outpost answered something that is not a JSON object");
  }
  ToolResult t;
  t.structured = std::move(j);
  return t;
}

// Copies the arguments named in `keys` that are present.
json pick(const json& args, std::initializer_list<const char*> keys) {
  json out = json::object();
  for (const char* k : keys) {
    if (args.contains(k)) {
      out[k] = args[k];
    }
  }
  return out;
}

std::string queryString(const json& params) {
  std::string q;
  for (const auto& [k, v] : params.items()) {
    q += q.empty() ? "?" : "&";
    q += query::urlEncode(k) + "=" +
         query::urlEncode(v.is_string() ? v.get<std::string>() : v.dump());
  }
  return q;
}

// List results always say whether there is more and how to get it.
void listShape(ToolResult& t, const char* list_field, const char* empty_hint) {
  if (t.is_error) {
    return;
  }
  json& s = t.structured;
  if (!s.contains("truncated")) {
    s["truncated"] = false;
  }
  if (!s.contains("next_cursor") || (s["next_cursor"].is_string() && s["next_cursor"] == "")) {
    s["next_cursor"] = nullptr;
  }
  if (s.contains(list_field) && s[list_field].is_array() && s[list_field].empty() &&
      !s.contains("hints")) {
    s["hints"] = json::array({empty_hint});
  }
}

// --- the tools -------------------------------------------------------------------------------

ToolResult searchLogs(const json& args, const ToolContext& ctx) {
  json body = pick(args, {"query", "regex", "case_insensitive", "from", "to", "service", "source",
                          "path", "status", "order", "cursor"});
  body["limit"] = args.value("limit", 50);
  if (!body.contains("from")) {
    body["from"] = "-15m";
  }
  if (args.contains("max_message_chars")) {
    body["max_line_bytes"] = args["max_message_chars"];
  }
  ToolResult t = call(ctx, "POST", "/v1/logs/search", body);
  listShape(t, "results",
            "no line matched in that range: widen from/to (default: the last 15 minutes), drop "
            "a filter, or try case_insensitive; list_log_sources shows what is searched");
  return t;
}

ToolResult aggregateLogs(const json& args, const ToolContext& ctx) {
  ToolResult t = call(ctx, "POST", "/v1/logs/aggregate",
                      pick(args, {"query", "regex", "case_insensitive", "from", "to", "service",
                                  "source", "path", "group_by", "interval_s", "top"}));
  listShape(t, "groups",
            "no line matched in that range: widen from/to (default: the last 15 minutes) or "
            "drop a filter");
  return t;
}

ToolResult readSearchResults(const json& args, const ToolContext& ctx) {
  ToolResult t = call(ctx, "GET",
                      "/v1/logs/results/" + query::urlEncode(args["result_id"].get<std::string>()) +
                          queryString(pick(args, {"cursor", "limit"})));
  listShape(t, "results", "no more kept results");
  return t;
}

ToolResult tailLogs(const json& args, const ToolContext& ctx) {
  ToolResult t = call(ctx, "POST", "/v1/logs/tail",
                      pick(args, {"service", "source", "path", "lines", "status", "contains"}));
  listShape(t, "lines", "no recent line with these filters");
  return t;
}

ToolResult listLogSources(const json&, const ToolContext& ctx) {
  return call(ctx, "GET", "/v1/logs/sources");
}

ToolResult queryMetrics(const json& args, const ToolContext& ctx) {
  json body = pick(args, {"query", "from", "to", "max_series"});
  if (!body.contains("query")) {
    // metric + filter + group_by + aggregation, put together in the query syntax.
    if (!args.contains("metric")) {
      return errorResult("give either query (avg:system.cpu.user{host:a} by {device}) or metric");
    }
    std::string q = args.value("aggregation", "avg") + ":" + args["metric"].get<std::string>() +
                    "{" + args.value("filter", "*") + "}";
    if (args.contains("group_by")) {
      q += " by {" + args["group_by"].get<std::string>() + "}";
    }
    if (args.contains("rollup_s")) {
      q += fmt::format(".rollup({}, {})", args.value("aggregation", "avg"),
                       args["rollup_s"].get<int64_t>());
    }
    body["query"] = q;
  } else if (args.contains("rollup_s") &&
             body["query"].get<std::string>().find(".rollup(") == std::string::npos) {
    body["query"] = fmt::format("{}.rollup(avg, {})", body["query"].get<std::string>(),
                                args["rollup_s"].get<int64_t>());
  }
  ToolResult t = call(ctx, "POST", "/v1/metrics/query", body);
  listShape(t, "series",
            "no series matched: list_metrics shows the metric names and their tags; the store "
            "keeps query.metrics_retention (1 h by default)");
  return t;
}

ToolResult listMetrics(const json& args, const ToolContext& ctx) {
  ToolResult t = call(
      ctx, "GET",
      "/v1/metrics/list" + queryString(pick(args, {"prefix", "tag_filter", "limit", "cursor"})));
  listShape(t, "metrics", "no metric with that prefix and tags");
  return t;
}

ToolResult searchTraces(const json& args, const ToolContext& ctx) {
  ToolResult t = call(ctx, "POST", "/v1/traces",
                      pick(args, {"service", "operation", "resource", "min_duration_ms",
                                  "error_only", "from", "to", "sort", "limit", "cursor"}));
  listShape(t, "traces",
            "no kept trace matched: only sampled traces are kept (query.traces_max_bytes); "
            "widen the time range or drop a filter");
  return t;
}

ToolResult getTrace(const json& args, const ToolContext& ctx) {
  return call(ctx, "GET",
              "/v1/traces/" + query::urlEncode(args["trace_id"].get<std::string>()) +
                  queryString(pick(args, {"max_spans", "include_meta"})));
}

ToolResult agentStatus(const json& args, const ToolContext& ctx) {
  return call(ctx, "GET", "/v1/status" + queryString(pick(args, {"section"})));
}

ToolResult listChecks(const json&, const ToolContext& ctx) {
  return call(ctx, "GET", "/v1/checks");
}

const json kSearchOutput = listOutput("results", "matching lines: file, line_number, timestamp");

std::vector<Tool> makeTools() {
  std::vector<Tool> t;
  t.push_back(
      {"search_logs", "Search log files",
       "Searches the host's log files (every file the logs configuration covers and their "
       "rotations, .gz and .zst included) for lines containing a literal (or matching a regex), "
       "in a time range (default: the last 15 minutes), optionally of one status. Results in "
       "file order (oldest first), or with order desc the last ones first, with file, line "
       "number and timestamp; next_cursor continues; result_id names more results kept "
       "(read_search_results).",
       object({{"query", str("the text to find (a literal unless regex is true; empty: every "
                             "line)")},
               {"regex", boolean("query is an RE2 regular expression")},
               {"case_insensitive", boolean("ignore case")},
               {"from", str(std::string("start of the range: ") + kTimeHelp)},
               {"to", str(std::string("end of the range (default now): ") + kTimeHelp)},
               {"service", str("only files of log sources with this service")},
               {"source", str("only files of log sources with this source")},
               {"path", str("only files whose path contains this")},
               {"status", oneOf("only lines of this status (syslog priority or a JSON "
                                "level/status field; lines with neither are info)",
                                {"emergency", "alert", "critical", "error", "warning", "notice",
                                 "info", "debug"})},
               {"order", oneOf("asc: oldest first (default); desc: the newest first "
                               "(each file from its last line, the newest file first)",
                               {"asc", "desc"})},
               {"limit", integer("results in this answer (default 50)", 1, 500)},
               {"cursor", str("next_cursor of the previous answer")},
               {"max_message_chars", integer("longer lines are cut (default 4096)", 16, 65536)}},
              {"query"}),
       kSearchOutput, searchLogs});
  t.push_back({"read_search_results", "Read kept search results",
               "Reads, page by page, the results a search_logs call found beyond its limit "
               "(its result_id). The last page gives search_cursor to search on.",
               object({{"result_id", str("result_id of a search_logs answer")},
                       {"cursor", str("next_cursor of the previous page")},
                       {"limit", integer("results in this page (default 100)", 1, 1000)}},
                      {"result_id"}),
               listOutput("results", "kept matching lines"), readSearchResults});
  t.push_back(
      {"aggregate_logs", "Count log lines over time",
       "Counts the lines matching a query in the host's log files per time bucket, grouped by "
       "service, source, path or status (syslog priority or a JSON level), biggest groups "
       "first: trends without reading samples.",
       object(
           {{"query", str("the text to count (a literal unless regex is true)")},
            {"regex", boolean("query is an RE2 regular expression")},
            {"case_insensitive", boolean("ignore case")},
            {"from", str(std::string("start of the range (default -15m): ") + kTimeHelp)},
            {"to", str(std::string("end of the range (default now): ") + kTimeHelp)},
            {"group_by",
             oneOf("what to group by (default service)", {"service", "source", "path", "status"})},
            {"interval_s", integer("seconds per bucket (default: at most 60 buckets)", 1, 86400)},
            {"top", integer("groups returned, biggest first (default 10)", 1, 1000)},
            {"service", str("only files of log sources with this service")},
            {"source", str("only files of log sources with this source")},
            {"path", str("only files whose path contains this")}},
           {"query"}),
       listOutput("groups", "per group: key, total, counts [[bucket_start_ms, lines]]"),
       aggregateLogs});
  t.push_back(
      {"tail_logs", "Recent log lines",
       "The newest lines the agent's logs pipeline processed (after its processing "
       "rules), oldest first, filtered by service, source, path or status.",
       object({{"service", str("only this service")},
               {"source", str("only this source")},
               {"path", str("only files whose path contains this")},
               {"status", oneOf("only this status", {"emergency", "alert", "critical", "error",
                                                     "warn", "notice", "info", "debug"})},
               {"contains", str("only lines containing this")},
               {"lines", integer("how many (default 100)", 1, 1000)}}),
       listOutput("lines", "recent lines: message, status, service, path, timestamp"), tailLogs});
  t.push_back({"list_log_sources", "Log sources",
               "Every log source of the configuration with its files and rotations (size, "
               "modification time) and, for the tailed ones, offsets and lag.",
               object(json::object()), output({{"sources", {{"type", "array"}}}}), listLogSources});
  t.push_back(
      {"query_metrics", "Query metrics",
       "Queries the last hour (query.metrics_retention) of the host's metrics at 10 s "
       "resolution with the Datadog query syntax, e.g. avg:system.cpu.user{host:a,!device:sda} "
       "by {device}.rollup(max, 60); or give metric, filter, group_by and aggregation.",
       object({{"query", str("a Datadog metric query")},
               {"metric", str("a metric name (instead of query)")},
               {"filter", str("tag filters as in the braces of a query: host:a,!env:dev")},
               {"group_by", str("tag keys to group by, comma-separated")},
               {"aggregation", oneOf("space and rollup aggregation (default avg)",
                                     {"avg", "sum", "min", "max", "count"})},
               {"from", str(std::string("start (default -15m): ") + kTimeHelp)},
               {"to", str(std::string("end (default now): ") + kTimeHelp)},
               {"rollup_s", integer("seconds per point", 10, 86400)},
               {"max_series", integer("groups returned (default 100)", 1, 1000)}}),
       listOutput("series", "one per group: points [[ts_ms, value]], summary"), queryMetrics});
  t.push_back({"list_metrics", "List metrics",
               "Metric names the store holds, with a prefix and tag filter, paged.",
               object({{"prefix", str("names starting with this")},
                       {"tag_filter", str("host:a,!device:sda")},
                       {"limit", integer("names per page (default 100)", 1, 1000)},
                       {"cursor", str("next_cursor of the previous page")}}),
               listOutput("metrics", "metric names with their tag keys"), listMetrics});
  t.push_back(
      {"search_traces", "Search traces",
       "Recent sampled APM traces the agent received, filtered by service, operation, resource "
       "substring, minimum duration, errors and time; newest, oldest or slowest first.",
       object({{"service", str("a span of this service")},
               {"operation", str("a span with this operation name")},
               {"resource", str("a span whose resource contains this")},
               {"min_duration_ms", integer("traces at least this long", 0, 86400000)},
               {"error_only", boolean("only traces with an error")},
               {"from", str(std::string("start: ") + kTimeHelp)},
               {"to", str(std::string("end: ") + kTimeHelp)},
               {"sort", oneOf("order (default newest)", {"newest", "oldest", "slowest"})},
               {"limit", integer("traces per answer (default 20)", 1, 500)},
               {"cursor", str("next_cursor of the previous answer")}}),
       listOutput("traces", "trace summaries: trace_id, root, duration, error"), searchTraces});
  t.push_back({"get_trace", "Get a trace",
               "One trace's span tree (depth, service, name, resource, duration, error, meta "
               "and metrics).",
               object({{"trace_id", str("decimal or 0x-hex trace id")},
                       {"max_spans", integer("spans returned (default 1000)", 1, 100000)},
                       {"include_meta", boolean("include span meta and metrics (default true)")}},
                      {"trace_id"}),
               output({{"spans", {{"type", "array"}}}}), getTrace});
  t.push_back({"agent_status", "Agent status",
               "The agent's status: version, uptime, forwarding, forwarder endpoints, log "
               "files and their lag, checks, DogStatsD, searches, every bounded queue, buffer, "
               "store and cache against its limit (section resources), internal counters.",
               object({{"section", str("only this section (forwarder, logs, checks, ...)")}}),
               output({{"version", {{"type", "string"}}}}), agentStatus});
  t.push_back({"list_checks", "Host checks",
               "The host checks (cpu, memory, disk, io, network, load ...) with their last run, "
               "duration, series and error.",
               object(json::object()), output({{"instances", {{"type", "array"}}}}), listChecks});
  return t;
}

}  // namespace

const std::vector<Tool>& tools() {
  static const std::vector<Tool> all = makeTools();
  return all;
}

const Tool* findTool(const std::string& name) {
  for (const auto& t : tools()) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

json describe(const Tool& tool) {
  return {{"name", tool.name},
          {"title", tool.title},
          {"description", tool.description},
          {"inputSchema", tool.input_schema},
          {"outputSchema", tool.output_schema},
          {"annotations",
           {{"title", tool.title},
            {"readOnlyHint", true},
            {"destructiveHint", false},
            {"idempotentHint", true},
            {"openWorldHint", false}}}};
}

bool validateArgs(const json& args, const json& schema, std::string* error) {
  if (!args.is_object()) {
    *error = "arguments must be an object";
    return false;
  }
  const json& props = schema["properties"];
  for (const auto& [key, value] : args.items()) {
    if (!props.contains(key)) {
      std::string known;
      for (const auto& [k, v] : props.items()) {
        known += known.empty() ? k : ", " + k;
      }
      *error =
          fmt::format("unknown argument '{}' (arguments: {})", key, known.empty() ? "none" : known);
      return false;
    }
    const json& p = props[key];
    const std::string type = p["type"];
    const bool ok = type == "string"    ? value.is_string()
                    : type == "boolean" ? value.is_boolean()
                    : type == "integer" ? value.is_number_integer()
                                        : true;
    if (!ok) {
      *error = fmt::format("argument '{}' must be a{} {}", key, type == "integer" ? "n" : "", type);
      return false;
    }
    if (type == "integer" && (value.get<int64_t>() < p["minimum"].get<int64_t>() ||
                              value.get<int64_t>() > p["maximum"].get<int64_t>())) {
      *error = fmt::format("argument '{}' must be from {} to {}", key, p["minimum"].dump(),
                           p["maximum"].dump());
      return false;
    }
    if (p.contains("enum")) {
      bool found = false;
      for (const auto& e : p["enum"]) {
        found = found || e == value;
      }
      if (!found) {
        *error = fmt::format("argument '{}' must be one of {}", key, p["enum"].dump());
        return false;
      }
    }
  }
  if (schema.contains("required")) {
    for (const auto& r : schema["required"]) {
      if (!args.contains(r.get<std::string>())) {
        *error = fmt::format("argument '{}' is required", r.get<std::string>());
        return false;
      }
    }
  }
  return true;
}

void fitBudget(json& result, size_t max_bytes) {
  auto size = [&] { return result.dump(-1, ' ', false, json::error_handler_t::replace).size(); };
  if (!result.is_object() || size() <= max_bytes) {
    return;
  }
  // The largest array at the top level (results, lines, series, traces, spans, sources...).
  std::string list;
  size_t list_bytes = 0;
  for (const auto& [k, v] : result.items()) {
    if (v.is_array()) {
      const size_t b = v.dump(-1, ' ', false, json::error_handler_t::replace).size();
      if (b > list_bytes) {
        list = k;
        list_bytes = b;
      }
    }
  }
  if (list.empty()) {
    return;
  }
  json& arr = result[list];
  const size_t before = arr.size();
  // Halve, then step back up: few dumps of the whole result.
  size_t lo = 0;
  size_t hi = arr.size();
  const json full = arr;
  while (lo < hi) {
    const size_t mid = (lo + hi + 1) / 2;
    arr = json(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(mid));
    if (size() + 200 <= max_bytes) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  arr = json(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(lo));
  result["truncated"] = true;
  result["shown"] = lo;
  if (!result.contains("hints") || !result["hints"].is_array()) {
    result["hints"] = json::array();
  }
  result["hints"].push_back(fmt::format(
      "{} of {} {} shown: the answer was over outpost-mcp's --max-result-bytes ({}); ask for "
      "fewer (limit) or narrow the filters",
      lo, before, list, max_bytes));
}

ToolResult readResource(const std::string& uri, const ToolContext& ctx) {
  if (uri == "outpost://status") {
    return call(ctx, "GET", "/v1/status");
  }
  if (uri == "outpost://log-sources") {
    return call(ctx, "GET", "/v1/logs/sources");
  }
  if (uri == "outpost://config") {
    return call(ctx, "GET", "/v1/config");
  }
  const std::string trace_prefix = "outpost://trace/";
  if (uri.rfind(trace_prefix, 0) == 0 && uri.size() > trace_prefix.size()) {
    return call(ctx, "GET", "/v1/traces/" + query::urlEncode(uri.substr(trace_prefix.size())));
  }
  return errorResult("unknown resource " + uri);
}

}  // namespace outpost::mcp
