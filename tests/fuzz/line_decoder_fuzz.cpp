// libFuzzer target for the logs LineDecoder: any bytes, in any encoding, fed in any chunks, must
// decode without a crash or sanitizer report into valid UTF-8 lines without '\n', with strictly
// increasing offsets, the same lines whatever the chunking, and bounded pending memory.
//
// Input layout: byte 0 picks the encoding and max_message_size, byte 1 seeds the chunk sizes,
// the rest is the stream.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "collector/sources/logs/line_decoder.h"

namespace {

using outpost::logs::DecodedLine;
using outpost::logs::LineDecoder;
using outpost::logs::TextEncoding;

struct Line {
  std::string content;
  uint64_t end;
  bool truncated;
  bool operator==(const Line&) const = default;
};

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

std::vector<Line> run(std::string_view stream, LineDecoder::Options o, unsigned seed, bool whole) {
  LineDecoder d(o, 5);
  std::vector<Line> out;
  uint64_t last = 5;
  auto sink = [&](const DecodedLine& l) {
    check(outpost::logs::isValidUtf8Text(l.content));
    check(l.content.find('\n') == std::string_view::npos);
    check(l.end_offset > last && l.end_offset <= d.offset());
    last = l.end_offset;
    out.push_back(Line{std::string(l.content), l.end_offset, l.truncated});
  };
  size_t pos = 0;
  unsigned state = seed | 1;
  while (pos < stream.size()) {
    state = state * 1103515245u + 12345u;
    const size_t n = whole ? stream.size() : 1 + (state >> 16) % 19;
    const std::string_view chunk = stream.substr(pos, n);
    d.feed(chunk, sink);
    pos += chunk.size();
    check(d.pendingBytes() <= o.max_message_size + 4);
    check(d.offset() == 5 + pos);
  }
  d.flushPartial(sink);
  check(d.pendingBytes() == 0);
  check(stream.empty() || last == 5 + stream.size());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  static constexpr TextEncoding kEncodings[] = {TextEncoding::kUtf8, TextEncoding::kUtf16Le,
                                                TextEncoding::kUtf16Be, TextEncoding::kShiftJis};
  static constexpr size_t kMax[] = {8, 9, 16, 61, 256, 4096, 256000};
  LineDecoder::Options o;
  o.encoding = kEncodings[data[0] & 3];
  o.max_message_size = kMax[(data[0] >> 2) % 7];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
  const auto whole = run(stream, o, 0, true);
  const auto chunked = run(stream, o, data[1], false);
  check(whole == chunked);
  return 0;
}
