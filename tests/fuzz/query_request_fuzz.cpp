// libFuzzer target for the query socket's request parsing: any JSON body must be accepted or
// refused with a reason by parseSearchRequest (/v1/logs/search, /v1/logs/aggregate), never crash,
// throw or trip a sanitizer; every value must go through parseTimeArgJson (from/to) and every
// string through parseTimeArg, parseTraceId (/v1/traces/{id}) and parseQueryString (GET
// arguments). Asserted for an accepted search: limit in 1..10000, keep in 0..100000,
// max_line_bytes in 16..1 MiB, 1 to 16 patterns, from <= to when both are set and to - from
// representable (the aggregation and the binary search subtract them), desc order only without
// count_only. A refused one has a reason.
//
// Input: the request body (JSON); a body that is not JSON is given to the string parsers whole.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "collector/query/log_search.h"
#include "collector/query/timestamps.h"
#include "collector/query/trace_store.h"
#include "core/strings.h"

namespace {

using outpost::query::parseSearchRequest;
using outpost::query::parseTimeArg;
using outpost::query::parseTimeArgJson;
using outpost::query::SearchRequest;

// 2026-05-28T20:26:40Z, and the epoch itself (relative times then go negative).
constexpr int64_t kNowMs[] = {1'780'000'000'000, 0};

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void strings(std::string_view s) {
  for (int64_t now : kNowMs) {
    const auto t = parseTimeArg(s, now);
    check(s != "now" || t == now);
  }
  (void)outpost::query::parseTraceId(s);
  for (const auto& [k, v] : outpost::parseQueryString(s)) {
    check(k.size() + v.size() <= s.size());
  }
}

// Every string and every value (as a time) in the document, bounded in depth by the parser.
void walk(const nlohmann::json& v) {
  for (int64_t now : kNowMs) {
    (void)parseTimeArgJson(v, now);
  }
  if (v.is_string()) {
    strings(v.get_ref<const std::string&>());
  } else if (v.is_structured()) {
    for (const auto& [key, item] : v.items()) {
      strings(key);
      walk(item);
    }
  }
}

void search(const nlohmann::json& body, int64_t now) {
  SearchRequest r;
  std::string error;
  if (!parseSearchRequest(body, now, &r, &error)) {
    check(!error.empty());
    return;
  }
  check(r.now_ms == now);
  check(r.limit >= 1 && r.limit <= 10000);
  check(r.keep <= 100000);
  check(r.max_line_bytes >= 16 && r.max_line_bytes <= (1u << 20));
  check(!r.patterns.empty() && r.patterns.size() <= 16);
  for (const auto& p : r.patterns) {
    check(p.size() <= 4096 && (!p.empty() || r.patterns.size() == 1));
  }
  check(!r.newest_first || !r.count_only);
  if (r.from_ms && r.to_ms) {
    int64_t span = 0;
    check(*r.from_ms <= *r.to_ms);
    check(!__builtin_sub_overflow(*r.to_ms, *r.from_ms, &span));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json body = nlohmann::json::parse(text, nullptr, false);
  if (body.is_discarded()) {
    strings(text);
    return 0;
  }
  for (int64_t now : kNowMs) {
    search(body, now);
  }
  walk(body);
  return 0;
}
