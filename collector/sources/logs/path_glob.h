#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collector/sources/logs/file_identity.h"

// Finding the files a `path:` of a file log source names (wire-formats.md §3.10): glob
// expansion with wildcards in any component, and the rotated siblings of a file.
namespace outpost::logs {

struct GlobMatch {
  std::string path;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
};

// Whether `pattern` holds a glob wildcard: * ? or [.
bool hasWildcard(std::string_view pattern);

// Expands an absolute pattern whose components (directories too, not only the file name) may
// hold * ? [...]: fnmatch per component, so a wildcard never matches '/'; a name starting with
// '.' matches only a component pattern that starts with '.'. Returns the regular files it
// names (following symlinks: a symlink to a regular file matches, reported under the
// symlink's path), sorted by path (bytewise). Paths matching any `exclude` glob (fnmatch with
// FNM_PATHNAME on the full path) are left out. At most `max_results` matches (0: no limit):
// the first ones by path, and *truncated says whether there were more. Missing directories
// and permission errors just do not match; *error (and an empty result) only for an invalid
// pattern (empty, relative, or holding a NUL byte). One readdir per directory a wildcard
// component walks; a stat only for entries that could match.
std::vector<GlobMatch> expandGlob(std::string_view pattern, const std::vector<std::string>& exclude,
                                  size_t max_results, bool* truncated, std::string* error);

// Files a rotation may have renamed `path` to: regular files (following symlinks) in the same
// directory named basename(path) + a suffix starting with '.', '-' or '_' (app.log.1,
// app.log-20240101, app.log.2.gz), newest mtime first (equal mtimes: by name). Compressed ones
// (.gz .zst .bz2 .xz) are listed, flagged.
struct RotatedCandidate {
  std::string path;
  int64_t mtime_ns = 0;
  bool compressed = false;
};
std::vector<RotatedCandidate> rotatedSiblings(const std::string& path);

// The uncompressed rotated sibling of `path` that is the file `known` describes (sameFile), if
// any: where the file we were tailing went while we were not looking.
std::optional<std::string> findRenamed(const std::string& path, const FileIdentity& known);

}  // namespace outpost::logs
