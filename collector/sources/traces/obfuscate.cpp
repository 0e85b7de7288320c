#include "collector/sources/traces/obfuscate.h"

#include <re2/re2.h>

#include <cctype>

#include "collector/sources/traces/normalize.h"

namespace outpost::traces {

namespace {

// ASCII character classes, inline (the <cctype> ones are locale-aware calls).
constexpr bool asciiDigit(unsigned char c) {
  return c >= '0' && c <= '9';
}
constexpr bool asciiAlpha(unsigned char c) {
  return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}
constexpr bool asciiAlnum(unsigned char c) {
  return asciiDigit(c) || asciiAlpha(c);
}
constexpr bool asciiSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
constexpr bool asciiXdigit(unsigned char c) {
  return asciiDigit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}
constexpr char asciiUpper(unsigned char c) {
  return static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
}

// `word` equals the upper-case `upper`, ignoring case (ASCII).
bool equalsUpper(std::string_view word, std::string_view upper) {
  if (word.size() != upper.size()) {
    return false;
  }
  for (size_t i = 0; i < word.size(); ++i) {
    if (asciiUpper(static_cast<unsigned char>(word[i])) != upper[i]) {
      return false;
    }
  }
  return true;
}

bool isIdentStart(unsigned char c) {
  return asciiAlpha(c) || c == '_' || c >= 0x80;
}
bool isIdentChar(unsigned char c) {
  return asciiAlnum(c) || c == '_' || c == '$' || c == '.' || c >= 0x80;
}

// Tokens are separated by one space, except before a comma: "IN ( ?, ? )", as the Agent
// writes obfuscated queries (so resources group the same way).
void appendToken(std::string& out, std::string_view token) {
  if (!out.empty() && out.back() != ' ' && token != ",") {
    out.push_back(' ');
  }
  out.append(token);
}

// Collapses "( ?, ?, ? )" style lists that follow IN / VALUES into "( ? )".
void collapseLists(std::string& out) {
  std::string r;
  r.reserve(out.size());
  size_t i = 0;
  while (i < out.size()) {
    if (out[i] == '(') {
      // Is it "(? , ? ...)" with only ?, commas and spaces?
      size_t j = i + 1;
      bool only = true;
      int marks = 0;
      while (j < out.size() && out[j] != ')') {
        const char c = out[j];
        if (c == '?') {
          ++marks;
        } else if (c != ',' && c != ' ') {
          only = false;
          break;
        }
        ++j;
      }
      if (only && j < out.size() && marks > 1) {
        r += "( ? )";
        i = j + 1;
        continue;
      }
    }
    r.push_back(out[i]);
    ++i;
  }
  out = std::move(r);
}

}  // namespace

std::string Obfuscator::obfuscateSql(std::string_view q) {
  std::string out;
  out.reserve(q.size());
  size_t i = 0;
  const size_t n = q.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(q[i]);
    if (asciiSpace(c)) {
      ++i;
      continue;
    }
    // Comments.
    if (c == '-' && i + 1 < n && q[i + 1] == '-') {
      while (i < n && q[i] != '\n') {
        ++i;
      }
      continue;
    }
    if (c == '#') {
      while (i < n && q[i] != '\n') {
        ++i;
      }
      continue;
    }
    if (c == '/' && i + 1 < n && q[i + 1] == '*') {
      const size_t end = q.find("*/", i + 2);
      i = end == std::string_view::npos ? n : end + 2;
      continue;
    }
    // Prefixed string literals (X'0A', B'01', N'text', E'esc') are one literal.
    if (i + 1 < n && q[i + 1] == '\'' && (out.empty() || out.back() != '.')) {
      const char u = asciiUpper(c);
      if (u == 'X' || u == 'B' || u == 'N' || u == 'E') {
        ++i;
      }
    }
    // String literals: '...' with '' or \' escapes.
    if (q[i] == '\'') {
      ++i;
      while (i < n) {
        if (q[i] == '\\' && i + 1 < n) {
          i += 2;
          continue;
        }
        if (q[i] == '\'') {
          if (i + 1 < n && q[i + 1] == '\'') {
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        ++i;
      }
      appendToken(out, "?");
      continue;
    }
    // Dollar-quoted strings: $$...$$ or $tag$...$tag$.
    if (c == '$') {
      size_t j = i + 1;
      while (j < n && (asciiAlnum(static_cast<unsigned char>(q[j])) || q[j] == '_')) {
        ++j;
      }
      if (j < n && q[j] == '$') {
        const std::string_view tag = q.substr(i, j - i + 1);
        const size_t end = q.find(tag, j + 1);
        i = end == std::string_view::npos ? n : end + tag.size();
        appendToken(out, "?");
        continue;
      }
      // $1 style placeholders stay.
      size_t k = i + 1;
      while (k < n && asciiDigit(static_cast<unsigned char>(q[k]))) {
        ++k;
      }
      appendToken(out, q.substr(i, k - i));
      i = k;
      continue;
    }
    // Quoted identifiers stay: "name", `name`.
    // (An unterminated one may be a MySQL "string": it is hidden with the rest of the query.)
    if (c == '"' || c == '`') {
      const size_t end = q.find(static_cast<char>(c), i + 1);
      if (end == std::string_view::npos) {
        appendToken(out, "?");
        break;
      }
      appendToken(out, q.substr(i, end + 1 - i));
      i = end + 1;
      continue;
    }
    // Numbers (with a sign when it cannot be a binary minus), hex.
    const bool sign =
        (c == '-' || c == '+') && i + 1 < n &&
        (asciiDigit(static_cast<unsigned char>(q[i + 1])) || q[i + 1] == '.') &&
        (out.empty() || out.back() == '(' || out.back() == ',' || out.back() == '=' ||
         out.back() == '<' || out.back() == '>' ||
         (out.size() >= 2 && out.compare(out.size() - 2, 2, "IN") == 0) || out.back() == ' ');
    if (asciiDigit(c) || sign ||
        (c == '.' && i + 1 < n && asciiDigit(static_cast<unsigned char>(q[i + 1])))) {
      size_t j = i + (sign ? 1 : 0);
      if (j + 1 < n && q[j] == '0' && (q[j + 1] == 'x' || q[j + 1] == 'X')) {
        j += 2;
        while (j < n && asciiXdigit(static_cast<unsigned char>(q[j]))) {
          ++j;
        }
      } else {
        while (j < n && (asciiAlnum(static_cast<unsigned char>(q[j])) || q[j] == '.' ||
                         ((q[j] == '-' || q[j] == '+') && (q[j - 1] == 'e' || q[j - 1] == 'E')))) {
          ++j;
        }
      }
      appendToken(out, "?");
      i = j;
      continue;
    }
    // Named placeholders (:name, @name) stay one token; '::' casts are operators below.
    if ((c == ':' || c == '@') && i + 1 < n && isIdentChar(static_cast<unsigned char>(q[i + 1])) &&
        q[i + 1] != '.') {
      size_t j = i + 1;
      while (j < n && isIdentChar(static_cast<unsigned char>(q[j]))) {
        ++j;
      }
      appendToken(out, q.substr(i, j - i));
      i = j;
      continue;
    }
    if (isIdentStart(c)) {
      size_t j = i + 1;
      while (j < n && isIdentChar(static_cast<unsigned char>(q[j]))) {
        ++j;
      }
      const std::string_view word = q.substr(i, j - i);
      if (equalsUpper(word, "TRUE") || equalsUpper(word, "FALSE")) {
        appendToken(out, "?");
      } else {
        appendToken(out, word);
      }
      i = j;
      continue;
    }
    // Operators and punctuation, one character (two for <=, >=, <>, !=, ||, ::).
    if (i + 1 < n) {
      const std::string_view two = q.substr(i, 2);
      if (two == "<=" || two == ">=" || two == "<>" || two == "!=" || two == "||" || two == "::") {
        appendToken(out, two);
        i += 2;
        continue;
      }
    }
    appendToken(out, q.substr(i, 1));
    ++i;
  }
  if (out.find("( ?") != std::string::npos) {
    collapseLists(out);
  }
  return out;
}

namespace {

// The words of one line of a Redis command, one at a time: runs of non-space bytes, or quoted
// strings (with backslash escapes) kept whole, quotes included.
class Words {
 public:
  explicit Words(std::string_view line) : line_(line) {}

  bool next(std::string_view* word) {
    size_t i = i_;
    while (i < line_.size() && asciiSpace(static_cast<unsigned char>(line_[i]))) {
      ++i;
    }
    if (i >= line_.size()) {
      i_ = i;
      return false;
    }
    size_t j = i;
    if (line_[i] == '"' || line_[i] == '\'') {
      const char quote = line_[i];
      j = i + 1;
      while (j < line_.size() && line_[j] != quote) {
        j += line_[j] == '\\' ? 2 : 1;
      }
      j = std::min(j + 1, line_.size());
    } else {
      while (j < line_.size() && !asciiSpace(static_cast<unsigned char>(line_[j]))) {
        ++j;
      }
    }
    *word = line_.substr(i, j - i);
    i_ = j;
    return true;
  }

 private:
  std::string_view line_;
  size_t i_ = 0;
};

// A command name in upper case, in `buf`; empty when longer than any command the lookups below
// know (those are then never matched).
class UpperName {
 public:
  explicit UpperName(std::string_view word) {
    if (word.size() <= sizeof buf_) {
      for (size_t i = 0; i < word.size(); ++i) {
        buf_[i] = asciiUpper(static_cast<unsigned char>(word[i]));
      }
      size_ = word.size();
    }
  }
  std::string_view view() const { return {buf_, size_}; }

 private:
  char buf_[16];
  size_t size_ = 0;
};

void appendUpper(std::string& out, std::string_view s) {
  const size_t old = out.size();
  out.append(s);
  for (size_t i = old; i < out.size(); ++i) {
    out[i] = asciiUpper(static_cast<unsigned char>(out[i]));
  }
}

// Commands whose second word is a sub-command kept in clear.
bool hasSubcommand(std::string_view cmd) {
  return cmd == "CLIENT" || cmd == "CLUSTER" || cmd == "COMMAND" || cmd == "CONFIG" ||
         cmd == "DEBUG" || cmd == "SCRIPT" || cmd == "XINFO" || cmd == "XGROUP" ||
         cmd == "OBJECT" || cmd == "MEMORY" || cmd == "ACL";
}

// Commands with no key: every argument is hidden.
bool noKey(std::string_view cmd) {
  return cmd == "AUTH" || cmd == "HELLO" || cmd == "MIGRATE" || cmd == "EVAL" || cmd == "EVALSHA" ||
         cmd == "SELECT" || cmd == "PING" || cmd == "ECHO";
}

// Commands of key (or field) / value pairs: the keys stay, each value becomes '?'.
// MSET k1 v1 k2 v2 -> MSET k1 ? k2 ?; HSET h f1 v1 f2 v2 -> HSET h f1 ? f2 ?.
// Returns the index of the first pair's key, or 0.
size_t pairsFrom(std::string_view cmd) {
  if (cmd == "MSET" || cmd == "MSETNX") {
    return 1;
  }
  if (cmd == "HSET" || cmd == "HMSET") {
    return 2;
  }
  return 0;
}

// Each non-empty line of a Redis raw command, in order: `fn(words, first)` with the line's words
// after its first, `first`, until `fn` returns false.
template <typename Fn>
void forEachCommand(std::string_view raw, Fn fn) {
  size_t start = 0;
  while (start <= raw.size()) {
    size_t end = raw.find('\n', start);
    if (end == std::string_view::npos) {
      end = raw.size();
    }
    Words words(raw.substr(start, end - start));
    if (std::string_view first; words.next(&first) && !fn(words, first)) {
      return;
    }
    if (end == raw.size()) {
      return;
    }
    start = end + 1;
  }
}

}  // namespace

std::string Obfuscator::obfuscateRedis(std::string_view raw) {
  std::string out;
  forEachCommand(raw, [&](Words& words, std::string_view name) {
    if (!out.empty()) {
      out.push_back('\n');
    }
    const UpperName cmd(name);
    out.append(name);
    std::string_view w;
    if (const size_t first = pairsFrom(cmd.view()); first != 0) {
      for (size_t i = 1; words.next(&w); ++i) {
        out.push_back(' ');
        const bool value = i >= first && (i - first) % 2 == 1;
        out.append(value ? std::string_view("?") : w);
      }
      return true;
    }
    // Words kept in clear: the sub-command, or the key; none for commands without a key.
    // Whatever follows becomes one '?'.
    const size_t keep = noKey(cmd.view()) ? 1 : 2;
    for (size_t i = 1; i < keep && words.next(&w); ++i) {
      out.push_back(' ');
      out.append(w);
    }
    if (words.next(&w)) {
      out += " ?";
    }
    return true;
  });
  return out;
}

std::string Obfuscator::quantizeRedis(std::string_view raw) {
  std::string out;
  size_t commands = 0;
  forEachCommand(raw, [&](Words& words, std::string_view name) {
    if (++commands > 3) {
      out += " ...";
      return false;
    }
    if (!out.empty()) {
      out.push_back(' ');
    }
    appendUpper(out, name);
    if (std::string_view sub; hasSubcommand(UpperName(name).view()) && words.next(&sub)) {
      out.push_back(' ');
      appendUpper(out, sub);
    }
    return true;
  });
  return out;
}

std::string Obfuscator::obfuscateHttpUrl(std::string_view url, bool remove_query,
                                         bool remove_digit_paths) {
  std::string u(url);
  if (remove_query) {
    const size_t q = u.find('?');
    if (q != std::string::npos) {
      u.resize(q + 1);
    }
  }
  if (remove_digit_paths) {
    const size_t scheme = u.find("://");
    size_t path = u.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (path != std::string::npos) {
      const size_t q = u.find('?', path);
      const size_t end = q == std::string::npos ? u.size() : q;
      std::string rebuilt = u.substr(0, path);
      size_t i = path;
      while (i < end) {
        size_t next = u.find('/', i + 1);
        if (next == std::string::npos || next > end) {
          next = end;
        }
        const std::string_view seg(u.data() + i + 1, next - i - 1);
        bool digit = false;
        for (char c : seg) {
          digit = digit || asciiDigit(static_cast<unsigned char>(c));
        }
        rebuilt += '/';
        rebuilt += digit ? std::string("?") : std::string(seg);
        i = next;
      }
      rebuilt += u.substr(end);
      u = std::move(rebuilt);
    }
  }
  return u;
}

namespace {

// A card number: 12-19 digits (spaces or dashes between groups allowed) that start like an
// issuer's number (Visa 4, Mastercard 51-55 and 22-27, Amex 34/37, Discover/UnionPay 6, Diners
// 30/36/38/39, JCB 35) and pass the Luhn check. No allocation: most meta values fail at once.
bool looksLikeCard(std::string_view v) {
  if (v.size() < 12 || v.size() > 40 || !asciiDigit(static_cast<unsigned char>(v[0]))) {
    return false;
  }
  size_t count = 0;
  int prefix = 0;  // the first two digits
  for (char c : v) {
    if (asciiDigit(static_cast<unsigned char>(c))) {
      if (count < 2) {
        prefix = prefix * 10 + (c - '0');
      }
      ++count;
    } else if (c != ' ' && c != '-') {
      return false;
    }
  }
  if (count < 12 || count > 19) {
    return false;
  }
  const int first = prefix / 10;
  const bool issuer = first == 4 || (prefix >= 51 && prefix <= 55) ||
                      (prefix >= 22 && prefix <= 27) || prefix == 34 || prefix == 37 ||
                      first == 6 || prefix == 30 || prefix == 36 || prefix == 38 || prefix == 39 ||
                      prefix == 35;
  if (!issuer) {
    return false;
  }
  int sum = 0;
  bool dbl = false;
  for (size_t i = v.size(); i-- > 0;) {
    if (!asciiDigit(static_cast<unsigned char>(v[i]))) {
      continue;
    }
    int d = v[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

// The obfuscated text, kept in the arena only when it differs from the original.
Str keepIfChanged(Str original, std::string obfuscated, Arena& arena) {
  if (obfuscated == original) {
    return original;
  }
  return arena.keep(std::move(obfuscated));
}

}  // namespace

Obfuscator::CacheStats Obfuscator::cacheStats() const {
  return CacheStats{cache_hits_, cache_misses_, sql_cache_.size(), sql_cache_bytes_};
}

Str Obfuscator::obfuscateSqlCached(Str text, Arena& arena) const {
  if (o_.cache) {
    if (auto it = sql_cache_.find(text); it != sql_cache_.end()) {
      ++cache_hits_;
      return it->second.unchanged ? text : arena.copy(it->second.obfuscated);
    }
    ++cache_misses_;
  }
  std::string o = obfuscateSql(text);
  if (o.empty()) {
    o.push_back('?');  // (o is empty; `= "?"` trips a GCC 12 -Wrestrict false positive)
  }
  const bool unchanged = o == text;
  if (o_.cache) {
    constexpr size_t kEntryOverhead = 96;  // node, hash slot, two string headers
    const size_t cost = text.size() + (unchanged ? 0 : o.size()) + kEntryOverhead;
    if (cost <= o_.cache_max_bytes / 16) {  // one huge query does not wipe the rest
      if (sql_cache_bytes_ + cost > o_.cache_max_bytes) {
        sql_cache_.clear();
        sql_cache_bytes_ = 0;
      }
      sql_cache_.emplace(std::string(text), CachedSql{unchanged ? std::string() : o, unchanged});
      sql_cache_bytes_ += cost;
    }
  }
  return unchanged ? text : arena.keep(std::move(o));
}

void Obfuscator::obfuscateSpan(Span& s, Arena& arena) const {
  const Str type = s.type;
  if (o_.sql && (type == "sql" || type == "cassandra")) {
    // The resource is the query unless the tracer put one in sql.query.
    // A query that obfuscates to nothing (only comments) becomes "?".
    auto obfuscate = [&](Str text) { return obfuscateSqlCached(text, arena); };
    const Str* query = s.findMeta("sql.query");
    const Str source = query != nullptr ? *query : s.resource;
    const Str kept = obfuscate(source);
    if (query != nullptr && *query != s.resource) {
      s.resource = obfuscate(s.resource);
    } else {
      s.resource = kept;
    }
    s.setMeta("sql.query", kept);
    if (const Str* stmt = s.findMeta("db.statement")) {
      s.setMeta("db.statement", obfuscate(*stmt));
    }
  } else if (o_.redis && (type == "redis" || type == "valkey")) {
    const Str key = type == "redis" ? Str("redis.raw_command") : Str("valkey.raw_command");
    // The resource is quantized whatever it holds (a tracer may put the raw command there).
    if (std::string q = quantizeRedis(s.resource); !q.empty()) {
      s.resource = keepIfChanged(s.resource, std::move(q), arena);
    }
    if (const Str* raw = s.findMeta(key)) {
      const Str original = *raw;
      s.setMeta(key, keepIfChanged(original, obfuscateRedis(original), arena));
    }
  } else if (o_.memcached && type == "memcached") {
    if (const Str* cmd = s.findMeta("memcached.command")) {
      const size_t sp = cmd->find_first_of(" \t\r\n");
      if (sp != std::string_view::npos) {
        s.setMeta("memcached.command", cmd->substr(0, sp));
      }
    }
  } else if ((o_.http_remove_query_string || o_.http_remove_paths_with_digits) &&
             (type == "web" || type == "http")) {
    if (const Str* url = s.findMeta("http.url")) {
      s.setMeta("http.url", keepIfChanged(*url,
                                          obfuscateHttpUrl(*url, o_.http_remove_query_string,
                                                           o_.http_remove_paths_with_digits),
                                          arena));
    }
  }
  if (o_.credit_cards) {
    for (auto& [k, v] : s.meta) {
      if (!k.starts_with("_") && looksLikeCard(v)) {
        v = "?";
      }
    }
  }
}

ResourceFilter::ResourceFilter() = default;
ResourceFilter::~ResourceFilter() = default;

bool ResourceFilter::compile(const std::vector<std::string>& patterns, std::string* error) {
  patterns_.clear();
  for (const auto& p : patterns) {
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_unique<RE2>(p, options);
    if (!re->ok()) {
      std::string e = "invalid regex '";
      e += p;
      e += "': ";
      e += re->error();
      *error = std::move(e);
      patterns_.clear();
      return false;
    }
    patterns_.push_back(std::move(re));
  }
  return true;
}

bool ResourceFilter::ignored(const TraceChunk& chunk) const {
  if (patterns_.empty() || chunk.spans.empty()) {
    return false;
  }
  const Str resource = chunk.spans[rootSpanIndex(chunk)].resource;
  for (const auto& re : patterns_) {
    if (RE2::PartialMatch(re2::StringPiece(resource.data(), resource.size()), *re)) {
      return true;
    }
  }
  return false;
}

}  // namespace outpost::traces
