#include "collector/query/log_search.h"

#include <fcntl.h>
#include <re2/re2.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "collector/query/literal_finder.h"
#include "collector/query/timestamps.h"
#include "collector/sources/logs/path_glob.h"
#include "collector/sources/logs/status.h"

namespace outpost::query {

namespace {

constexpr size_t kChunk = 256 << 10;
constexpr size_t kMaxLine = 64 << 20;  // memory bound for a file without newlines

// --- requests ------------------------------------------------------------------------------

std::string hexOf(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

bool unhex(std::string_view s, std::string* out) {
  if (s.size() % 2 != 0) {
    return false;
  }
  auto val = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  for (size_t i = 0; i < s.size(); i += 2) {
    const int a = val(s[i]);
    const int b = val(s[i + 1]);
    if (a < 0 || b < 0) {
      return false;
    }
    out->push_back(static_cast<char>(a * 16 + b));
  }
  return true;
}

// Where a search goes on: from the line at `offset` of `path` (file order), or, for a
// newest-first search (`before`), with the lines before it.
struct Cursor {
  std::string path;
  uint64_t offset = 0;
  uint64_t line = 1;
  bool before = false;
};

std::string encodeCursor(const Cursor& c) {
  return (c.before ? "d1." : "c1.") + hexOf(c.path) + "." + std::to_string(c.offset) + "." +
         std::to_string(c.line);
}

bool decodeCursor(const std::string& s, Cursor* c) {
  if (s.rfind("c1.", 0) != 0 && s.rfind("d1.", 0) != 0) {
    return false;
  }
  c->before = s[0] == 'd';
  const size_t a = s.find('.', 3);
  const size_t b = a == std::string::npos ? a : s.find('.', a + 1);
  if (b == std::string::npos) {
    return false;
  }
  if (!unhex(std::string_view(s).substr(3, a - 3), &c->path)) {
    return false;
  }
  char* end = nullptr;
  c->offset = std::strtoull(s.c_str() + a + 1, &end, 10);
  if (end != s.c_str() + b) {
    return false;
  }
  c->line = std::strtoull(s.c_str() + b + 1, &end, 10);
  return *end == '\0' && c->line >= 1;
}

// --- matching --------------------------------------------------------------------------------

class Matcher {
 public:
  Matcher(const std::string& pattern, bool regex, bool case_insensitive) {
    if (!regex && !case_insensitive) {
      literal_ = pattern;
      finders_.emplace_back(pattern);
      return;
    }
    RE2::Options o;
    o.set_log_errors(false);
    o.set_case_sensitive(!case_insensitive);
    // ^ and $ at line boundaries: the text searched is many lines at once.
    re_ = std::make_unique<RE2>("(?m)" + (regex ? pattern : RE2::QuoteMeta(pattern)), o);
    if (regex && !case_insensitive) {
      splitAlternatives(pattern);
    }
  }
  bool ok(std::string* error) const {
    if (re_ && !re_->ok()) {
      *error = re_->error();
      return false;
    }
    return true;
  }
  // Call before searching a new text with find(): forgets what the last one found.
  void newText() { next_.assign(alternatives_.size(), kUnknown); }
  // First match at or after `from` in text[0, n); n when none. Successive calls on one text
  // must not go backwards (newText() in between otherwise).
  size_t find(const char* text, size_t n, size_t from) {
    if (!alternatives_.empty()) {
      // An alternation of plain words: memmem for each, each remembering where its next
      // occurrence is, so the text is scanned once per word rather than by the regex engine.
      if (next_.size() != alternatives_.size()) {
        newText();
      }
      size_t best = n;
      for (size_t i = 0; i < alternatives_.size(); ++i) {
        if (next_[i] == kUnknown || next_[i] < from) {
          next_[i] = finders_[i].find(text, n, from);
        }
        best = std::min(best, next_[i]);
      }
      return best;
    }
    if (re_ == nullptr) {
      if (literal_.empty()) {
        return from < n ? from : n;
      }
      return finders_[0].find(text, n, from);
    }
    re2::StringPiece m;
    if (!re_->Match(re2::StringPiece(text, n), from, n, RE2::UNANCHORED, &m, 1)) {
      return n;
    }
    return static_cast<size_t>(m.data() - text);
  }
  // Whether a line matches (for the second and later patterns).
  bool matches(std::string_view line) const {
    if (!alternatives_.empty()) {
      for (const auto& f : finders_) {
        if (f.find(line.data(), line.size(), 0) < line.size()) {
          return true;
        }
      }
      return false;
    }
    if (re_ == nullptr) {
      return literal_.empty() || finders_[0].find(line.data(), line.size(), 0) < line.size();
    }
    return RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *re_);
  }

 private:
  static constexpr size_t kUnknown = SIZE_MAX;

  // "a|bc|d e": words with no regex syntax, at least two.
  void splitAlternatives(const std::string& pattern) {
    static constexpr std::string_view kMeta = "\\.^$?*+()[]{}";
    std::vector<std::string> words;
    size_t start = 0;
    for (size_t i = 0; i <= pattern.size(); ++i) {
      if (i == pattern.size() || pattern[i] == '|') {
        if (i == start) {
          return;  // an empty branch matches everywhere: leave it to RE2
        }
        words.push_back(pattern.substr(start, i - start));
        start = i + 1;
      } else if (kMeta.find(pattern[i]) != std::string_view::npos ||
                 static_cast<unsigned char>(pattern[i]) >= 0x80) {
        return;
      }
    }
    if (words.size() >= 2) {
      for (const auto& w : words) {
        finders_.emplace_back(w);
      }
      alternatives_ = std::move(words);
    }
  }

  std::string literal_;
  std::unique_ptr<RE2> re_;
  std::vector<std::string> alternatives_;
  std::vector<LiteralFinder> finders_;  // the literal, or one per alternative
  std::vector<size_t> next_;
};

// --- reading ---------------------------------------------------------------------------------

// The bytes of a file being searched: like a std::string, but growing it leaves the new bytes
// uninitialised (a read fills them: no memset of every chunk first) and it keeps its memory.
class ByteBuf {
 public:
  size_t size() const { return size_; }
  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  // Room for `more` bytes after size(); returns where they go (size() is unchanged).
  char* reserveMore(size_t more) {
    if (size_ + more > cap_) {
      const size_t cap = std::max(size_ + more, cap_ * 2);
      auto bigger = std::make_unique_for_overwrite<char[]>(cap);
      if (size_ > 0) {
        std::memcpy(bigger.get(), data_.get(), size_);
      }
      data_ = std::move(bigger);
      cap_ = cap;
    }
    return data_.get() + size_;
  }
  void resize(size_t n) { size_ = std::min(n, cap_); }
  // Frees the memory when more than `cap` is held (and empties the buffer).
  void shrinkTo(size_t cap) {
    if (cap_ > cap) {
      data_.reset();
      cap_ = 0;
      size_ = 0;
    }
  }
  // Drops the first n bytes.
  void eraseFront(size_t n) {
    n = std::min(n, size_);
    if (n < size_) {
      std::memmove(data_.get(), data_.get() + n, size_ - n);
    }
    size_ -= n;
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t cap_ = 0;
};

class Reader {
 public:
  virtual ~Reader() = default;
  virtual void seek(uint64_t offset) { (void)offset; }
  // Appends up to `max` bytes to `out`; 0 at the end; -1 on error (*error set).
  virtual ssize_t read(ByteBuf& out, size_t max, std::string* error) = 0;
};

class PlainReader : public Reader {
 public:
  explicit PlainReader(int fd) : fd_(fd) {}
  ~PlainReader() override { ::close(fd_); }
  void seek(uint64_t offset) override { ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET); }
  ssize_t read(ByteBuf& out, size_t max, std::string* error) override {
    const size_t old = out.size();
    char* to = out.reserveMore(max);
    ssize_t n;
    do {
      n = ::read(fd_, to, max);
    } while (n < 0 && errno == EINTR);
    out.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n < 0) {
      *error = std::strerror(errno);
    }
    return n;
  }

