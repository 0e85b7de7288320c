#include "collector/sources/logs/line_decoder.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "collector/sources/logs/json_plain.h"

namespace outpost::logs {
namespace {

struct Line {
  std::string content;
  uint64_t end = 0;
  bool truncated = false;
  bool operator==(const Line&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Line& l) {
  return os << "{\"" << l.content << "\", " << l.end << (l.truncated ? ", truncated}" : "}");
}

const std::string M(kTruncatedMarker);

// Feeds `input` in chunks of the sizes `chunk(i)` returns, then flushes the partial line.
template <class Chunker>
std::vector<Line> decode(const std::string& input, LineDecoder::Options o, Chunker chunk,
                         bool flush = true, uint64_t start = 0) {
  LineDecoder d(o, start);
  std::vector<Line> out;
  auto sink = [&](const DecodedLine& l) {
    out.push_back(Line{std::string(l.content), l.end_offset, l.truncated});
  };
  size_t pos = 0;
  for (size_t i = 0; pos < input.size(); ++i) {
    const size_t n = std::min(input.size() - pos, std::max<size_t>(1, chunk(i)));
    d.feed(std::string_view(input).substr(pos, n), sink);
    pos += n;
  }
  EXPECT_EQ(d.offset(), start + input.size());
  if (flush) {
    d.flushPartial(sink);
    EXPECT_EQ(d.pendingBytes(), 0u);
  }
  return out;
}

std::vector<Line> decodeWhole(const std::string& input, LineDecoder::Options o = {},
                              bool flush = false) {
  return decode(
      input, o, [&](size_t) { return input.size(); }, flush);
}

std::string utf16(const std::u32string& s, bool le) {
  std::string out;
  auto unit = [&](uint32_t u) {
    const char lo = static_cast<char>(u & 0xFF);
    const char hi = static_cast<char>(u >> 8);
    out.push_back(le ? lo : hi);
    out.push_back(le ? hi : lo);
  };
  for (char32_t c : s) {
    if (c >= 0x10000) {
      unit(0xD800 + ((c - 0x10000) >> 10));
      unit(0xDC00 + ((c - 0x10000) & 0x3FF));
    } else {
      unit(c);
    }
  }
  return out;
}

struct SplitCase {
  const char* name;
  std::string input;
  std::vector<Line> want;  // without flushPartial
};

TEST(LineDecoderTest, SplitsLinesTable) {
  const std::vector<SplitCase> cases = {
      {"two lines", "a\nbc\n", {{"a", 2}, {"bc", 5}}},
      {"crlf", "a\r\nb\r\n", {{"a", 3}, {"b", 6}}},
      {"only one cr stripped", "a\r\r\n", {{"a\r", 4}}},
      {"cr inside kept", "a\rb\n", {{"a\rb", 4}}},
      {"empty lines", "\n\n\r\n", {{"", 1}, {"", 2}, {"", 4}}},
      {"partial not emitted", "a\nbcd", {{"a", 2}}},
      {"nothing", "", {}},
      {"nul bytes", std::string("a\0b\n", 4), {{std::string("a\0b", 3), 4}}},
      {"utf8 bom at start", "\xEF\xBB\xBFhi\n\xEF\xBB\xBFx\n", {{"hi", 6}, {"\xEF\xBB\xBFx", 11}}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(decodeWhole(c.input), c.want) << c.name;
  }
}

TEST(LineDecoderTest, StartOffsetShiftsOffsets) {
  const auto got = decode(
      "ab\ncd\n", {}, [](size_t) { return 2; }, false, 1000);
  EXPECT_EQ(got, (std::vector<Line>{{"ab", 1003}, {"cd", 1006}}));
}

TEST(LineDecoderTest, CrlfSplitAcrossFeeds) {
  LineDecoder d({}, 0);
  std::vector<Line> out;
  auto sink = [&](const DecodedLine& l) { out.push_back({std::string(l.content), l.end_offset}); };
  d.feed("abc\r", sink);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(d.pendingBytes(), 4u);
  EXPECT_EQ(d.consumedOffset(), 0u);
  d.feed("\n", sink);
  EXPECT_EQ(out, (std::vector<Line>{{"abc", 5}}));
  EXPECT_EQ(d.pendingBytes(), 0u);
  EXPECT_EQ(d.consumedOffset(), 5u);
}

TEST(LineDecoderTest, FlushPartialEmitsPendingAndStartsNewLine) {
  LineDecoder d({}, 10);
  std::vector<Line> out;
  auto sink = [&](const DecodedLine& l) { out.push_back({std::string(l.content), l.end_offset}); };
  d.feed("x\nabc", sink);
  EXPECT_EQ(d.pendingBytes(), 3u);
  EXPECT_EQ(d.offset(), 15u);
  EXPECT_EQ(d.consumedOffset(), 12u);
  d.flushPartial(sink);
  d.flushPartial(sink);  // nothing left
  d.feed("de\n", sink);
  EXPECT_EQ(out, (std::vector<Line>{{"x", 12}, {"abc", 15}, {"de", 18}}));
  EXPECT_EQ(d.consumedOffset(), 18u);
}

// A mix of everything: short and long lines, CRs, empty lines, multi-byte and invalid bytes.
std::string mixedInput(std::mt19937& rng, size_t lines) {
  const std::vector<std::string> atoms = {
      "a",    "bc",   "\r", "\xC3\xA9",  "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
      "\xFF", "\xC3", " ",  "0123456789"};
  std::string s;
  for (size_t i = 0; i < lines; ++i) {
    const size_t n = rng() % 4 == 0 ? rng() % 200 : rng() % 12;
    for (size_t j = 0; j < n; ++j) {
      s += atoms[rng() % atoms.size()];
    }
    s += rng() % 5 == 0 ? "\r\n" : "\n";
  }
  s += "tail without newline";
  return s;
}

TEST(LineDecoderTest, FeedBoundariesDoNotChangeOutput) {
  std::mt19937 rng(42);
  for (size_t max : {size_t{16}, size_t{31}, size_t{256000}}) {
    for (int round = 0; round < 5; ++round) {
      const std::string input = mixedInput(rng, 300);
      LineDecoder::Options o{TextEncoding::kUtf8, max};
      const auto whole = decode(input, o, [&](size_t) { return input.size(); });
      const auto bytes = decode(input, o, [](size_t) { return 1; });
      std::mt19937 crng(round);
      const auto random = decode(input, o, [&](size_t) { return crng() % 70; });
      ASSERT_EQ(whole, bytes) << "max " << max;
      ASSERT_EQ(whole, random) << "max " << max;
      uint64_t prev = 0;
      for (const Line& l : whole) {
        EXPECT_TRUE(isValidUtf8Text(l.content));
        EXPECT_EQ(l.content.find('\n'), std::string::npos);
        EXPECT_GT(l.end, prev);
        prev = l.end;
        const size_t markers = l.truncated ? 2 * M.size() : 0;
        // Each invalid byte may become 3 bytes of U+FFFD.
        EXPECT_LE(l.content.size(), 3 * max + markers);
      }
      EXPECT_EQ(whole.back().end, input.size());
    }
  }
}

TEST(LineDecoderTest, FeedBoundariesDoNotChangeOutputInOtherEncodings) {
  std::mt19937 rng(3);
  // UTF-16 units: ASCII, CR, LF, units holding a 0x0A or 0x0D byte, surrogates (paired or not).
  const std::vector<uint16_t> units = {'a',    'b',    '\r',   '\n',   0x010A, 0x0A00,
                                       0x0D0A, 0x00E9, 0xD83D, 0xDE00, 0x20AC, ' '};
  for (TextEncoding enc : {TextEncoding::kUtf16Le, TextEncoding::kUtf16Be}) {
    for (size_t max : {size_t{8}, size_t{17}, size_t{4096}}) {
      std::string input;
      for (int i = 0; i < 5000; ++i) {
        const uint16_t u = units[rng() % units.size()];
        const char lo = static_cast<char>(u & 0xFF);
        const char hi = static_cast<char>(u >> 8);
        input += enc == TextEncoding::kUtf16Le ? std::string{lo, hi} : std::string{hi, lo};
      }
      input.push_back('x');  // an odd byte at the end
      const LineDecoder::Options o{enc, max};
      const auto whole = decode(input, o, [&](size_t) { return input.size(); });
      EXPECT_EQ(whole, decode(input, o, [](size_t) { return 1; }));
      EXPECT_EQ(whole, decode(input, o, [&](size_t) { return rng() % 37; }));
      for (const Line& l : whole) {
        EXPECT_TRUE(isValidUtf8Text(l.content));
      }
      EXPECT_EQ(whole.back().end, input.size());
    }
  }
  std::string sjis;
  const std::vector<std::string> atoms = {"a",    "\r",   "\n",       "\x93\xFA", "\xB1",
                                          "\x81", "\xA0", "\x82\xA0", " "};
  for (int i = 0; i < 5000; ++i) {
    sjis += atoms[rng() % atoms.size()];
  }
  for (size_t max : {size_t{8}, size_t{13}, size_t{4096}}) {
    const LineDecoder::Options o{TextEncoding::kShiftJis, max};
    const auto whole = decode(sjis, o, [&](size_t) { return sjis.size(); });
    EXPECT_EQ(whole, decode(sjis, o, [](size_t) { return 1; }));
    EXPECT_EQ(whole, decode(sjis, o, [&](size_t) { return rng() % 37; }));
    for (const Line& l : whole) {
      EXPECT_TRUE(isValidUtf8Text(l.content));
    }
  }
}

TEST(LineDecoderTest, TenMegabyteLineIsCutIntoMarkedPieces) {
  const size_t kMax = 256000;
  const size_t kLen = 10 * 1000 * 1000;
  std::string input(kLen, 'x');
  input += "\nnext\n";
  LineDecoder d({TextEncoding::kUtf8, kMax}, 0);
  std::vector<Line> out;
  size_t max_pending = 0;
  auto sink = [&](const DecodedLine& l) {
    out.push_back({std::string(l.content), l.end_offset, l.truncated});
  };
  for (size_t pos = 0; pos < input.size(); pos += 65536) {
    d.feed(std::string_view(input).substr(pos, 65536), sink);
    max_pending = std::max(max_pending, d.pendingBytes());
  }
  EXPECT_LE(max_pending, kMax + 1);
  const size_t pieces = (kLen + kMax - 1) / kMax;  // 40
  ASSERT_EQ(out.size(), pieces + 1);
  EXPECT_EQ(out[0].content, std::string(kMax, 'x') + M);
  EXPECT_EQ(out[0].end, kMax);
  EXPECT_TRUE(out[0].truncated);
  for (size_t i = 1; i + 1 < pieces; ++i) {
    ASSERT_EQ(out[i].content, M + std::string(kMax, 'x') + M) << i;
    EXPECT_EQ(out[i].end, (i + 1) * kMax);
    EXPECT_TRUE(out[i].truncated);
  }
  EXPECT_EQ(out[pieces - 1].content, M + std::string(kLen - (pieces - 1) * kMax, 'x'));
  EXPECT_EQ(out[pieces - 1].end, kLen + 1);
  EXPECT_TRUE(out[pieces - 1].truncated);
  EXPECT_EQ(out[pieces], (Line{"next", kLen + 6, false}));
}

TEST(LineDecoderTest, TruncationEdgesTable) {
  struct Case {
    const char* name;
    std::string input;
    std::vector<Line> want;
  };
  const std::string eight = "12345678";
  const std::vector<Case> cases = {
      {"exactly max", eight + "\n", {{eight, 9}}},
      {"exactly max with crlf", eight + "\r\n", {{eight, 10}}},
      {"max plus one", eight + "9\n", {{eight + M, 8, true}, {M + "9", 10, true}}},
      {"twice max", eight + eight + "\n", {{eight + M, 8, true}, {M + eight, 17, true}}},
      {"three pieces",
       eight + eight + "x\n",
       {{eight + M, 8, true}, {M + eight + M, 16, true}, {M + "x", 18, true}}},
      // The cut backs up to keep "€" (3 bytes) whole.
      {"utf8 boundary",
       "1234567\xE2\x82\xAC\n",
       {{"1234567" + M, 7, true}, {M + "\xE2\x82\xAC", 11, true}}},
      {"next line is whole",
       eight + "9\nab\n",
       {{eight + M, 8, true}, {M + "9", 10, true}, {"ab", 13}}},
  };
  for (const auto& c : cases) {
    LineDecoder::Options o{TextEncoding::kUtf8, 8};
    EXPECT_EQ(decode(c.input, o, [&](size_t) { return c.input.size(); }), c.want) << c.name;
    EXPECT_EQ(decode(c.input, o, [](size_t) { return 1; }), c.want) << c.name << " (bytewise)";
  }
}

TEST(LineDecoderTest, InvalidUtf8IsReplaced) {
  struct Case {
    std::string input;
    std::string want;
  };
  const std::string r = "\xEF\xBF\xBD";
  const std::vector<Case> cases = {
      {"a\xFF"
       "b",
       "a" + r + "b"},
      {"\xC3", r},                          // truncated sequence
      {"\xC0\xAF", r + r},                  // overlong
      {"\xED\xA0\x80", r + r + r},          // surrogate
      {"\xF4\x90\x80\x80", r + r + r + r},  // above U+10FFFF
      {"\x80x", r + "x"},                   // stray continuation
      {"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"},
      {"plain ascii longer than eight bytes", "plain ascii longer than eight bytes"},
  };
  for (const auto& c : cases) {
    const auto got = decodeWhole(c.input + "\n");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].content, c.want);
    EXPECT_EQ(got[0].end, c.input.size() + 1);
    EXPECT_TRUE(isValidUtf8Text(got[0].content));
  }
}

TEST(LineDecoderTest, BinaryInputGivesValidUtf8) {
  std::mt19937 rng(7);
  std::string input;
  for (int i = 0; i < 100000; ++i) {
    input.push_back(static_cast<char>(rng()));
  }
  size_t newlines = 0;
  for (char c : input) {
    newlines += c == '\n';
  }
  const auto got = decode(input, {TextEncoding::kUtf8, 64}, [&](size_t) { return rng() % 300; });
  size_t ends = 0;
  for (const Line& l : got) {
    EXPECT_TRUE(isValidUtf8Text(l.content));
    ends += l.truncated && l.content.ends_with(M) ? 0 : 1;
  }
  EXPECT_EQ(ends, newlines + (input.back() == '\n' ? 0 : 1));
}

TEST(LineDecoderTest, Utf16LittleAndBigEndian) {
  // U+010A and U+0A00 hold a 0x0A byte that is not a newline.
  const std::u32string text = U"h\u00e9llo\r\n\U0001F600x\u010A\u0A00\n\nend";
  for (bool le : {true, false}) {
    const std::string input = utf16(text, le);
    LineDecoder::Options o{le ? TextEncoding::kUtf16Le : TextEncoding::kUtf16Be, 256000};
    const std::vector<Line> want = {
        {"h\xC3\xA9llo", 14},
        {"\xF0\x9F\x98\x80x\xC4\x8A\xE0\xA8\x80", 26},
        {"", 28},
        {"end", 34},
    };
    EXPECT_EQ(decode(input, o, [&](size_t) { return input.size(); }), want) << le;
    EXPECT_EQ(decode(input, o, [](size_t) { return 1; }), want) << le;
    EXPECT_EQ(decode(input, o, [](size_t i) { return 3 + i % 4; }), want) << le;
  }
}

TEST(LineDecoderTest, Utf16BadSurrogatesAndBom) {
  const std::string r = "\xEF\xBF\xBD";
  // A lone high surrogate, a lone low surrogate, then a BOM (stripped at offset 0 only).
  std::string input = utf16(U"\uFEFFa", true);
  input += std::string("\x00\xD8", 2) + std::string("b\x00", 2) + std::string("\x00\xDC", 2);
  input += std::string("\n\x00", 2) + utf16(U"\uFEFF\n", true);
  const auto got = decodeWhole(input, {TextEncoding::kUtf16Le, 256000});
  EXPECT_EQ(got, (std::vector<Line>{{"a" + r + "b" + r, 12}, {"\xEF\xBB\xBF", 16}}));
  // An odd trailing byte is held, then flushed as U+FFFD.
  const auto odd = decodeWhole(std::string("a\x00z", 3), {TextEncoding::kUtf16Le, 256000}, true);
  EXPECT_EQ(odd, (std::vector<Line>{{"a" + r, 3}}));
}

TEST(LineDecoderTest, Utf16CutKeepsSurrogatePairs) {
  // "abc" + U+1F600: 6 + 4 bytes; a cut at 8 would split the pair, so it backs up to 6.
  const std::string input = utf16(U"abc\U0001F600\n", true);
  const auto got = decodeWhole(input, {TextEncoding::kUtf16Le, 8});
  EXPECT_EQ(got, (std::vector<Line>{{"abc" + M, 6, true}, {M + "\xF0\x9F\x98\x80", 12, true}}));
}

TEST(LineDecoderTest, ShiftJis) {
  // 日本語 / ｱ (half-width katakana) / ASCII.
  const std::string input = "\x93\xFA\x96\x7B\x8C\xEA\r\n\xB1 abc\n";
  const LineDecoder::Options o{TextEncoding::kShiftJis, 256000};
  const std::vector<Line> want = {{"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", 8},
                                  {"\xEF\xBD\xB1 abc", 14}};
  EXPECT_EQ(decode(input, o, [&](size_t) { return input.size(); }), want);
  EXPECT_EQ(decode(input, o, [](size_t) { return 1; }), want);
  // An invalid byte becomes U+FFFD.
  const auto bad = decodeWhole(
      "a\xA0"
      "b\n",
      o);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].content,
            "a\xEF\xBF\xBD"
            "b");
}

