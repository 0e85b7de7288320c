#include "collector/query/log_search.h"

#include <fcntl.h>
#include <re2/re2.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>

#include "collector/sources/logs/path_glob.h"

namespace outpost::query {

namespace {

constexpr size_t kChunk = 4 << 20;
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

struct Cursor {
  std::string path;
  uint64_t offset = 0;
  uint64_t line = 1;
};

std::string encodeCursor(const Cursor& c) {
  return "c1." + hexOf(c.path) + "." + std::to_string(c.offset) + "." + std::to_string(c.line);
}

bool decodeCursor(const std::string& s, Cursor* c) {
  if (s.rfind("c1.", 0) != 0) {
    return false;
  }
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
      return;
    }
    RE2::Options o;
    o.set_log_errors(false);
    o.set_case_sensitive(!case_insensitive);
    // ^ and $ at line boundaries: the text searched is many lines at once.
    re_ = std::make_unique<RE2>("(?m)" + (regex ? pattern : RE2::QuoteMeta(pattern)), o);
  }
  bool ok(std::string* error) const {
    if (re_ && !re_->ok()) {
      *error = re_->error();
      return false;
    }
    return true;
  }
  // First match at or after `from` in text[0, n); n when none.
  size_t find(const char* text, size_t n, size_t from) const {
    if (re_ == nullptr) {
      if (literal_.empty()) {
        return from < n ? from : n;
      }
      const void* p = ::memmem(text + from, n - from, literal_.data(), literal_.size());
      return p == nullptr ? n : static_cast<size_t>(static_cast<const char*>(p) - text);
    }
    re2::StringPiece m;
    if (!re_->Match(re2::StringPiece(text, n), from, n, RE2::UNANCHORED, &m, 1)) {
      return n;
    }
    return static_cast<size_t>(m.data() - text);
  }
  bool matches(std::string_view line) const {
    return find(line.data(), line.size(), 0) < line.size() ||
           (line.empty() && re_ == nullptr && literal_.empty());
  }

 private:
  std::string literal_;
  std::unique_ptr<RE2> re_;
};

// --- reading ---------------------------------------------------------------------------------

class Reader {
 public:
  virtual ~Reader() = default;
  // Appends up to `max` bytes to `out`; 0 at the end; -1 on error (*error set).
  virtual ssize_t read(std::string& out, size_t max, std::string* error) = 0;
};