 private:
  int fd_;
};

class GzipReader : public Reader {
 public:
  explicit GzipReader(gzFile f) : f_(f) {}
  ~GzipReader() override { gzclose(f_); }
  ssize_t read(ByteBuf& out, size_t max, std::string* error) override {
    const size_t old = out.size();
    char* to = out.reserveMore(max);
    const int n = gzread(f_, to, static_cast<unsigned>(max));
    out.resize(old + static_cast<size_t>(std::max(n, 0)));
    if (n < 0) {
      int errnum = 0;
      *error = gzerror(f_, &errnum);
    }
    return n;
  }

 private:
  gzFile f_;
};

class ZstdReader : public Reader {
 public:
  explicit ZstdReader(int fd) : fd_(fd), dctx_(ZSTD_createDCtx()), in_(ZSTD_DStreamInSize()) {}
  ~ZstdReader() override {
    ::close(fd_);
    ZSTD_freeDCtx(dctx_);
  }
  ssize_t read(ByteBuf& out, size_t max, std::string* error) override {
    const size_t old = out.size();
    ZSTD_outBuffer o{out.reserveMore(max), max, 0};
    while (o.pos == 0) {
      if (input_.pos == input_.size) {
        const ssize_t n = ::read(fd_, in_.data(), in_.size());
        if (n < 0) {
          *error = std::strerror(errno);
          out.resize(old);
          return -1;
        }
        if (n == 0) {
          break;
        }
        input_ = ZSTD_inBuffer{in_.data(), static_cast<size_t>(n), 0};
      }
      const size_t rc = ZSTD_decompressStream(dctx_, &o, &input_);
      if (ZSTD_isError(rc)) {
        *error = ZSTD_getErrorName(rc);
        out.resize(old);
        return -1;
      }
    }
    out.resize(old + o.pos);
    return static_cast<ssize_t>(o.pos);
  }

 private:
  int fd_;
  ZSTD_DCtx* dctx_;
  std::vector<char> in_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
};

std::unique_ptr<Reader> openReader(const std::string& path, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  if (path.ends_with(".gz")) {
    gzFile f = gzdopen(fd, "rb");
    if (f == nullptr) {
      ::close(fd);
      *error = "not a gzip file";
      return nullptr;
    }
    gzbuffer(f, 1 << 20);
    return std::make_unique<GzipReader>(f);
  }
  if (path.ends_with(".zst")) {
    return std::make_unique<ZstdReader>(fd);
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::make_unique<PlainReader>(fd);
}

uint64_t countLines(const char* p, size_t n) {
  uint64_t lines = 0;
  const char* end = p + n;
  while (p < end) {
    const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (nl == nullptr) {
      break;
    }
    ++lines;
    p = static_cast<const char*>(nl) + 1;
  }
  return lines;
}

// The start of the first line at or after `pos` (pos itself when it starts a line).
uint64_t lineStartAtOrAfter(int fd, uint64_t pos, uint64_t size) {
  if (pos == 0) {
    return 0;
  }
  char buf[65536];
  uint64_t at = pos - 1;
  while (at < size) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(at));
    if (n <= 0) {
      return size;
    }
    const void* nl = std::memchr(buf, '\n', static_cast<size_t>(n));
    if (nl != nullptr) {
      return at + static_cast<uint64_t>(static_cast<const char*>(nl) - buf) + 1;
    }
    at += static_cast<uint64_t>(n);
  }
  return size;
}

