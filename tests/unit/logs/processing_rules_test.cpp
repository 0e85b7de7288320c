#include "collector/sources/logs/processing_rules.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "collector/sources/logs/json_plain.h"

namespace outpost::logs {
namespace {

RuleConfig rule(std::string type, std::string pattern, std::string replace = "") {
  RuleConfig r;
  r.type = std::move(type);
  r.name = "r_" + r.type;
  r.pattern = std::move(pattern);
  r.replace_placeholder = std::move(replace);
  r.file = "/etc/outpost/conf.d/app.d/conf.yaml";
  r.line = 7;
  return r;
}

ProcessingRules compileOk(const std::vector<RuleConfig>& rules) {
  std::string error;
  auto compiled = ProcessingRules::compile(rules, &error);
  EXPECT_TRUE(compiled.has_value()) << error;
  return compiled ? *compiled : ProcessingRules();
}

struct ApplyCase {
  const char* name;
  std::vector<RuleConfig> rules;
  std::string input;
  bool truncated;
  std::optional<std::string> want;  // nullopt: dropped
};

TEST(ProcessingRulesTest, ApplyTable) {
  const std::vector<ApplyCase> cases = {
      {"no rules", {}, "hello", false, "hello"},
      {"exclude matches anywhere",
       {rule("exclude_at_match", "DEBUG")},
       "a DEBUG b",
       false,
       std::nullopt},
      {"exclude no match", {rule("exclude_at_match", "DEBUG")}, "a INFO b", false, "a INFO b"},
      {"include match",
       {rule("include_at_match", "user=\\w+")},
       "login user=bob",
       false,
       "login user=bob"},
      {"include no match", {rule("include_at_match", "user=\\w+")}, "login", false, std::nullopt},
      {"include AND: both",
       {rule("include_at_match", "^prod"), rule("include_at_match", "ok$")},
       "prod 200 ok",
       false,
       "prod 200 ok"},
      {"include AND: one missing",
       {rule("include_at_match", "^prod"), rule("include_at_match", "ok$")},
       "prod 500 error",
       false,
       std::nullopt},
      {"mask every match",
       {rule("mask_sequences", "\\d{3}", "N")},
       "a 123 b 4567 c",
       false,
       "a N b N7 c"},
      {"mask capture groups ${1} and $2",
       {rule("mask_sequences", "(\\d{4})-\\d{4}-\\d{4}-(\\d{4})", "${1}-XXXX-XXXX-$2")},
       "card 1234-5678-9012-3456 and 1111-2222-3333-4444.",
       false,
       "card 1234-XXXX-XXXX-3456 and 1111-XXXX-XXXX-4444."},
      {"mask named group",
       {rule("mask_sequences", "password=(?P<pw>\\S+)", "password=[${pw}:masked]")},
       "u=a password=hunter2 x",
       false,
       "u=a password=[hunter2:masked] x"},
      {"mask $$ is a dollar", {rule("mask_sequences", "cost", "$$5")}, "cost", false, "$5"},
      // As in Go, $1x names group "1x", which does not exist: it expands to nothing.
      {"mask $1x is empty", {rule("mask_sequences", "(a)", "$1x|${1}x")}, "a", false, "|ax"},
      {"mask unknown group is empty", {rule("mask_sequences", "(a)", "<$9>")}, "a", false, "<>"},
      {"mask lone dollar kept", {rule("mask_sequences", "a", "$")}, "a", false, "$"},
      {"mask empty matches like Go", {rule("mask_sequences", "a*", "X")}, "baaac", false, "XbXcX"},
      {"mask multibyte empty matches",
       {rule("mask_sequences", "x*", "-")},
       "\xC3\xA9",
       false,
       "-\xC3\xA9-"},
      {"exclude_truncated drops pieces",
       {rule("exclude_truncated", "")},
       "abc...TRUNCATED...",
       true,
       std::nullopt},
      {"exclude_truncated keeps whole lines", {rule("exclude_truncated", "")}, "abc", false, "abc"},
      {"rules run in order: mask then exclude the mask",
       {rule("mask_sequences", "token=\\w+", "token=[MASKED]"),
        rule("exclude_at_match", "\\[MASKED\\]")},
       "token=abc",
       false,
       std::nullopt},
      {"multi_line is not applied here", {rule("multi_line", "\\d{4}")}, "xyz", false, "xyz"},
      // The literal shortcut (memmem before RE2) must decide exactly as RE2 would.
      {"literal: whole word",
       {rule("exclude_at_match", " DEBUG ")},
       "x DEBUGGER",
       false,
       "x DEBUGGER"},
      {"literal: optional last char",
       {rule("exclude_at_match", "ab?c")},
       "ac",
       false,
       std::nullopt},
      {"literal: starred last char", {rule("include_at_match", "abc*")}, "xab", false, "xab"},
      {"literal: braced last char",
       {rule("exclude_at_match", "abc{0,2}d")},
       "abd",
       false,
       std::nullopt},
      {"literal: plus keeps the char", {rule("include_at_match", "ab+c")}, "abbc", false, "abbc"},
      {"literal: alternation", {rule("exclude_at_match", "foo|bar")}, "a bar", false, std::nullopt},
      {"literal: flags", {rule("exclude_at_match", "(?i)debug")}, "DEBUG", false, std::nullopt},
      {"literal: dot is a wildcard", {rule("exclude_at_match", "a.c")}, "abc", false, std::nullopt},
      {"literal: mask without its prefix",
       {rule("mask_sequences", "password=\\S+", "password=[masked]")},
       "no secret here",
       false,
       "no secret here"},
      {"literal: mask with its prefix",
       {rule("mask_sequences", "password=\\S+", "password=[masked]")},
       "a password=x y",
       false,
       "a password=[masked] y"},
      {"literal: mask skips a prefix that does not complete a match",
       {rule("mask_sequences", "password=\\S+", "password=[masked]")},
       "password= a password=b password=",
       false,
       "password= a password=[masked] password="},
      {"literal: mask where occurrences overlap",
       {rule("mask_sequences", "aa\\d", "X")},
       "aaa1 aa2aa",
       false,
       "aX Xaa"},
      {"literal: mask of a whole literal, many times",
       {rule("mask_sequences", "ab", "-")},
       "abababxab",
       false,
       "---x-"},
      {"literal: escaped metachar is not literal",
       {rule("include_at_match", "a\\.b")},
       "a.b",
       false,
       "a.b"},
  };
  for (const auto& c : cases) {
    const ProcessingRules rules = compileOk(c.rules);
    std::string content = c.input;
    const bool kept = rules.apply(content, c.truncated);
    if (c.want) {
      EXPECT_TRUE(kept) << c.name;
      EXPECT_EQ(content, *c.want) << c.name;
    } else {
      EXPECT_FALSE(kept) << c.name;
    }
  }
}

// Rules with a leading literal look for it sixteen positions at a time (first and last byte),
// then compare it whole: a literal of every length at every position of lines around those
// steps is found, and a near miss (first and last bytes right, one in the middle wrong) is not,
// as RE2 alone decides.
TEST(ProcessingRulesTest, LiteralsAreFoundAtEveryPosition) {
  const std::string word = "abcdefghijklmnopqrst";
  for (size_t m = 1; m <= word.size(); ++m) {
    const std::string literal = word.substr(0, m);
    const ProcessingRules exclude = compileOk({rule("exclude_at_match", literal)});
    const ProcessingRules masked = compileOk({rule("mask_sequences", literal + "\\d", "#")});
    for (const size_t len : {m, m + 1, m + 15, m + 16, m + 17, m + 31, m + 32, m + 33, size_t{40},
                             size_t{70}, size_t{100}}) {
      if (len < m) {
        continue;
      }
      for (size_t at = 0; at + m <= len; ++at) {
        std::string line(len, '.');
        line.replace(at, m, literal);
        std::string content = line;
        EXPECT_FALSE(exclude.apply(content, false)) << m << " " << len << " " << at;
        if (m >= 3) {
          std::string near = line;
          near[at + m / 2] = 'Z';
          content = near;
          EXPECT_TRUE(exclude.apply(content, false))
              << "near miss " << m << " " << len << " " << at;
        }
        // The mask finds the same occurrence when a digit follows it.
        if (at + m < len) {
          line[at + m] = '7';
          content = line;
          EXPECT_TRUE(masked.apply(content, false));
          EXPECT_EQ(content, line.substr(0, at) + "#" + line.substr(at + m + 1))
              << m << " " << len << " " << at;
        }
      }
    }
  }
}

TEST(ProcessingRulesTest, LiteralThenClassRunMatchesAsRe2Does) {
  // `password=\S+`, `id=\d+`, `user=\w+` are matched without RE2; the same patterns written
  // with {1,} still go through RE2. Both must agree on every text: masks (with $0), excludes
  // and includes.
  std::mt19937_64 rng(11);
  const std::vector<std::string> pieces = {"k=", "k",  "=", "a",  "Z",        "_",
                                           "7",  "0",  " ", "\t", "\n",       "\r",
                                           "\f", "\v", "-", ".",  "\xC3\xA9", "k=k="};
  for (const char* cls : {"\\S", "\\d", "\\w"}) {
    for (const char* replace : {"[masked]", "<$0>", "${0}${0}", ""}) {
      const ProcessingRules fast =
          compileOk({rule("mask_sequences", std::string("k=") + cls + "+", replace)});
      const ProcessingRules slow =
          compileOk({rule("mask_sequences", std::string("k=") + cls + "{1,}", replace)});
      const ProcessingRules fast_in =
          compileOk({rule("include_at_match", std::string("k=") + cls + "+")});
      const ProcessingRules slow_in =
          compileOk({rule("include_at_match", std::string("k=") + cls + "{1,}")});
      const ProcessingRules fast_ex =
          compileOk({rule("exclude_at_match", std::string("k=") + cls + "+")});
      const ProcessingRules slow_ex =
          compileOk({rule("exclude_at_match", std::string("k=") + cls + "{1,}")});
      for (int round = 0; round < 3000; ++round) {
        std::string text;
        const size_t parts = rng() % 24;
        for (size_t i = 0; i < parts; ++i) {
          text += pieces[rng() % pieces.size()];
        }
        if (round % 5 == 0) {
          text = std::string(rng() % 40, 'x') + text;  // past the 16-byte literal steps
        }
        std::string a = text;
        std::string b = text;
        ASSERT_TRUE(fast.apply(a, false));
        ASSERT_TRUE(slow.apply(b, false));
        ASSERT_EQ(a, b) << cls << " " << replace << " on " << ::testing::PrintToString(text);
        std::string c = text;
        std::string d = text;
        ASSERT_EQ(fast_in.apply(c, false), slow_in.apply(d, false))
            << ::testing::PrintToString(text);
        ASSERT_EQ(fast_ex.apply(c, false), slow_ex.apply(d, false))
            << ::testing::PrintToString(text);
      }
    }
  }
}

TEST(ProcessingRulesTest, NoMatchKeepsTheSameBuffer) {
  const ProcessingRules rules = compileOk({rule("mask_sequences", "\\d+", "N")});
  std::string content = "no digits here, but a long enough line to be on the heap";
  const char* before = content.data();
  EXPECT_TRUE(rules.apply(content, false));
  EXPECT_EQ(content.data(), before);
}

TEST(ProcessingRulesTest, KeepsJsonPlainUnlessAReplacementHasTextThatIsNot) {
  struct Case {
    std::vector<RuleConfig> rules;
    bool keeps;
  };
  const std::vector<Case> cases = {
      {{}, true},
      {{rule("exclude_at_match", "\""), rule("include_at_match", "\\\\")}, true},
      {{rule("mask_sequences", "password=\\S+", "password=[masked]")}, true},
      {{rule("mask_sequences", "(user)=\\S+", "${1}=x")}, true},  // a group's text is content
      {{rule("mask_sequences", "a", "b"), rule("mask_sequences", "c", "\"quoted\"")}, false},
      {{rule("mask_sequences", "a", "back\\slash")}, false},
      {{rule("mask_sequences", "a", "caf\xC3\xA9")}, false},
      {{rule("mask_sequences", "a", "tab\t")}, false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const ProcessingRules rules = compileOk(cases[i].rules);
    EXPECT_EQ(rules.keepsJsonPlain(), cases[i].keeps) << i;
    if (rules.keepsJsonPlain()) {
      // Plain text stays plain through every rule that keeps it.
      std::string content = "user=bob password=hunter2 a c plain";
      if (rules.apply(content, false)) {
        EXPECT_TRUE(isJsonPlain(content)) << i << ": " << content;
      }
    }
  }
}

TEST(ProcessingRulesTest, MultiLinePatternIsTheFirst) {
  const ProcessingRules rules = compileOk(
      {rule("exclude_at_match", "x"), rule("multi_line", "\\d{4}-"), rule("multi_line", "other")});
  EXPECT_EQ(rules.multiLinePattern(), std::optional<std::string>("\\d{4}-"));
  EXPECT_EQ(rules.size(), 1u);
  EXPECT_FALSE(rules.empty());
  EXPECT_TRUE(compileOk({}).empty());
  EXPECT_FALSE(compileOk({}).multiLinePattern().has_value());
}

TEST(ProcessingRulesTest, CompileErrorsNameTheRule) {
  struct Case {
    RuleConfig rule;
    std::vector<std::string> want;  // substrings of the error
  };
  const std::vector<Case> cases = {
      {rule("exclude_at_match", "(abc"),
       {"/etc/outpost/conf.d/app.d/conf.yaml:7", "'r_exclude_at_match'", "invalid pattern",
        "missing )"}},
      {rule("mask_sequences", "a[", "x"), {"'r_mask_sequences'", "missing ]"}},
      {rule("multi_line", "*x"), {"'r_multi_line'", "no argument for repetition operator: *"}},
      {rule("drop_everything", "x"), {"unknown type 'drop_everything'"}},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(ProcessingRules::compile({rule("exclude_at_match", "ok"), c.rule}, &error));
    for (const auto& w : c.want) {
      EXPECT_NE(error.find(w), std::string::npos) << error << " lacks " << w;
    }
  }
  EXPECT_EQ(checkRulePattern("(a"), std::optional<std::string>("missing ): (a"));
  EXPECT_FALSE(checkRulePattern("a+b").has_value());
}

}  // namespace
}  // namespace outpost::logs
