#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "collector/sources/logs/file_identity.h"

// Where tailing resumes (wire-formats.md §3.9, "the auditor"): per source key, the offset just
// past the last byte whose batch the intake acknowledged. Kept in memory, written to
// <run_path>/registry.json (every second by the caller) in the Datadog Agent's Version 2
// layout, so a registry moves between the Agent and Outpost:
//
//   {"Version":2,"Registry":{"file:/var/log/app.log":{
//      "LastUpdated":"2024-05-01T12:00:00.123456Z", "Offset":"123456", "TailingMode":"end",
//      "IngestionTimestamp":1714564800123456789,
//      "Identity":{"Device":2049,"Inode":1234,"Fingerprint":"<16 hex>","FingerprintLength":1024},
//      "Path":"/var/log/app.log", "Cursor":"s=..."}}}
//
// Identity, Path and Cursor are ours (the Agent ignores them) and omitted when empty. Keys:
// "file:<absolute path>", "journald:<id>", ... as the sources choose. Not thread-safe: one
// owner (the logs pipeline's loop).
namespace outpost::logs {

struct RegistryEntry {
  uint64_t offset = 0;
  std::string tailing_mode;     // "beginning" | "end" | "forceBeginning" | "forceEnd" | ""
  int64_t last_updated_ns = 0;  // wall clock; stored with microsecond precision
  int64_t ingestion_ns = 0;
  std::optional<FileIdentity> identity;  // files
  std::string path;                      // files: the path the file had when last tailed
  std::string cursor;                    // journald: the cursor string
  bool operator==(const RegistryEntry&) const = default;
};

class Registry {
 public:
  // `path`: <run_path>/registry.json. Its directory must exist; the registry does not create
  // it. The temporary file is `path` + ".tmp".
  explicit Registry(std::string path);

  // Replaces the entries with the file's. A missing file: empty registry, true. A file that is
  // unreadable or not a registry (not JSON, no "Registry" object, too large, a directory...)
  // is renamed to registry.json.corrupt-<unix time> so it can be looked at and is not read
  // again, the registry starts empty, and load returns false + *error for the caller to log.
  // Never throws, whatever the bytes. Reads Version 2 and takes what it recognises of other
  // layouts (0, 1, 3): Offset as a string or a number, LastUpdated or Timestamp, keys that are
  // bare absolute paths (Version < 2) become "file:<path>"; an Offset that is not a decimal
  // number is taken as a journald cursor. Entries with no usable Offset are skipped and
  // counted (skippedOnLoad()).
  bool load(std::string* error);
  size_t skippedOnLoad() const { return skipped_; }

  const RegistryEntry* find(std::string_view key) const;
  // Stores `e` under `key` whatever was there; marks the registry dirty.
  void set(const std::string& key, RegistryEntry e);
  // Like set(), unless the stored entry has a larger ingestion_ns: an acknowledgement never
  // replaces a newer one (dual shipping acknowledges out of order). Whether it was stored.
  bool advance(const std::string& key, RegistryEntry e);
  void erase(const std::string& key);
  // Removes the entries last updated more than ttl_s before now_ns whose key is not in use
  // (`in_use` may be empty: nothing is). The Agent does this every 300 s with auditor_ttl
  // 23 h. How many were removed.
  size_t expire(int64_t now_ns, int64_t ttl_s,
                const std::function<bool(const std::string&)>& in_use);

  // When dirty: writes registry.json.tmp, fsyncs it, renames it over registry.json and fsyncs
  // the directory. On failure (disk full, ...) the old registry.json is left intact, the
  // registry stays dirty, and save returns false + *error. Not dirty: nothing to do, true.
  // durable = false writes registry.json.recent instead (see writeFile): whole for a killed
  // process; after a power loss registry.json, the last durable save, is what load() takes.
  bool save(std::string* error, bool durable = true);
  bool dirty() const { return dirty_; }
  // For a write elsewhere (a worker thread): the registry as serialize() gives it, and the
  // registry is clean from then on. false + *error (and still dirty) if it cannot be
  // serialized. A failed write must call markDirty() so the next save tries again.
  bool snapshot(std::string* text, std::string* error);
  void markDirty() { dirty_ = true; }
  // What save() does with the text. Durable: `path`.tmp written and fsynced, renamed over
  // `path`, the directory fsynced. Not durable (after each acknowledgement, between the syncs):
  // `path`.recent, a header line (hash and length) and the text, written in place into
  // `path`.recent.tmp and exchanged with it; load() takes it when whole and newer than `path`
  // ("Seq"). Thread-safe for distinct paths; one writer per path at a time.
  static bool writeFile(const std::string& path, std::string_view text, bool durable,
                        std::string* error);
  static constexpr const char* kRecentSuffix = ".recent";

  // The registry as written to disk (for tests and `outpost status`).
  std::string serialize() const;

  // f(const std::string& key, const RegistryEntry& entry), in key order.
  template <class F>
  void forEach(F&& f) const {
    for (const auto& [key, entry] : entries_) {
      f(key, entry);
    }
  }
  size_t size() const { return entries_.size(); }
  const std::string& path() const { return path_; }

 private:
  bool moveAside(const std::string& why, std::string* error);
  bool loadMain(std::string* error);
  void loadRecent();
  static bool parseDocument(const nlohmann::json& doc,
                            std::map<std::string, RegistryEntry, std::less<>>* out, size_t* skipped,
                            uint64_t* seq, std::string* why_not);
  static std::string recentHeader(std::string_view body);
  static bool writeRecent(const std::string& recent, std::string_view text, std::string* error);

  std::string path_;
  std::map<std::string, RegistryEntry, std::less<>> entries_;
  bool dirty_ = false;
  size_t skipped_ = 0;
  uint64_t seq_ = 0;  // bumped at every save or snapshot; written as "Seq"
};

// RFC 3339 in UTC with microseconds ("2024-05-01T12:00:00.123456Z"), and back: any number of
// fraction digits (nanoseconds kept, more ignored), "Z" or a "+hh:mm" offset. false when not
// RFC 3339 or out of the int64 nanosecond range.
std::string formatRfc3339Micros(int64_t unix_ns);
bool parseRfc3339(std::string_view s, int64_t* unix_ns);

}  // namespace outpost::logs