// From the line starting at `pos`: the first line (before `limit`, within 1 MiB) with a
// timestamp, as (its start, its time). Reads 64 KiB at a time: a probe of the binary search
// usually needs one line.
std::optional<std::pair<uint64_t, int64_t>> firstStamped(int fd, uint64_t pos, uint64_t limit,
                                                         TimeFormat fmt, int64_t now_ms) {
  std::string buf;
  uint64_t at = pos;  // stream offset of buf[0]
  size_t start = 0;   // next line start in buf
  while (at + start < limit && buf.size() < (1u << 20)) {
    const size_t old = buf.size();
    const uint64_t want = std::min<uint64_t>(64u << 10, limit - (at + old));
    if (want == 0) {
      break;
    }
    buf.resize(old + want);
    const ssize_t n = ::pread(fd, buf.data() + old, want, static_cast<off_t>(at + old));
    buf.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    const bool last = n <= 0 || at + buf.size() >= limit;
    while (start < buf.size()) {
      const char* nl =
          static_cast<const char*>(std::memchr(buf.data() + start, '\n', buf.size() - start));
      if (nl == nullptr && !last) {
        break;  // an incomplete line: read more
      }
      const size_t end = nl == nullptr ? buf.size() : static_cast<size_t>(nl - buf.data());
      if (auto t = lineTime(std::string_view(buf.data() + start, end - start), fmt, now_ms)) {
        return std::make_pair(at + start, *t);
      }
      start = end + 1;
    }
    if (last) {
      break;
    }
  }
  return std::nullopt;
}

// The start of the first line stamped at or after `target` (after it, when `after`), in a
// file whose lines are in time order; lines without a stamp go with the stamped line before
// them. Binary search on byte offsets, then a short forward scan.
uint64_t firstOffsetFrom(int fd, uint64_t size, int64_t target, bool after, TimeFormat fmt,
                         int64_t now_ms) {
  auto before = [&](int64_t t) { return after ? t <= target : t < target; };
  uint64_t lo = 0;  // a line start whose stamped line is before the target (or 0)
  uint64_t hi = size;
  while (hi - lo > (64u << 10)) {
    const uint64_t mid = lineStartAtOrAfter(fd, lo + (hi - lo) / 2, size);
    const auto st = mid < hi ? firstStamped(fd, mid, hi, fmt, now_ms) : std::nullopt;
    if (!st || !before(st->second)) {
      hi = mid;
    } else {
      lo = st->first;
    }
  }
  uint64_t pos = lo;
  while (pos < size) {
    const auto st = firstStamped(fd, pos, size, fmt, now_ms);
    if (!st) {
      return size;
    }
    if (!before(st->second)) {
      return st->first;
    }
    pos = lineStartAtOrAfter(fd, st->first + 1, size);
  }
  return size;
}

}  // namespace

bool parseSearchRequest(const nlohmann::json& body, int64_t now_ms, SearchRequest* out,
                        std::string* error) {
  out->now_ms = now_ms;
  if (!body.is_object()) {
    *error = "the body must be a JSON object";
    return false;
  }
  static const std::set<std::string> kKnown = {
      "query",          "patterns", "regex",  "case_insensitive",
      "service",        "source",   "path",   "limit",
      "max_line_bytes", "cursor",   "from",   "to",
      "count_only",     "keep",     "status", "order"};
  for (const auto& [key, value] : body.items()) {
    if (!kKnown.count(key)) {
      *error = "unknown field '" + key +
               "' (fields: query or patterns, regex, case_insensitive, service, source, path, "
               "status, order, limit, keep, max_line_bytes, cursor, count_only, from, to)";
      return false;
    }
  }
  for (const char* key : {"from", "to"}) {
    if (!body.contains(key)) {
      continue;
    }
    const std::optional<int64_t> t = parseTimeArgJson(body[key], now_ms);
    if (!t) {
      *error = std::string(key) +
               ": RFC 3339 (2026-11-22T09:10:00Z), epoch milliseconds, or relative (-15m, "
               "now-2h, -1d) expected";
      return false;
    }
    (std::string_view(key) == "from" ? out->from_ms : out->to_ms) = t;
  }
  if (out->from_ms && out->to_ms && *out->from_ms > *out->to_ms) {
    *error = "from is after to";
    return false;
  }
  if (body.contains("query")) {
    if (!body["query"].is_string()) {
      *error = "query must be a string";
      return false;
    }
    out->patterns.push_back(body["query"].get<std::string>());
  }
  if (body.contains("patterns")) {
    if (!body["patterns"].is_array()) {
      *error = "patterns must be an array of strings";
      return false;
    }
    for (const auto& p : body["patterns"]) {
      if (!p.is_string()) {
        *error = "patterns must be an array of strings";
        return false;
      }
      out->patterns.push_back(p.get<std::string>());
    }
  }
  if (out->patterns.empty()) {
    *error = "query (a string) or patterns (an array of strings) is required";
    return false;
  }
  if (out->patterns.size() > 16) {
    *error = "at most 16 patterns";
    return false;
  }
  for (const auto& p : out->patterns) {
    // An empty query matches every line; an empty pattern among others would add nothing.
    if ((p.empty() && out->patterns.size() > 1) || p.size() > 4096) {
      *error = "a pattern must have 1 to 4096 bytes (a query may be empty: every line)";
      return false;
    }
  }
  auto boolean = [&](const char* key, bool* v) {
    if (!body.contains(key)) {
      return true;
    }
    if (!body[key].is_boolean()) {
      *error = std::string(key) + " must be true or false";
      return false;
    }
    *v = body[key].get<bool>();
    return true;
  };
  auto string = [&](const char* key, std::string* v) {
    if (!body.contains(key)) {
      return true;
    }
    if (!body[key].is_string()) {
      *error = std::string(key) + " must be a string";
      return false;
    }
    *v = body[key].get<std::string>();
    return true;
  };
  auto number = [&](const char* key, size_t lo, size_t hi, size_t* v) {
    if (!body.contains(key)) {
      return true;
    }
    if (!body[key].is_number_integer() || body[key].get<int64_t>() < static_cast<int64_t>(lo) ||
        body[key].get<int64_t>() > static_cast<int64_t>(hi)) {
      *error = std::string(key) + " must be an integer from " + std::to_string(lo) + " to " +
               std::to_string(hi);
      return false;
    }
    *v = static_cast<size_t>(body[key].get<int64_t>());
    return true;
  };
  if (!boolean("regex", &out->regex) || !boolean("case_insensitive", &out->case_insensitive) ||
      !boolean("count_only", &out->count_only) || !string("service", &out->service) ||
      !string("source", &out->source) || !string("path", &out->path) ||
      !string("cursor", &out->cursor) || !number("limit", 1, 10000, &out->limit) ||
      !number("keep", 0, 100000, &out->keep) ||
      !number("max_line_bytes", 16, 1 << 20, &out->max_line_bytes)) {
    return false;
  }
  for (const auto& p : out->patterns) {
    std::string why;
    if (!Matcher(p, out->regex, out->case_insensitive).ok(&why)) {
      *error = "invalid regex '" + p + "': " + why;
      return false;
    }
  }
  std::string status;
  std::string order;
  if (!string("status", &status) || !string("order", &order)) {
    return false;
  }
  if (!status.empty()) {
    out->status = std::string(logs::normalizeStatus(status));
    if (out->status.empty()) {
      *error = "status: one of emergency, alert, critical, error, warning, notice, info, debug";
      return false;
    }
  }
  if (!order.empty() && order != "asc" && order != "desc") {
    *error = "order: asc (file order, the default) or desc (newest first)";
    return false;
  }
  out->newest_first = order == "desc" && !out->count_only;
  Cursor c;
  if (!out->cursor.empty() && !decodeCursor(out->cursor, &c)) {
    *error = "cursor: not one this API returned";
    return false;
  }
  if (!out->cursor.empty() && c.before != out->newest_first) {
    *error = "cursor: from a search in the other order";
    return false;
  }
  return true;
}