class PlainReader : public Reader {
 public:
  explicit PlainReader(int fd) : fd_(fd) {}
  ~PlainReader() override { ::close(fd_); }
  ssize_t read(std::string& out, size_t max, std::string* error) override {
    const size_t old = out.size();
    out.resize(old + max);
    ssize_t n;
    do {
      n = ::read(fd_, out.data() + old, max);
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
  ssize_t read(std::string& out, size_t max, std::string* error) override {
    const size_t old = out.size();
    out.resize(old + max);
    const int n = gzread(f_, out.data() + old, static_cast<unsigned>(max));
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
  ssize_t read(std::string& out, size_t max, std::string* error) override {
    const size_t old = out.size();
    out.resize(old + max);
    ZSTD_outBuffer o{out.data() + old, max, 0};
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

}  // namespace

bool parseSearchRequest(const nlohmann::json& body, SearchRequest* out, std::string* error) {
  if (!body.is_object()) {
    *error = "the body must be a JSON object";
    return false;
  }
  static const std::set<std::string> kKnown = {
      "query", "patterns", "regex",          "case_insensitive", "service", "source",
      "path",  "limit",    "max_line_bytes", "cursor",           "from",    "to"};
  for (const auto& [key, value] : body.items()) {
    if (!kKnown.count(key)) {
      *error = "unknown field '" + key +
               "' (fields: query or patterns, regex, case_insensitive, service, source, path, "
               "limit, max_line_bytes, cursor)";
      return false;
    }
  }
  if (body.contains("from") || body.contains("to")) {
    *error = "from/to: time ranges are not supported yet; search without them";
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
    if (p.empty() || p.size() > 4096) {
      *error = "a pattern must have 1 to 4096 bytes";
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
      !string("service", &out->service) || !string("source", &out->source) ||
      !string("path", &out->path) || !string("cursor", &out->cursor) ||
      !number("limit", 1, 10000, &out->limit) ||
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
  Cursor c;
  if (!out->cursor.empty() && !decodeCursor(out->cursor, &c)) {
    *error = "cursor: not one this API returned";
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

SearchResult runSearch(const SearchRequest& request, const std::vector<SearchFile>& files,
                       const std::atomic<bool>* cancel) {
  SearchResult result;
  std::vector<Matcher> matchers;
  for (const auto& p : request.patterns) {
    matchers.emplace_back(p, request.regex, request.case_insensitive);
  }
  Cursor start;
  size_t first_file = 0;
  if (!request.cursor.empty() && decodeCursor(request.cursor, &start)) {
    first_file = files.size();
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].path == start.path) {
        first_file = i;
        break;
      }
    }
  }
  const size_t want = request.limit;
  for (size_t fi = first_file; fi < files.size(); ++fi) {
    const SearchFile& f = files[fi];
    std::string error;
    auto reader = openReader(f.path, &error);
    if (!reader) {
      result.unreadable.push_back(f.path + ": " + error);
      continue;
    }
    ++result.files_scanned;
    const bool resuming = fi == first_file && !request.cursor.empty();
    const uint64_t skip_to = resuming ? start.offset : 0;
    uint64_t buf_offset = 0;                       // stream offset of buf[0]
    uint64_t line_no = resuming ? start.line : 1;  // line number of the first line in buf
    std::string buf;
    bool eof = false;
    while (!eof) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
        result.cancelled = true;
        return result;
      }
      const ssize_t n = reader->read(buf, kChunk, &error);
      if (n < 0) {
        result.unreadable.push_back(f.path + ": " + error);
        break;
      }
      eof = n == 0;
      result.scanned_bytes += static_cast<uint64_t>(std::max<ssize_t>(n, 0));
      // Skip what a cursor already covered (whole lines: it points at a line start).
      if (buf_offset < skip_to) {
        const size_t drop =
            static_cast<size_t>(std::min<uint64_t>(skip_to - buf_offset, buf.size()));
        buf.erase(0, drop);
        buf_offset += drop;
        if (buf_offset < skip_to) {
          continue;
        }
      }
      // Whole lines only, unless the file ended (its last line has no newline).
      size_t end = buf.size();
      if (!eof) {
        const char* p = static_cast<const char*>(::memrchr(buf.data(), '\n', buf.size()));
        if (p == nullptr && buf.size() < kMaxLine) {
          continue;  // a line longer than the chunk: read on
        }
        // A line longer than kMaxLine is searched in pieces rather than held whole.
        end = p == nullptr ? buf.size() : static_cast<size_t>(p - buf.data()) + 1;
      }
      const char* text = buf.data();
      size_t pos = 0;
      size_t counted = 0;  // lines counted up to here
      uint64_t line_at_counted = line_no;
      while (pos < end) {
        const size_t m = matchers[0].find(text, end, pos);
        if (m >= end) {
          break;
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
        if (all) {
          line_at_counted += countLines(text + counted, line_start - counted);
          counted = line_start;
          if (result.hits.size() == want) {
            result.truncated = true;
            result.next_cursor = encodeCursor({f.path, buf_offset + line_start, line_at_counted});
            return result;
          }
          SearchHit h;
          h.file = f.path;
          h.line_number = line_at_counted;
          h.offset = buf_offset + line_start;
          const size_t keep = std::min(line.size(), request.max_line_bytes);
          h.line.assign(line.data(), keep);
          if (!h.line.empty() && h.line.back() == '\r') {
            h.line.pop_back();
          }
          h.line_truncated = keep < line.size();
          h.service = f.service;
          h.source = f.source;
          result.hits.push_back(std::move(h));
        }
        pos = line_end + 1;
      }
      line_no = line_at_counted + countLines(text + counted, end - counted);
      buf.erase(0, end);
      buf_offset += end;
    }
  }
  return result;
}

nlohmann::json toJson(const SearchResult& r) {
  nlohmann::json hits = nlohmann::json::array();
  for (const auto& h : r.hits) {
    nlohmann::json j = {{"file", h.file}, {"line_number", h.line_number}, {"offset", h.offset},
                        {"line", h.line}, {"service", h.service},         {"source", h.source}};
    if (h.line_truncated) {
      j["line_truncated"] = true;
    }
    hits.push_back(std::move(j));
  }
  return nlohmann::json{
      {"results", hits},
      {"truncated", r.truncated},
      {"next_cursor",
       r.next_cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.next_cursor)},
      {"scanned_bytes", r.scanned_bytes},
      {"files_scanned", r.files_scanned},
      {"unreadable", r.unreadable},
  };
}

}  // namespace outpost::query
