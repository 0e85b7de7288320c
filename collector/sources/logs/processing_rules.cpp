#include "collector/sources/logs/processing_rules.h"

#include <fmt/format.h>
#include <re2/re2.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cstddef>
#include <cstring>

#include "collector/sources/logs/json_plain.h"

namespace outpost::logs {
namespace {

RE2::Options ruleOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_encoding(RE2::Options::EncodingUTF8);
  return o;
}

// What a line must contain for `pattern` to match anywhere in it, found without the regex
// engine: the literal text the pattern starts with. *whole: the pattern is nothing but that
// literal. Conservative: empty (no shortcut) when the pattern has an alternation anywhere or
// starts with anything but plain characters (flags, groups, classes, anchors, escapes).
std::string requiredLiteral(std::string_view pattern, bool* whole) {
  *whole = false;
  if (pattern.find('|') != std::string_view::npos) {
    return {};
  }
  static constexpr std::string_view kMeta = "\\.^$?*+()[]{}";
  size_t n = 0;
  while (n < pattern.size() && kMeta.find(pattern[n]) == std::string_view::npos &&
         static_cast<unsigned char>(pattern[n]) < 0x80) {
    ++n;
  }
  if (n == pattern.size()) {
    *whole = n > 0;
    return std::string(pattern);
  }
  // A quantifier that may repeat the last character zero times makes it optional.
  const char next = pattern[n];
  if (n > 0 && (next == '?' || next == '*' || next == '{')) {
    --n;
  }
  return std::string(pattern.substr(0, n));
}

// Where `literal` first occurs in `text` at or after `from` (npos: nowhere). 32, then 16
// candidate positions at a time: those whose byte is the literal's first and whose byte m-1 further
// is its last (SSE2, part of x86-64), each then compared whole; the last few one by one (memmem's
// setup costs more than a line's tail).
size_t findLiteral(std::string_view text, size_t from, std::string_view literal) {
  const size_t n = text.size();
  const size_t m = literal.size();
  if (from > n || n - from < m) {
    return std::string_view::npos;
  }
  const char* t = text.data();
  size_t i = from;
#if defined(__SSE2__)
  if (m >= 2) {
    const __m128i first = _mm_set1_epi8(literal[0]);
    const __m128i last = _mm_set1_epi8(literal[m - 1]);
    auto candidates = [&](size_t at) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + at));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + at + m - 1));
      return _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last));
    };
    auto check = [&](size_t base, unsigned mask) {
      for (; mask != 0; mask &= mask - 1) {
        const size_t at = base + static_cast<size_t>(__builtin_ctz(mask));
        if (std::memcmp(t + at + 1, literal.data() + 1, m - 2) == 0) {
          return at;
        }
      }
      return std::string_view::npos;
    };
    // 32 positions a step (one test for both halves), then 16.
    for (; i + m - 1 + 32 <= n; i += 32) {
      const __m128i lo = candidates(i);
      const __m128i hi = candidates(i + 16);
      if (_mm_movemask_epi8(_mm_or_si128(lo, hi)) != 0) {
        const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(lo)) |
                              (static_cast<unsigned>(_mm_movemask_epi8(hi)) << 16);
        if (const size_t at = check(i, mask); at != std::string_view::npos) {
          return at;
        }
      }
    }
    for (; i + m - 1 + 16 <= n; i += 16) {
      const auto mask = static_cast<unsigned>(_mm_movemask_epi8(candidates(i)));
      if (const size_t at = check(i, mask); at != std::string_view::npos) {
        return at;
      }
    }
  }