std::vector<SearchFile> searchFiles(const std::vector<logs::LogSourceConfig>& sources,
                                    const SearchRequest& request) {
  std::vector<SearchFile> out;
  std::set<std::string> seen;
  for (const auto& s : sources) {
    if (s.type != "file") {
      continue;
    }
    if ((!request.service.empty() && s.service != request.service) ||
        (!request.source.empty() && s.source != request.source)) {
      continue;
    }
    bool truncated = false;
    std::string error;
    for (const auto& m : logs::expandGlob(s.path, s.exclude_paths, 0, &truncated, &error)) {
      auto siblings = logs::rotatedSiblings(m.path);
      std::reverse(siblings.begin(), siblings.end());  // oldest first
      for (const auto& r : siblings) {
        const bool readable = !r.compressed || r.path.ends_with(".gz") || r.path.ends_with(".zst");
        if (readable && seen.insert(r.path).second) {
          out.push_back({r.path, s.service, s.source, r.compressed});
        }
      }
      if (seen.insert(m.path).second) {
        out.push_back({m.path, s.service, s.source, false});
      }
    }
  }
  if (!request.path.empty()) {
    std::erase_if(
        out, [&](const SearchFile& f) { return f.path.find(request.path) == std::string::npos; });
  }
  return out;
}

// The offset of the first line that starts at or after `offset` (before `end`), or UINT64_MAX
// when no newline comes within 1 MiB.
uint64_t lineStartFrom(const std::string& path, uint64_t offset, uint64_t end) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || offset == 0) {
    if (fd >= 0) {
      ::close(fd);
    }
    return offset == 0 ? 0 : UINT64_MAX;
  }
  std::string buf(std::min<uint64_t>(1 << 20, end - offset + 1), '\0');
  const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset - 1));
  ::close(fd);
  if (n <= 0) {
    return UINT64_MAX;
  }
  const void* nl = std::memchr(buf.data(), '\n', static_cast<size_t>(n));
  if (nl == nullptr) {
    return UINT64_MAX;
  }
  return offset + static_cast<uint64_t>(static_cast<const char*>(nl) - buf.data());
}

// A second search thread for the length of one search: started at the first job given to it,
// it runs one job at a time (run, then wait), so a search of many files does not start a
// thread per file.
class Helper {
 public:
  Helper() = default;
  Helper(const Helper&) = delete;
  Helper& operator=(const Helper&) = delete;
  ~Helper() {
    if (thread_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        quit_ = true;
      }
      cv_.notify_all();
      thread_.join();
    }
  }
  void run(std::function<void()> job) {
    if (!thread_.joinable()) {
      thread_ = std::thread([this] { loop(); });
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = std::move(job);
      busy_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !busy_; });
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return quit_ || job_; });
      if (quit_) {
        return;
      }
      auto job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      job();
      lock.lock();
      busy_ = false;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool busy_ = false;
  bool quit_ = false;
  std::thread thread_;
};

size_t hitBytes(const SearchHit& h) {
  return h.line.size() + h.file.size() + h.service.size() + h.source.size() + 128;
}

// Newest first: keeps the newest limit + keep hits (and no more than keep_max_bytes beyond the
// first limit), dropping the oldest. Lazily (at half as much again) unless `now`.
void dropOldest(const SearchRequest& request, SearchResult& r, size_t& bytes, bool now) {
  const size_t want = request.limit + request.keep;
  const size_t max_bytes = request.keep_max_bytes;
  const size_t slack_bytes = max_bytes > SIZE_MAX / 2 ? SIZE_MAX : max_bytes + max_bytes / 2;
  if (!now && r.hits.size() < want + want / 2 + 64 && bytes <= slack_bytes) {
    return;
  }
  size_t drop = 0;
  while (r.hits.size() - drop > want ||
         (r.hits.size() - drop > request.limit && bytes > max_bytes)) {
    bytes -= hitBytes(r.hits[drop]);
    ++drop;
  }
  if (drop > 0) {
    r.hits.erase(r.hits.begin(), r.hits.begin() + static_cast<std::ptrdiff_t>(drop));
    r.truncated = true;  // older matches than these exist
  }
}

