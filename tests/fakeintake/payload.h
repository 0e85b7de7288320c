#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/http_server.h"

// The fake intake's request processing, without any server: the routes it accepts, body
// decompression and decoding, and validation. Everything here is a pure function, usable from
// any thread. The server around it is in fake_intake.h.

namespace outpost::fakeintake {

// How a route's body is decoded.
enum class BodyFormat {
  kNone,           // GET: no body
  kJson,           // any JSON value (checked further per route)
  kMetricPayload,  // protobuf datadog.agentpayload.MetricPayload
  kSketchPayload,  // protobuf datadog.agentpayload.SketchPayload
  kAgentPayload,   // protobuf pb.AgentPayload
  kStatsMsgpack,   // msgpack StatsPayload (PascalCase keys)
};

// One intake route (wire-formats.md §0, §2.1, §3.1, §5.1, §5.6).
struct Route {
  std::string_view path;    // canonical: "/intake/" (also matched without the slash)
  std::string_view method;  // "POST" or "GET"
  BodyFormat format;
  std::string_view content_type;  // expected media type, "" for GET
  int ok_status;                  // what the real intake answers on success
  std::string_view ok_body;
  // Intake limits (public API docs); past them the answer is 413. 0 = none.
  size_t max_compressed = 0;
  size_t max_decompressed = 0;
  size_t max_items = 0;  // JSON array entries (logs: 1000)
};

// Every route the fake intake accepts, in the order of the spec.
const std::vector<Route>& routes();
// The route for a request path, or nullptr. "/intake" and "/intake/" are one route.
const Route* findRoute(std::string_view path);
// The canonical name under which requests to `path` are recorded: a route's path, else `path`.
std::string canonicalRoute(std::string_view path);

// Decompresses `body` as `encoding` says: "" or "identity" (as is), "gzip" (one or more
// members), "deflate" (a zlib stream, RFC 1950) or "zstd" (one or more frames). The whole body
// must be consumed and the output must not exceed `max_bytes` (a zip bomb is cut off there).
// On failure returns false and sets *error.
bool decompress(std::string_view encoding, std::string_view body, size_t max_bytes,
                std::string* out, std::string* error);

struct Decoded {
  nlohmann::json json;  // null when the body could not be decoded at all
  std::vector<std::string> errors;
  // An error that the real intake would answer with 413 (too many items).
  bool too_large = false;
};

// Decodes a decompressed body for `route` (protobuf and msgpack become JSON; see README.md for
// the mapping) and checks what the route requires of it.
Decoded decodeBody(const Route& route, std::string_view content_type, std::string_view raw);

// One request as the fake intake recorded it.
struct Payload {
  uint64_t seq = 0;   // global order of arrival, from 1
  std::string route;  // canonical route, or the request path when unknown
  std::string method;
  std::string target;                                        // request target, with the query
  int64_t received_ms = 0;                                   // Unix milliseconds
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string content_type;                                  // as sent
  std::string content_encoding;                              // lower-case, "" when absent
  size_t compressed_size = 0;                                // body bytes as received
  size_t decompressed_size = 0;
  std::string raw;         // the decompressed body (the received one if that failed)
  nlohmann::json decoded;  // null when not decodable
  bool valid = false;
  std::vector<std::string> errors;
  int status = 0;        // the status answered; 0 when the connection was dropped
  bool faulted = false;  // answered by a scripted fault

  // First header with that (lower-case) name, or empty.
  std::string_view header(std::string_view lower_name) const;
  bool accepted() const { return status >= 200 && status < 300; }
};

// Settings of the checks, shared by the server and processRequest.
struct ValidationOptions {
  size_t max_decompressed_bytes = 64 * 1024 * 1024;
  bool enforce_intake_limits = true;       // the 413 limits of Route
  std::set<std::string> invalid_api_keys;  // answered 403, as the real intake does
};

struct Processed {
  Payload payload;  // seq and status are left for the caller
  HttpResponse response;
};

// Validates, decompresses and decodes one request to an intake route (or an unknown path,
// which is answered 404) and builds the real intake's answer: the route's success status, 400
// with {"errors":[...]} for a bad request, 403 for a key in invalid_api_keys, 413 past a limit.
Processed processRequest(const HttpRequest& request, const ValidationOptions& options,
                         int64_t now_ms);

// The readback form of a payload (GET /fakeintake/payloads). `raw` is base64 as "raw_base64";
// with include_raw false it is left out.
nlohmann::json toJson(const Payload& payload, bool include_raw = true);

std::string base64Encode(std::string_view data);
// A JSON body as the fake intake writes it (invalid UTF-8 replaced, never throws).
std::string dumpJson(const nlohmann::json& value);
HttpResponse jsonResponse(int status, std::string body);

}  // namespace outpost::fakeintake
