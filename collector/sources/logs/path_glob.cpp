#include "collector/sources/logs/path_glob.h"

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>

#include "core/strings.h"

namespace outpost::logs {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

int64_t mtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

class GlobWalker {
 public:
  GlobWalker(std::vector<std::string> components, const std::vector<std::string>& exclude,
             size_t max_results)
      : components_(std::move(components)), exclude_(exclude), max_results_(max_results) {}

  void run() {
    std::string prefix;
    walk(0, prefix);
  }
  std::vector<GlobMatch> take() { return std::move(out_); }
  bool truncated() const { return truncated_; }

 private:
  bool done() const { return truncated_; }

  // `prefix` names the directory holding component `i` ("" for the root).
  void walk(size_t i, std::string& prefix) {
    if (done()) {
      return;
    }
    const bool leaf = i + 1 == components_.size();
    const std::string& comp = components_[i];
    if (!hasWildcard(comp)) {
      const size_t len = prefix.size();
      prefix += '/';
      prefix += comp;
      if (leaf) {
        consider(prefix);
      } else {
        walk(i + 1, prefix);
      }
      prefix.resize(len);
      return;
    }
    const std::string dir = prefix.empty() ? std::string("/") : prefix;
    DirPtr d(::opendir(dir.c_str()));
    if (!d) {
      return;  // missing, not a directory, no permission: no match
    }
    // Names that match, with whether they are known not to be what this level needs.
    struct Entry {
      std::string name;
      unsigned char type;
    };
    std::vector<Entry> names;
    while (const dirent* e = ::readdir(d.get())) {
      const char* n = e->d_name;
      if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))) {
        continue;
      }
      if (leaf ? (e->d_type == DT_DIR) : (e->d_type == DT_REG)) {
        continue;  // cannot be what we look for, whatever the name
      }
      if (::fnmatch(comp.c_str(), n, FNM_PERIOD) != 0) {
        continue;
      }
      names.push_back({n, e->d_type});
    }
    d.reset();
    // A directory's subtree sorts as name + "/" in the full paths: order siblings that way so
    // the walk emits paths in bytewise order and can stop at the first max_results.
    if (leaf) {
      std::sort(names.begin(), names.end(),
                [](const Entry& a, const Entry& b) { return a.name < b.name; });
    } else {
      for (Entry& e : names) {
        e.name += '/';
      }
      std::sort(names.begin(), names.end(),
                [](const Entry& a, const Entry& b) { return a.name < b.name; });
      for (Entry& e : names) {
        e.name.pop_back();
      }
    }
    const size_t len = prefix.size();
    for (const Entry& e : names) {
      if (done()) {
        break;
      }
      prefix += '/';
      prefix += e.name;
      if (leaf) {
        consider(prefix);
      } else {
        // A DT_DIR needs no stat; a symlink or unknown type is followed by opendir itself.
        walk(i + 1, prefix);
      }
      prefix.resize(len);
    }
  }

  void consider(const std::string& path) {
    for (const std::string& ex : exclude_) {
      if (::fnmatch(ex.c_str(), path.c_str(), FNM_PATHNAME) == 0) {
        return;
      }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return;
    }
    if (max_results_ != 0 && out_.size() == max_results_) {
      truncated_ = true;
      return;
    }
    out_.push_back({path, mtimeNs(st), static_cast<uint64_t>(st.st_size)});
  }

  std::vector<std::string> components_;
  const std::vector<std::string>& exclude_;
  size_t max_results_;
  std::vector<GlobMatch> out_;
  bool truncated_ = false;
};

bool isCompressedName(std::string_view name) {
  return endsWith(name, ".gz") || endsWith(name, ".zst") || endsWith(name, ".bz2") ||
         endsWith(name, ".xz");
}

}  // namespace

bool hasWildcard(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

std::vector<GlobMatch> expandGlob(std::string_view pattern, const std::vector<std::string>& exclude,
                                  size_t max_results, bool* truncated, std::string* error) {
  *truncated = false;
  if (pattern.empty() || pattern.front() != '/') {
    *error = "the path must be absolute";
    return {};
  }
  if (pattern.find('\0') != std::string_view::npos) {
    *error = "the path holds a NUL byte";
    return {};
  }
  std::vector<std::string> components;
  for (std::string& c : split(pattern, '/')) {
    if (!c.empty()) {
      components.push_back(std::move(c));
    }
  }
  if (components.empty()) {
    return {};  // "/" names no regular file
  }
  GlobWalker walker(std::move(components), exclude, max_results);
  walker.run();
  *truncated = walker.truncated();
  return walker.take();
}

std::vector<RotatedCandidate> rotatedSiblings(const std::string& path) {
  std::vector<RotatedCandidate> out;
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? std::string(".") : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) {
    return out;
  }
  DirPtr d(::opendir(dir.c_str()));
  if (!d) {
    return out;
  }
  const std::string prefix = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  while (const dirent* e = ::readdir(d.get())) {
    const std::string_view name(e->d_name);
    if (name.size() <= base.size() || !startsWith(name, base)) {
      continue;
    }
    const char sep = name[base.size()];
    if (sep != '.' && sep != '-' && sep != '_') {
      continue;
    }
    if (e->d_type == DT_DIR) {
      continue;
    }
    std::string full = prefix + std::string(name);
    struct stat st {};
    if (::stat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    out.push_back({std::move(full), mtimeNs(st), isCompressedName(name)});
  }
  std::sort(out.begin(), out.end(), [](const RotatedCandidate& a, const RotatedCandidate& b) {
    if (a.mtime_ns != b.mtime_ns) {
      return a.mtime_ns > b.mtime_ns;
    }
    return a.path < b.path;
  });
  return out;
}

std::optional<std::string> findRenamed(const std::string& path, const FileIdentity& known) {
  for (const RotatedCandidate& c : rotatedSiblings(path)) {
    if (!c.compressed && sameFile(c.path, known)) {
      return c.path;
    }
  }
  return std::nullopt;
}

}  // namespace outpost::logs
