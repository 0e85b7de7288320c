#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector/sources/traces/span.h"

namespace re2 {
class RE2;
}

// Obfuscation by span type (wire-formats.md §4.14), so literals (passwords, ids, card numbers)
// in queries never leave the host, and resources group into stats: SQL literals become '?',
// Redis arguments '?', memcached values dropped, http.url query strings and digit paths on
// request. And apm_config.ignore_resources.
namespace outpost::traces {

struct ObfuscationOptions {  // apm_config.obfuscation.*
  bool sql = true;
  bool redis = true;
  bool memcached = true;
  bool http_remove_query_string = false;
  bool http_remove_paths_with_digits = false;
  bool credit_cards = false;
  // apm_config.obfuscation.cache.*: SQL queries already seen (tracers send the same
  // parameterized statements over and over) are answered from a bounded cache.
  bool cache = true;
  size_t cache_max_bytes = 5'000'000;
};

class Obfuscator {
 public:
  explicit Obfuscator(ObfuscationOptions o) : o_(o) {}
  const ObfuscationOptions& options() const { return o_; }

  struct CacheStats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    size_t entries = 0;
    size_t bytes = 0;
  };
  CacheStats cacheStats() const;

  // By span.type: "sql"/"cassandra": resource and meta sql.query (db.statement too) obfuscated;
  // "redis"/"valkey": redis.raw_command arguments and the resource quantized to its commands;
  // "memcached": memcached.command keeps its command word; "web"/"http": http.url as configured;
  // credit card numbers in meta values when configured. New strings go to the arena; a value
  // that does not change keeps its view.
  void obfuscateSpan(Span& span, Arena& arena) const;

  // SQL: string (also X'..', N'..', E'..' and $$dollar-quoted$$), number (signed, decimal,
  // exponent, hex) and boolean literals become '?'; comments go; tokens are separated by one
  // space; lists of only '?' collapse to ( ? ). Quoted identifiers and $1 placeholders stay.
  // Never leaks a literal: an unterminated quote swallows the rest of the query into '?'.
  static std::string obfuscateSql(std::string_view query);
  // Redis: each command (one per line) keeps its name and its first argument (the key, or the
  // sub-command of CONFIG, CLIENT, ...); the rest become one '?'. Commands without a key (AUTH,
  // EVAL, HELLO, ...) hide every argument; MSET/HSET keep their keys/fields and hide each value.
  static std::string obfuscateRedis(std::string_view raw_command);
  // The command names of a Redis raw command, upper case, space-separated, at most three then
  // "..." (the quantized resource).
  static std::string quantizeRedis(std::string_view raw_command);
  static std::string obfuscateHttpUrl(std::string_view url, bool remove_query,
                                      bool remove_digit_paths);

 private:
  // The SQL obfuscation of `text` (never empty: "?" for a query of only comments), from the
  // cache when it was seen before; new strings go to the arena.
  Str obfuscateSqlCached(Str text, Arena& arena) const;

  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct CachedSql {
    std::string obfuscated;
    bool unchanged = false;  // the query obfuscates to itself
  };

  ObfuscationOptions o_;
  // Bounded by cache_max_bytes (keys, values and a per-entry overhead): when the next entry
  // would not fit, the cache starts over empty. One thread (the loop) uses it.
  mutable std::unordered_map<std::string, CachedSql, TransparentHash, std::equal_to<>> sql_cache_;
  mutable size_t sql_cache_bytes_ = 0;
  mutable uint64_t cache_hits_ = 0;
  mutable uint64_t cache_misses_ = 0;
};

// apm_config.ignore_resources: RE2 patterns; a chunk whose root span's resource matches one is
// dropped.
class ResourceFilter {
 public:
  ResourceFilter();
  ~ResourceFilter();
  ResourceFilter(const ResourceFilter&) = delete;
  ResourceFilter& operator=(const ResourceFilter&) = delete;

  bool compile(const std::vector<std::string>& patterns, std::string* error);
  bool ignored(const TraceChunk& chunk) const;
  bool empty() const { return patterns_.empty(); }

 private:
  std::vector<std::unique_ptr<re2::RE2>> patterns_;
};

}  // namespace outpost::traces