// Searches [skip_to, stop_at) of one file's (decompressed) stream, `reader` positioned at
// buf_offset, its first line numbered line_no. Hits go to `result`, at most `want` in all;
// false when the search is over (enough found, or cancelled: next_cursor says where it
// stopped). *end_line: the number of the line at the range's end (unless count_only).
bool scanRange(const SearchRequest& request, const SearchFile& f, Reader* reader,
               std::vector<Matcher>& matchers, uint64_t buf_offset, uint64_t skip_to,
               uint64_t stop_at, uint64_t line_no, bool relative_lines, bool filter_hits_by_time,
               size_t want, size_t& kept_bytes, SearchResult& result,
               const std::atomic<bool>* cancel, const std::atomic<bool>* cancel2,
               uint64_t* end_line) {
  const bool timed = request.from_ms || request.to_ms;
  const int64_t from = request.from_ms.value_or(INT64_MIN);
  const int64_t to = request.to_ms.value_or(INT64_MAX);
  std::string error;
  // One buffer per search thread, kept from file to file (a fresh one costs page faults each
  // time); a long line's growth is given back.
  static thread_local ByteBuf buf;
  buf.resize(0);
  struct Shrink {
    ~Shrink() { buf.shrinkTo(1u << 20); }
  } shrink;
  bool eof = false;
  while (!eof) {
    if ((cancel != nullptr && cancel->load(std::memory_order_relaxed)) ||
        (cancel2 != nullptr && cancel2->load(std::memory_order_relaxed))) {
      // Stopped (a timeout, the client gone): what was found, and where to go on.
      result.cancelled = true;
      result.truncated = true;
      result.next_cursor = encodeCursor({f.path, std::max(buf_offset, skip_to), line_no});
      return false;
    }
    // Within a time range, no further than its end.
    const size_t read_size = static_cast<size_t>(std::clamp<uint64_t>(
        stop_at - std::min(stop_at, buf_offset + buf.size()), 64u << 10, kChunk));
    // A carried partial line has no newline: only what this read adds needs looking at.
    size_t scan_from = buf.size();
    const ssize_t n = reader->read(buf, read_size, &error);
    if (n < 0) {
      result.unreadable.push_back(f.path + ": " + error);
      return true;
    }
    eof = n == 0;
    result.scanned_bytes += static_cast<uint64_t>(std::max<ssize_t>(n, 0));
    if (buf_offset + buf.size() >= stop_at) {
      // Past the end of the time range: only what comes before it.
      buf.resize(static_cast<size_t>(std::max<uint64_t>(stop_at, buf_offset) - buf_offset));
      eof = true;
    }
    // Skip what a cursor already covered (whole lines: it points at a line start).
    if (buf_offset < skip_to) {
      const size_t drop = static_cast<size_t>(std::min<uint64_t>(skip_to - buf_offset, buf.size()));
      buf.eraseFront(drop);
      buf_offset += drop;
      scan_from = 0;
      if (buf_offset < skip_to) {
        continue;
      }
    }
    // Whole lines only, unless the file ended (its last line has no newline).
    size_t end = buf.size();
    if (!eof) {
      scan_from = std::min(scan_from, buf.size());
      const char* p =
          static_cast<const char*>(::memrchr(buf.data() + scan_from, '\n', buf.size() - scan_from));
      if (p == nullptr && buf.size() < kMaxLine) {
        continue;  // a line longer than the chunk: read on
      }
      // A line longer than kMaxLine is searched in pieces rather than held whole.
      end = p == nullptr ? buf.size() : static_cast<size_t>(p - buf.data()) + 1;
    }
    const char* text = buf.data();
    const bool count_fast = request.count_only && matchers.size() == 1 && !timed &&
                            !request.on_match && request.status.empty();
    matchers[0].newText();
    size_t pos = 0;
    size_t counted = 0;  // lines counted up to here
    uint64_t line_at_counted = line_no;
    while (pos < end) {
      const size_t m = matchers[0].find(text, end, pos);
      if (m >= end) {
        break;
      }
      if (count_fast) {
        // Counting one pattern without a time filter: the line's end is all that matters.
        const char* le = static_cast<const char*>(std::memchr(text + m, '\n', end - m));
        ++result.count;
        pos = le == nullptr ? end : static_cast<size_t>(le - text) + 1;
        continue;
      }
      const char* ls = static_cast<const char*>(::memrchr(text, '\n', m));
      const size_t line_start = ls == nullptr ? 0 : static_cast<size_t>(ls - text) + 1;
      const char* le = static_cast<const char*>(std::memchr(text + m, '\n', end - m));
      const size_t line_end = le == nullptr ? end : static_cast<size_t>(le - text);
      const std::string_view line(text + line_start, line_end - line_start);
      bool all = true;
      for (size_t k = 1; k < matchers.size() && all; ++k) {
        all = matchers[k].matches(line);
      }
      std::optional<int64_t> when;
      if (all && timed) {
        when = lineTime(line, TimeFormat::kNone, request.now_ms);
        all = !filter_hits_by_time || !when || (*when >= from && *when <= to);
      }
      if (all && !request.status.empty()) {
        all = logs::detectStatus(line) == request.status;
      }
      if (all && request.count_only) {
        ++result.count;
        if (request.on_match) {
          request.on_match(f, line,
                           timed ? when : lineTime(line, TimeFormat::kNone, request.now_ms));
        }
      } else if (all) {
        line_at_counted += countLines(text + counted, line_start - counted);
        counted = line_start;
        if (!request.newest_first &&
            (result.hits.size() == want ||
             (result.hits.size() > request.limit && kept_bytes > request.keep_max_bytes))) {
          result.truncated = true;
          result.next_cursor = encodeCursor({f.path, buf_offset + line_start, line_at_counted});
          return false;
        }
        SearchHit h;
        h.file = f.path;
        h.line_number = line_at_counted;
        h.line_number_relative = relative_lines;
        h.time_ms = timed ? when : lineTime(line, TimeFormat::kNone, request.now_ms);
        h.offset = buf_offset + line_start;
        const size_t keep = std::min(line.size(), request.max_line_bytes);
        h.line.assign(line.data(), keep);
        if (!h.line.empty() && h.line.back() == '\r') {
          h.line.pop_back();
        }
        h.line_truncated = keep < line.size();
        h.service = f.service;
        h.source = f.source;
        if (request.newest_first) {
          kept_bytes += hitBytes(h);  // all of them: the oldest go first
          result.hits.push_back(std::move(h));
          dropOldest(request, result, kept_bytes, false);
        } else {
          if (result.hits.size() >= request.limit) {
            kept_bytes += hitBytes(h);
          }
          result.hits.push_back(std::move(h));
        }
      }
      pos = line_end + 1;
    }
    if (!request.count_only) {  // (counting needs no line numbers)
      line_no = line_at_counted + countLines(text + counted, end - counted);
    }
    buf.eraseFront(end);
    buf_offset += end;
  }
  *end_line = line_no;
  return true;
}

