#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

// log_processing_rules (wire-formats.md §3.7): drop, keep or mask messages with RE2 patterns
// (the Go Agent's regexp syntax is RE2's).
namespace outpost::logs {

// One rule as configured (a source's log_processing_rules or logs_config.processing_rules).
struct RuleConfig {
  std::string type;  // exclude_at_match | include_at_match | mask_sequences | multi_line |
                     // exclude_truncated
  std::string name;
  std::string pattern;
  std::string replace_placeholder;  // mask_sequences
  std::string file;                 // where it was configured, for error messages
  int line = 0;
};

// The rule types, for validation and documentation.
inline constexpr std::string_view kRuleTypes[] = {
    "exclude_at_match", "include_at_match", "mask_sequences", "multi_line", "exclude_truncated"};

// The compiled rules of one source. Copies share the compiled patterns (RE2 is thread-safe for
// matching).
class ProcessingRules {
 public:
  ProcessingRules() = default;

  // Global rules first, then the source's, in order. multi_line rules are not applied here
  // (the multi-line stage owns them; see multiLinePattern()). nullopt and *error (naming the
  // rule's file:line, name and RE2's message) on a bad pattern or an unknown type.
  static std::optional<ProcessingRules> compile(const std::vector<RuleConfig>& rules,
                                                std::string* error);

  // Applies the rules to one message. exclude_at_match drops on a match anywhere;
  // include_at_match keeps only matches (several: all must match); mask_sequences replaces every
  // match, expanding $1, ${1}, $name and ${name} like Go's Regexp.ReplaceAll ($$ is a '$');
  // exclude_truncated drops truncated pieces. Returns false when the message is dropped.
  // Allocates nothing when no mask rule matches.
  bool apply(std::string& content, bool truncated) const;

  bool empty() const { return rules_.empty(); }
  size_t size() const { return rules_.size(); }
  // The first multi_line rule's pattern, if any.
  std::optional<std::string> multiLinePattern() const { return multi_line_; }
  // Whether apply() keeps JSON-plain content plain (json_plain.h): true unless a mask rule's
  // replacement has text that is not (a capture group's text is part of the content).
  bool keepsJsonPlain() const { return keeps_json_plain_; }

 private:
  enum class Kind { kExclude, kInclude, kMask, kExcludeTruncated };
  // A pattern that is a literal then one run of \S, \d or \w (`password=\S+`, `id=\d+`): its
  // matches are found without RE2 (the literal, then the longest run of the class after it).
  enum class Run : uint8_t { kNone, kNonSpace, kDigit, kWord };
  // A piece of a mask rule's replacement: literal text, or a capture group's text (group >= 0).
  struct Segment {
    std::string text;
    int group = -1;
  };
  struct Rule {
    Kind kind;
    std::shared_ptr<const re2::RE2> re;  // null for kExcludeTruncated
    std::vector<Segment> replace;        // kMask, pre-parsed
    int groups = 0;
    // Text every match contains (the pattern's leading literal; empty: unknown), and whether
    // the pattern is only that text: then memmem decides without RE2.
    std::string literal;
    bool whole_literal = false;
    Run run = Run::kNone;  // set: the pattern is `literal` followed by a run of this class
  };

  static bool matches(const Rule& rule, std::string_view content);
  // The end of the run of rule.run's class starting at `from` (== from: none there).
  static size_t runEnd(Run run, std::string_view text, size_t from);
  // The first match of a Run rule at or after `pos`: [*start, *end); false: none.
  static bool findRun(const Rule& rule, std::string_view text, size_t pos, size_t* start,
                      size_t* end);
  static void mask(const Rule& rule, std::string& content);
  static std::vector<Segment> parseTemplate(const std::string& tmpl, const re2::RE2& re);

  std::vector<Rule> rules_;
  std::optional<std::string> multi_line_;
  bool keeps_json_plain_ = true;
};

// Checks that `pattern` compiles with the options the rules use; the RE2 error text otherwise.
std::optional<std::string> checkRulePattern(const std::string& pattern);

}  // namespace outpost::logs