TEST(LineDecoderTest, ShiftJisCutKeepsDoubleByteCharacters) {
  // "a" + 日 x4 = 9 bytes; max 8 would end on a lead byte, so the cut is at 7.
  const std::string nichi = "\x93\xFA";
  const std::string input = "a" + nichi + nichi + nichi + nichi + "\n";
  const auto got = decodeWhole(input, {TextEncoding::kShiftJis, 8});
  const std::string n8 = "\xE6\x97\xA5";
  EXPECT_EQ(got, (std::vector<Line>{{"a" + n8 + n8 + n8 + M, 7, true}, {M + n8, 10, true}}));
}

TEST(LineDecoderTest, Utf8HelpersTable) {
  EXPECT_TRUE(isValidUtf8Text(""));
  // Checked 64, 16 and 8 bytes at a time: an invalid byte is found at every position, and a
  // valid sequence across those boundaries is kept.
  for (size_t len : {1u, 8u, 15u, 16u, 17u, 31u, 32u, 33u, 47u, 63u, 64u, 65u, 80u, 127u, 129u}) {
    for (size_t pos = 0; pos < len; ++pos) {
      std::string bad(len, 'a');
      bad[pos] = '\xFF';
      EXPECT_FALSE(isValidUtf8Text(bad)) << len << " " << pos;
      std::string out;
      appendValidUtf8(out, bad);
      EXPECT_EQ(out, std::string(pos, 'a') + "\xEF\xBF\xBD" + std::string(len - pos - 1, 'a'));
      std::string good(len, 'a');
      good.insert(pos, "\xE2\x82\xAC");
      EXPECT_TRUE(isValidUtf8Text(good)) << len << " " << pos;
    }
  }
  EXPECT_TRUE(isValidUtf8Text("\xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(isValidUtf8Text("\xF4\x8F\xBF"));
  EXPECT_EQ(utf8CutLength("abc", 5), 3u);
  EXPECT_EQ(utf8CutLength("ab\xE2\x82\xAC", 3), 2u);
  EXPECT_EQ(utf8CutLength("ab\xE2\x82\xAC", 4), 2u);
  EXPECT_EQ(utf8CutLength("ab\xE2\x82\xAC", 5), 5u);
  EXPECT_EQ(utf8CutLength("\xE2\x82\xAC", 1), 1u);    // never 0
  EXPECT_EQ(utf8CutLength("ab\x80\x80\x80", 3), 3u);  // invalid bytes cut anywhere
  std::string out;
  appendValidUtf8(out, "x\xFFy");
  EXPECT_EQ(out, "x\xEF\xBF\xBDy");
}

TEST(LineDecoderTest, JsonPlainClassifiesEveryByteAtEveryPosition) {
  // 16 bytes at a time with an overlapping last block: a byte that matters is seen at every
  // position of every length around those steps, and the class follows the worst byte.
  for (size_t len = 0; len <= 70; ++len) {
    const std::string plain(len, 'a');
    EXPECT_EQ(classifyText(plain), TextClass::kJsonPlain) << len;
    for (size_t pos = 0; pos < len; ++pos) {
      for (const char c : {'"', '\\', '\0', '\n', '\x1f'}) {
        std::string s = plain;
        s[pos] = c;
        EXPECT_EQ(classifyText(s), TextClass::kAscii) << len << " " << pos << " " << int(c);
      }
      for (const char c : {'\x80', '\xC3', '\xFF'}) {
        std::string s = plain;
        s[pos] = c;
        EXPECT_EQ(classifyText(s), TextClass::kOther) << len << " " << pos << " " << int(c);
        if (len - 1 - pos != pos) {
          s[len - 1 - pos] = '"';  // both kinds: still "other"
          EXPECT_EQ(classifyText(s), TextClass::kOther) << len << " " << pos;
        }
      }
      for (const char c : {' ', '~', '\x7f', '/', '\''}) {  // plain JSON, escaped by nobody
        std::string s = plain;
        s[pos] = c;
        EXPECT_TRUE(isJsonPlain(s)) << len << " " << pos << " " << int(c);
      }
    }
  }
  for (int c = 0; c < 256; ++c) {
    const bool plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
    EXPECT_EQ(isJsonPlain(std::string(1, static_cast<char>(c))), plain) << c;
    EXPECT_EQ(isJsonPlain(std::string(40, 'x') + static_cast<char>(c)), plain) << c;
  }
}

TEST(LineDecoderTest, LinesSayWhetherTheyAreJsonPlain) {
  LineDecoder::Options small;
  small.max_message_size = 40;
  struct Case {
    std::string input;
    LineDecoder::Options options;
    std::vector<bool> want;  // per line, in order
  };
  const std::vector<Case> cases = {
      {"plain line\nquote \" here\nback\\slash\ntab\there\n", {}, {true, false, false, false}},
      {"caf\xC3\xA9\nbad \xFF byte\n", {}, {false, false}},
      {"\xEF\xBB\xBF"
       "a byte order mark is not content\n",
       {},
       {true}},
      // The truncation markers are plain: pieces of a plain line stay plain.
      {std::string(100, 'p') + "\n" + std::string(50, 'q') + "\"" + std::string(50, 'q') + "\n",
       small,
       {true, true, true, true, false, true}},
      {utf16(U"plain\n", true), {TextEncoding::kUtf16Le}, {false}},
      {"a\r\n\n", {}, {true, true}},
  };
  for (const auto& c : cases) {
    LineDecoder d(c.options, 0);
    std::vector<bool> got;
    std::vector<std::string> contents;
    d.feed(c.input, [&](const DecodedLine& l) {
      got.push_back(l.json_plain);
      contents.emplace_back(l.content);
      EXPECT_TRUE(!l.json_plain || isJsonPlain(l.content)) << l.content;
    });
    EXPECT_EQ(got, c.want) << ::testing::PrintToString(contents);
  }
}

}  // namespace
}  // namespace outpost::logs