namespace {

SearchResult searchFilesInOrder(const SearchRequest& request, const std::vector<SearchFile>& files,
                                const std::atomic<bool>* cancel) {
  SearchResult result;
  std::vector<Matcher> matchers;
  for (const auto& p : request.patterns) {
    matchers.emplace_back(p, request.regex, request.case_insensitive);
  }
  // A cursor: file order goes on from its file; newest first ends at it (reading from the
  // first file up to the cursor's place).
  Cursor start;
  size_t first_file = 0;
  size_t end_file = files.size();
  const bool have_cursor = !request.cursor.empty() && decodeCursor(request.cursor, &start);
  if (have_cursor) {
    size_t at = files.size();
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].path == start.path) {
        at = i;
        break;
      }
    }
    if (start.before) {
      end_file = at == files.size() ? 0 : at + 1;
    } else {
      first_file = at;
    }
  }
  // The answer's results, then those kept for the result store (bounded in bytes too).
  const size_t want = request.count_only ? 0 : request.limit + request.keep;
  size_t kept_bytes = 0;
  const bool timed = request.from_ms || request.to_ms;
  const int64_t from = request.from_ms.value_or(INT64_MIN);
  const int64_t to = request.to_ms.value_or(INT64_MAX);
  // A stretch of one file to search: [skip_to, stop_at), its first line numbered line_no. A
  // second half continues the job before it (its line numbers are moved after that one's).
  struct Job {
    const SearchFile* f;
    uint64_t skip_to;
    uint64_t stop_at;
    uint64_t line_no;
    bool relative_lines;
    bool filter_hits_by_time;
    bool second_half;
  };
  // Runs one job into `into`; false when the search is over (enough found, or cancelled).
  auto runJob = [&](const Job& job, std::vector<Matcher>& m, SearchResult& into, size_t& kept,
                    const std::atomic<bool>* stop, uint64_t* end_line) {
    std::string why;
    auto reader = openReader(job.f->path, &why);
    if (!reader) {
      into.unreadable.push_back(job.f->path + ": " + why);
      return true;
    }
    if (!job.second_half) {
      ++into.files_scanned;
    }
    if (!job.f->compressed && job.skip_to > 0) {
      reader->seek(job.skip_to);
    }
    return scanRange(request, *job.f, reader.get(), m, job.f->compressed ? 0 : job.skip_to,
                     job.skip_to, job.stop_at, job.line_no, job.relative_lines,
                     job.filter_hits_by_time, want, kept, into, cancel, stop, end_line);
  };
  // Runs `a` here and `b` (when given) at once on a thread of its own, then takes b's results
  // after a's as if one pass had found them.
  std::vector<Matcher> helper_matchers;
  Helper helper;
  auto runJobs = [&](const Job& a, const Job* b) {
    uint64_t end_line = 0;
    if (b == nullptr) {
      return runJob(a, matchers, result, kept_bytes, nullptr, &end_line);
    }
    if (helper_matchers.empty()) {
      for (const auto& p : request.patterns) {
        helper_matchers.emplace_back(p, request.regex, request.case_insensitive);
      }
    }
    SearchResult second;
    size_t second_kept = 0;
    uint64_t second_end_line = 0;
    std::atomic<bool> stop_second{false};
    bool second_done = true;
    helper.run([&] {
      second_done =
          runJob(*b, helper_matchers, second, second_kept, &stop_second, &second_end_line);
    });
    const bool first_done = runJob(a, matchers, result, kept_bytes, nullptr, &end_line);
    if (!first_done) {
      stop_second = true;  // the answer is full (or cancelled) before b's results
    }
    helper.wait();
    result.scanned_bytes += second.scanned_bytes;
    if (!first_done) {
      return false;
    }
    const uint64_t shift = b->second_half ? end_line - 1 : 0;
    result.count += second.count;
    result.files_scanned += second.files_scanned;
    for (auto& u : second.unreadable) {
      result.unreadable.push_back(std::move(u));
    }
    for (auto& h : second.hits) {
      if (result.hits.size() == want) {
        result.truncated = true;
        result.next_cursor = encodeCursor({h.file, h.offset, h.line_number + shift});
        return false;
      }
      h.line_number += shift;
      if (result.hits.size() >= request.limit) {
        kept_bytes += h.line.size() + h.file.size() + h.service.size() + h.source.size() + 128;
      }
      result.hits.push_back(std::move(h));
    }
    if (!second_done) {
      Cursor c;
      decodeCursor(second.next_cursor, &c);
      result.truncated = true;
      result.cancelled = second.cancelled;
      result.next_cursor = encodeCursor({c.path, c.offset, c.line + shift});
      return false;
    }
    return true;
  };
  // Whole files, several: both threads take the next file as they come free (a stalled thread
  // does not hold the other up), each into a result of its own, merged in file order as they
  // finish. At most kWindow files ahead of the first unmerged one, so few results wait.
  constexpr size_t kWindow = 8;
  auto runMany = [&](const std::vector<Job>& jobs) {
    if (jobs.size() == 1) {
      uint64_t end_line = 0;
      return runJob(jobs[0], matchers, result, kept_bytes, nullptr, &end_line);
    }
    if (helper_matchers.empty()) {
      for (const auto& p : request.patterns) {
        helper_matchers.emplace_back(p, request.regex, request.case_insensitive);
      }
    }
    struct Slot {
      SearchResult r;
      size_t kept = 0;
      bool done = false;
      bool go_on = true;
    };
    std::vector<Slot> slots(jobs.size());
    std::mutex mu;
    std::condition_variable cv;
    size_t next = 0;    // the next file to take
    size_t merged = 0;  // files merged into `result`, in order
    bool over = false;  // the answer is full, or the search was cancelled
    std::atomic<bool> stop{false};
    auto mergeDone = [&] {  // (under mu)
      while (!over && merged < jobs.size() && slots[merged].done) {
        Slot& sl = slots[merged];
        result.scanned_bytes += sl.r.scanned_bytes;
        result.files_scanned += sl.r.files_scanned;
        result.count += sl.r.count;
        for (auto& u : sl.r.unreadable) {
          result.unreadable.push_back(std::move(u));
        }
        for (auto& h : sl.r.hits) {
          if (result.hits.size() == want ||
              (result.hits.size() > request.limit && kept_bytes > request.keep_max_bytes)) {
            result.truncated = true;
            result.next_cursor = encodeCursor({h.file, h.offset, h.line_number});
            over = true;
            break;
          }
          if (result.hits.size() >= request.limit) {
            kept_bytes += h.line.size() + h.file.size() + h.service.size() + h.source.size() + 128;
          }
          result.hits.push_back(std::move(h));
        }
        if (!over && !sl.go_on) {  // it stopped itself: enough found, or cancelled
          result.truncated = true;
          result.cancelled = sl.r.cancelled;
          result.next_cursor = sl.r.next_cursor;
          over = true;
        }
        sl.r = SearchResult();
        ++merged;
      }
      if (over) {
        stop = true;  // files still being searched stop at their next chunk
      }
    };
    auto worker = [&](std::vector<Matcher>& m) {
      std::unique_lock<std::mutex> lock(mu);
      for (;;) {
        cv.wait(lock, [&] { return over || next >= jobs.size() || next < merged + kWindow; });
        if (over || next >= jobs.size()) {
          return;
        }
        const size_t i = next++;
        lock.unlock();
        uint64_t end_line = 0;
        const bool go_on = runJob(jobs[i], m, slots[i].r, slots[i].kept, &stop, &end_line);
        lock.lock();
        slots[i].go_on = go_on;
        slots[i].done = true;
        mergeDone();
        cv.notify_all();
      }
    };
    helper.run([&] { worker(helper_matchers); });
    worker(matchers);
    helper.wait();
    std::lock_guard<std::mutex> lock(mu);
    return !over;
  };
  std::vector<Job> pending;  // small files waiting to be searched together
  for (size_t fi = first_file; fi < end_file; ++fi) {
    const SearchFile& f = files[fi];
    std::string error;
    const bool resuming = fi == first_file && have_cursor && !start.before;
    uint64_t skip_to = resuming ? start.offset : 0;
    uint64_t stop_at = UINT64_MAX;  // stream offset where the time range ends
    bool filter_hits_by_time = false;
    if (timed) {
      struct stat st {};
      if (::stat(f.path.c_str(), &st) != 0) {
        result.unreadable.push_back(f.path + ": " + std::strerror(errno));
        continue;
      }
      const int64_t mtime_ms =
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
      if (mtime_ms < from) {
        ++result.files_skipped_by_time;  // last written before `from`
        continue;
      }
      if (f.compressed) {
        filter_hits_by_time = true;
      } else {
        const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          result.unreadable.push_back(f.path + ": " + std::strerror(errno));
          continue;
        }
        const uint64_t size = static_cast<uint64_t>(st.st_size);
        TimeFormat fmt = TimeFormat::kNone;
        std::optional<int64_t> first_time;
        {
          std::string head(64 << 10, '\0');
          const ssize_t n = ::pread(fd, head.data(), head.size(), 0);
          head.resize(static_cast<size_t>(std::max<ssize_t>(n, 0)));
          for (std::string_view rest(head); !rest.empty();) {
            const size_t nl = rest.find('\n');
            first_time = lineTime(rest.substr(0, nl), TimeFormat::kNone, request.now_ms, &fmt);
            if (first_time || nl == std::string_view::npos) {
              break;
            }
            rest.remove_prefix(nl + 1);
          }
        }
        bool skip = false;
        if (!first_time) {
          if (size > 0) {
            result.no_timestamps.push_back(f.path);  // read whole, no time filter
          }
        } else if (*first_time > to) {
          skip = true;
        } else {
          ++result.files_binary_searched;
          const uint64_t begin =
              from > INT64_MIN ? firstOffsetFrom(fd, size, from, false, fmt, request.now_ms) : 0;
          stop_at = to < INT64_MAX ? firstOffsetFrom(fd, size, to, true, fmt, request.now_ms)
                                   : UINT64_MAX;
          if (!resuming || skip_to < begin) {
            skip_to = begin;
          }
          filter_hits_by_time = true;  // lines slightly out of order near the edges
        }
        ::close(fd);
        if (skip) {
          ++result.files_skipped_by_time;  // its first stamped line is after `to`
          continue;
        }
      }
    }
    if (have_cursor && start.before && fi + 1 == end_file) {
      stop_at = std::min(stop_at, start.offset);  // newest first: what comes before the cursor
    }
    if (skip_to >= stop_at) {
      continue;
    }
    // Stream offset where reading starts: a plain file is positioned at skip_to; a compressed
    // one starts at 0 and skips. Line numbers are unknown when a time range started inside.
    Job job{&f,
            skip_to,
            stop_at,
            resuming ? start.line : 1,
            !resuming && !f.compressed && skip_to > 0,
            filter_hits_by_time,
            false};
    if (request.newest_first) {
      // Read to the end of the range, one file after the other, keeping the newest hits.
      if (!runJobs(job, nullptr)) {
        return result;
      }
      continue;
    }
    // A large plain range is searched in two halves at once.
    uint64_t range_end = stop_at;
    if (!f.compressed && range_end == UINT64_MAX) {
      struct stat st {};
      range_end = ::stat(f.path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    }
    uint64_t mid = UINT64_MAX;
    if (request.split_bytes > 0 && !f.compressed && range_end > skip_to &&
        range_end - skip_to >= request.split_bytes) {
      mid = lineStartFrom(f.path, skip_to + (range_end - skip_to) / 2, range_end);
    }
    if (mid != UINT64_MAX && mid > skip_to && mid < range_end) {
      if (!pending.empty() && !runMany(pending)) {
        return result;
      }
      pending.clear();
      ++result.files_split;
      Job first = job;
      first.stop_at = mid;
      Job second{&f, mid, stop_at, 1, job.relative_lines, filter_hits_by_time, true};
      if (!runJobs(first, &second)) {
        return result;
      }
      continue;
    }
    // Smaller files are searched together, on both cores (one at a time with split_bytes 0).
    if (request.split_bytes == 0) {
      if (!runJobs(job, nullptr)) {
        return result;
      }
      continue;
    }
    pending.push_back(job);
  }
  if (!pending.empty()) {
    runMany(pending);
  }
  return result;
}

}  // namespace