#endif
  for (; i + m <= n; ++i) {
    if (t[i] == literal[0] && t[i + m - 1] == literal[m - 1] &&
        std::memcmp(t + i, literal.data(), m) == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

bool contains(std::string_view text, const std::string& literal) {
  return findLiteral(text, 0, literal) != std::string_view::npos;
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

}  // namespace

// Pre-parses a mask rule's replacement: an unknown group expands to nothing, as in Go.
std::vector<ProcessingRules::Segment> ProcessingRules::parseTemplate(const std::string& tmpl,
                                                                     const RE2& re) {
  std::vector<Segment> out;
  std::string literal;
  auto flush = [&]() {
    if (!literal.empty()) {
      out.push_back(Segment{std::move(literal), -1});
      literal.clear();
    }
  };
  size_t i = 0;
  while (i < tmpl.size()) {
    const char c = tmpl[i];
    if (c != '$' || i + 1 >= tmpl.size()) {
      literal.push_back(c);
      ++i;
      continue;
    }
    if (tmpl[i + 1] == '$') {
      literal.push_back('$');
      i += 2;
      continue;
    }
    std::string name;
    size_t next = i + 1;
    if (tmpl[next] == '{') {
      const size_t close = tmpl.find('}', next + 1);
      bool ok = close != std::string::npos && close > next + 1;
      if (ok) {
        name = tmpl.substr(next + 1, close - next - 1);
        for (char n : name) {
          ok = ok && isNameChar(n);
        }
      }
      if (!ok) {
        literal.push_back('$');
        ++i;
        continue;
      }
      next = close + 1;
    } else {
      while (next < tmpl.size() && isNameChar(tmpl[next])) {
        name.push_back(tmpl[next]);
        ++next;
      }
      if (name.empty()) {
        literal.push_back('$');
        ++i;
        continue;
      }
    }
    flush();
    int group = -2;  // expands to nothing
    bool numeric = true;
    for (char n : name) {
      numeric = numeric && n >= '0' && n <= '9';
    }
    if (numeric) {
      if (name.size() <= 4) {
        const int num = std::stoi(name);
        if (num <= re.NumberOfCapturingGroups()) {
          group = num;
        }
      }
    } else {
      const auto& named = re.NamedCapturingGroups();
      if (auto it = named.find(name); it != named.end()) {
        group = it->second;
      }
    }
    if (group >= 0) {
      out.push_back(Segment{{}, group});
    }
    i = next;
  }
  flush();
  return out;
}

namespace {

size_t utf8Step(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  return std::min(n, s.size() - i);
}

}  // namespace

std::optional<std::string> checkRulePattern(const std::string& pattern) {
  RE2 re(pattern, ruleOptions());
  if (!re.ok()) {
    return re.error();
  }
  return std::nullopt;
}

std::optional<ProcessingRules> ProcessingRules::compile(const std::vector<RuleConfig>& rules,
                                                        std::string* error) {
  ProcessingRules out;
  for (const RuleConfig& rc : rules) {
    const std::string where =
        rc.file.empty() ? fmt::format("processing rule '{}'", rc.name)
                        : fmt::format("{}:{}: processing rule '{}'", rc.file, rc.line, rc.name);
    auto fail = [&](const std::string& text) -> std::optional<ProcessingRules> {
      if (error != nullptr) {
        *error = fmt::format("{}: {}", where, text);
      }
      return std::nullopt;
    };
    Rule rule{};
    if (rc.type == "exclude_truncated") {
      rule.kind = Kind::kExcludeTruncated;
      out.rules_.push_back(std::move(rule));
      continue;
    }
    if (rc.type == "exclude_at_match") {
      rule.kind = Kind::kExclude;
    } else if (rc.type == "include_at_match") {
      rule.kind = Kind::kInclude;
    } else if (rc.type == "mask_sequences") {
      rule.kind = Kind::kMask;
    } else if (rc.type != "multi_line") {
      return fail(fmt::format(
          "unknown type '{}' (one of: exclude_at_match, include_at_match, mask_sequences, "
          "multi_line, exclude_truncated)",
          rc.type));
    }
    auto re = std::make_shared<RE2>(rc.pattern, ruleOptions());
    if (!re->ok()) {
      return fail(fmt::format("invalid pattern: {}", re->error()));
    }
    if (rc.type == "multi_line") {
      if (!out.multi_line_) {
        out.multi_line_ = rc.pattern;
      }
      continue;
    }
    rule.literal = requiredLiteral(rc.pattern, &rule.whole_literal);
    if (!rule.literal.empty() && !rule.whole_literal) {
      const std::string_view rest = std::string_view(rc.pattern).substr(rule.literal.size());
      rule.run = rest == "\\S+"   ? Run::kNonSpace
                 : rest == "\\d+" ? Run::kDigit
                 : rest == "\\w+" ? Run::kWord
                                  : Run::kNone;
    }
    rule.groups = re->NumberOfCapturingGroups();
    if (rule.kind == Kind::kMask) {
      rule.replace = parseTemplate(rc.replace_placeholder, *re);
      for (const Segment& seg : rule.replace) {
        if (seg.group < 0 && !isJsonPlain(seg.text)) {
          out.keeps_json_plain_ = false;
        }
      }
    }
    rule.re = std::move(re);
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

// RE2's Perl classes, ASCII only (also with UTF-8 text: \S takes every byte of a multi-byte
// character, none of which is a space).
size_t ProcessingRules::runEnd(Run run, std::string_view text, size_t from) {
  size_t i = from;
  const size_t n = text.size();
  switch (run) {
    case Run::kNonSpace:
      while (i < n && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\f' &&
             text[i] != '\r') {
        ++i;
      }
      break;
    case Run::kDigit:
      while (i < n && text[i] >= '0' && text[i] <= '9') {
        ++i;
      }
      break;
    case Run::kWord:
      while (i < n && isNameChar(text[i])) {
        ++i;
      }
      break;
    case Run::kNone:
      break;
  }
  return i;
}

bool ProcessingRules::findRun(const Rule& rule, std::string_view text, size_t pos, size_t* start,
                              size_t* end) {
  const size_t m = rule.literal.size();
  for (size_t at = findLiteral(text, pos, rule.literal); at != std::string_view::npos;
       at = findLiteral(text, at + 1, rule.literal)) {
    const size_t e = runEnd(rule.run, text, at + m);
    if (e > at + m) {
      *start = at;
      *end = e;
      return true;
    }
  }
  return false;
}

// Most rules are a word or start with one: a line without it is decided by memmem alone.
bool ProcessingRules::matches(const Rule& rule, std::string_view content) {
  if (rule.run != Run::kNone) {
    size_t start = 0;
    size_t end = 0;
    return findRun(rule, content, 0, &start, &end);
  }
  if (!rule.literal.empty()) {
    if (!contains(content, rule.literal)) {
      return false;
    }
    if (rule.whole_literal) {
      return true;
    }
  }
  return RE2::PartialMatch(content, *rule.re);
}

void ProcessingRules::mask(const Rule& rule, std::string& content) {
  const RE2& re = *rule.re;
  const std::string_view text(content);
  const int nsub = rule.groups + 1;
  // Room for the whole match and every group, on the stack for the usual few groups.
  re2::StringPiece small[8];
  std::vector<re2::StringPiece> large;
  re2::StringPiece* groups = small;
  if (nsub > 8) {
    large.resize(static_cast<size_t>(nsub));
    groups = large.data();
  }
  size_t pos = 0;
  size_t copied = 0;
  size_t last_end = std::string::npos;
  // The masked line is built here and swapped with `content`: the buffer `content` had comes
  // back, kept for the next line of this thread (no allocation per masked line).
  thread_local std::string out;
  bool any = false;
  while (pos <= text.size()) {
    if (rule.run != Run::kNone) {
      size_t start = 0;
      size_t end = 0;
      if (!findRun(rule, text, pos, &start, &end)) {
        break;
      }
      groups[0] = re2::StringPiece(text.data() + start, end - start);
    } else if (!rule.literal.empty()) {
      // Every match starts with the literal: the regex runs anchored where it occurs, so the
      // text between matches is scanned by findLiteral, not by the regex engine.
      const size_t at = findLiteral(text, pos, rule.literal);
      if (at == std::string_view::npos) {
        break;
      }
      if (!re.Match(text, at, text.size(), RE2::ANCHOR_START, groups, nsub)) {
        pos = at + 1;
        continue;
      }
    } else if (!re.Match(text, pos, text.size(), RE2::UNANCHORED, groups, nsub)) {
      break;
    }
    const size_t ms = static_cast<size_t>(groups[0].data() - text.data());
    const size_t me = ms + groups[0].size();
    if (groups[0].empty() && ms == last_end) {
      // Go ignores an empty match right after the previous match.
      if (ms >= text.size()) {
        break;
      }
      pos = ms + utf8Step(text, ms);
      continue;
    }
    if (!any) {
      out.clear();
      out.reserve(text.size() + 16);
      any = true;
    }
    out.append(text.substr(copied, ms - copied));
    for (const Segment& seg : rule.replace) {
      if (seg.group < 0) {
        out.append(seg.text);
      } else {
        const re2::StringPiece g = groups[seg.group];
        out.append(g.data() == nullptr ? std::string_view() : std::string_view(g.data(), g.size()));
      }
    }
    copied = me;
    last_end = me;
    if (me == ms) {
      if (me >= text.size()) {
        break;
      }
      pos = me + utf8Step(text, me);
    } else {
      pos = me;
    }
  }
  if (any) {
    out.append(text.substr(copied));
    content.swap(out);
    if (out.capacity() > (size_t{1} << 20)) {
      std::string().swap(out);  // not a huge line's buffer kept for good
    }
  }
}

bool ProcessingRules::apply(std::string& content, bool truncated) const {
  for (const Rule& rule : rules_) {
    switch (rule.kind) {
      case Kind::kExcludeTruncated:
        if (truncated) {
          return false;
        }
        break;
      case Kind::kExclude:
        if (matches(rule, content)) {
          return false;
        }
        break;
      case Kind::kInclude:
        if (!matches(rule, content)) {
          return false;
        }
        break;
      case Kind::kMask:
        mask(rule, content);  // (a line without the rule's literal costs one findLiteral)
        break;
    }
  }
  return true;
}

}  // namespace outpost::logs
