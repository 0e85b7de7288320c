#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/sources/logs/source_config.h"

// Search through the log files themselves (issue 8, /v1/logs/search): every file the logs
// configuration covers (its globs expanded) and their rotated siblings, oldest first, plain,
// .gz or .zst. Literal or regex (RE2) patterns, case-insensitive on request, several patterns
// ANDed on one line; service/source/path filters; results in file order with file, line number
// and byte offset; `limit` and an opaque cursor to continue. Reads in 4 MiB chunks; memmem for
// a case-sensitive literal, RE2 otherwise. Runs on a worker thread; `cancel` stops it between
// chunks.
namespace outpost::query {

struct SearchFile;

// Called for every matching line of a count_only search (its file, the line, its timestamp when
// it has one), from the search threads, two at once: the callee synchronises.
using MatchVisitor =
    std::function<void(const SearchFile&, std::string_view line, std::optional<int64_t> when)>;

struct SearchRequest {
  std::vector<std::string> patterns;  // ANDed; the first one is searched, the rest checked
  bool regex = false;
  bool case_insensitive = false;
  std::string service;
  std::string source;
  std::string path;  // a substring of the file path
  size_t limit = 100;
  size_t max_line_bytes = 4096;  // longer lines are cut in the answer (line_truncated)
  std::string cursor;
  bool count_only = false;  // count the matching lines (no limit), return no lines
  // Results to find beyond `limit` for the result store (/v1/logs/results/{id}), and a byte
  // bound on them (the store's budget).
  size_t keep = 1000;
  size_t keep_max_bytes = SIZE_MAX;
  // from/to (unix ms, inclusive): lines stamped outside are left out; in a time-ordered plain
  // file only the byte range between them is read (binary search on the timestamps).
  std::optional<int64_t> from_ms;
  std::optional<int64_t> to_ms;
  int64_t now_ms = 0;  // for relative times and year-less syslog stamps
  // A plain file range at least this long is searched in two halves at once (0: never).
  uint64_t split_bytes = 64u << 20;
  // With count_only: every matching line is also given to it (/v1/logs/aggregate).
  MatchVisitor on_match;
  // Only lines of this status ("error", ...: logs::detectStatus of the line), when set.
  std::string status;
  // The newest matches first: the range is read to its end keeping the last limit + keep
  // matches, and next_cursor goes on to older ones (a cursor of its own kind).
  bool newest_first = false;
};

// Validates a JSON request body: {"query": "..."} or {"patterns": [...]}, plus regex,
// case_insensitive, service, source, path, status, order ("asc" file order, the default, or
// "desc" newest first), limit (1-10000), keep (0-100000), max_line_bytes, cursor, count_only,
// from, to. An empty query matches every line (with status or a time range, say).
// (RFC 3339, epoch ms, or relative: "-15m", "now-2h"; `now_ms` is now). Unknown
// fields, wrong types, absurd limits and invalid regexes are errors (the reason in *error).
bool parseSearchRequest(const nlohmann::json& body, int64_t now_ms, SearchRequest* out,
                        std::string* error);

struct SearchFile {
  std::string path;
  std::string service;
  std::string source;
  bool compressed = false;  // .gz or .zst
};

// The files to search, in order: per file source, each file its glob names, preceded by its
// rotated siblings (oldest first); a file named twice is searched once.
std::vector<SearchFile> searchFiles(const std::vector<logs::LogSourceConfig>& sources,
                                    const SearchRequest& request);

struct SearchHit {
  std::string file;
  uint64_t line_number = 0;  // 1-based
  uint64_t offset = 0;       // of the line's first byte (in the decompressed stream)
  std::string line;
  bool line_truncated = false;
  std::optional<int64_t> time_ms;     // the line's own timestamp, when it has one
  bool line_number_relative = false;  // a time-range search began inside the file: unknown
  std::string service;
  std::string source;
};

struct SearchResult {
  std::vector<SearchHit> hits;
  uint64_t count = 0;       // count_only: the matching lines
  bool truncated = false;   // more matches after these: continue with next_cursor
  std::string next_cursor;  // empty when there is nothing more
  uint64_t scanned_bytes = 0;
  size_t files_scanned = 0;
  size_t files_split = 0;               // searched in two halves at once
  std::vector<std::string> unreadable;  // files that could not be read, with the reason
  bool cancelled = false;
  bool newest_first = false;  // hits newest first; next_cursor goes on to older ones
  // With from/to: files skipped whole (modified before `from`, or first stamped after `to`),
  // files searched by binary search, and files read whole without a time filter because no
  // line carries a timestamp we know.
  size_t files_skipped_by_time = 0;
  size_t files_binary_searched = 0;
  std::vector<std::string> no_timestamps;
};

SearchResult runSearch(const SearchRequest& request, const std::vector<SearchFile>& files,
                       const std::atomic<bool>* cancel = nullptr);

// The answer: the first `limit` results; when more were found, `truncated` and a next_cursor
// at the first result left out. Those beyond `limit` are not in it: see overflowJson.
nlohmann::json toJson(const SearchResult& r, size_t limit);
// The results beyond `limit` as a JSON array (for the result store), their encoded size in
// *bytes.
nlohmann::json overflowJson(const SearchResult& r, size_t limit, size_t* bytes);

// /v1/logs/sources: every log source with, for file sources, each file its glob names and the
// rotated siblings (size, modification time, compressed), merged with `tailed` (path → the
// pipeline's status of that file: offsets, lag, lines).
nlohmann::json describeSources(const std::vector<logs::LogSourceConfig>& sources,
                               const nlohmann::json& tailed);

}  // namespace outpost::query