SearchResult runSearch(const SearchRequest& request, const std::vector<SearchFile>& files,
                       const std::atomic<bool>* cancel) {
  SearchResult result = searchFilesInOrder(request, files, cancel);
  if (request.newest_first) {
    size_t bytes = 0;
    for (const auto& h : result.hits) {
      bytes += hitBytes(h);
    }
    dropOldest(request, result, bytes, true);
    std::reverse(result.hits.begin(), result.hits.end());
    result.newest_first = true;
    if (result.cancelled) {
      // Stopped before the range's end: newer lines may be unread, so a cursor "before the
      // oldest of these" would skip them. What was found, without a cursor.
      result.next_cursor.clear();
    } else if (result.truncated && !result.hits.empty()) {
      const SearchHit& h = result.hits.back();
      result.next_cursor = encodeCursor({h.file, h.offset, h.line_number, true});
    }
  }
  return result;
}

nlohmann::json describeSources(const std::vector<logs::LogSourceConfig>& sources,
                               const nlohmann::json& tailed) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : sources) {
    nlohmann::json j = {{"type", s.type},
                        {"service", s.service},
                        {"source", s.source},
                        {"integration", s.integration},
                        {"config", s.file}};
    if (s.type == "tcp" || s.type == "udp") {
      j["port"] = s.port;
    }
    if (s.type == "file") {
      j["path"] = s.path;
      nlohmann::json files = nlohmann::json::array();
      bool truncated = false;
      std::string error;
      auto describe = [&](const std::string& path, bool rotated, bool compressed) {
        struct stat st {};
        nlohmann::json f = {{"path", path}, {"rotated", rotated}, {"compressed", compressed}};
        if (::stat(path.c_str(), &st) == 0) {
          f["size"] = static_cast<uint64_t>(st.st_size);
          f["modified"] = formatUtc(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 +
                                    st.st_mtim.tv_nsec / 1000000);
        }
        if (tailed.contains(path)) {
          f["tailed"] = tailed[path];
        }
        files.push_back(std::move(f));
      };
      for (const auto& m : logs::expandGlob(s.path, s.exclude_paths, 0, &truncated, &error)) {
        describe(m.path, false, false);
        for (const auto& r : logs::rotatedSiblings(m.path)) {
          describe(r.path, true, r.compressed);
        }
      }
      j["files"] = std::move(files);
      if (!error.empty()) {
        j["error"] = error;
      }
    }
    out.push_back(std::move(j));
  }
  return nlohmann::json{{"sources", out}};
}

namespace {

nlohmann::json hitJson(const SearchHit& h) {
  nlohmann::json j = {{"file", h.file}, {"line_number", h.line_number}, {"offset", h.offset},
                      {"line", h.line}, {"service", h.service},         {"source", h.source}};
  if (h.line_truncated) {
    j["line_truncated"] = true;
  }
  if (h.line_number_relative) {
    j["line_number"] = nullptr;  // not counted: the search started inside the file
  }
  if (h.time_ms) {
    j["timestamp"] = formatUtc(*h.time_ms);
  }
  return j;
}

}  // namespace

nlohmann::json overflowJson(const SearchResult& r, size_t limit, size_t* bytes) {
  nlohmann::json out = nlohmann::json::array();
  *bytes = 0;
  for (size_t i = limit; i < r.hits.size(); ++i) {
    out.push_back(hitJson(r.hits[i]));
    *bytes += out.back().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
  }
  return out;
}

nlohmann::json toJson(const SearchResult& r, size_t limit) {
  nlohmann::json hits = nlohmann::json::array();
  for (size_t i = 0; i < std::min(limit, r.hits.size()); ++i) {
    hits.push_back(hitJson(r.hits[i]));
  }
  std::string next_cursor = r.next_cursor;
  bool truncated = r.truncated;
  if (r.hits.size() > limit) {
    // The answer stops before this result: the search goes on from it (newest first: with the
    // lines before the last one given).
    const SearchHit& h = r.newest_first ? r.hits[limit - 1] : r.hits[limit];
    next_cursor = encodeCursor({h.file, h.offset, h.line_number, r.newest_first});
    truncated = true;
  }
  return nlohmann::json{
      {"results", hits},
      {"count", r.count},
      {"truncated", truncated},
      {"next_cursor", next_cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(next_cursor)},
      {"scanned_bytes", r.scanned_bytes},
      {"files_scanned", r.files_scanned},
      {"files_split", r.files_split},
      {"unreadable", r.unreadable},
      {"files_skipped_by_time", r.files_skipped_by_time},
      {"files_binary_searched", r.files_binary_searched},
      {"no_timestamps", r.no_timestamps},
  };
}

}  // namespace outpost::query
