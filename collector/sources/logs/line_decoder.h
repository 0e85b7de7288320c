#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

// Turns the raw bytes of a log stream (a tailed file, a tcp connection) into lines of valid
// UTF-8: split on newlines, strip one trailing '\r', cut lines longer than the maximum message
// size into marked pieces (wire-formats.md §3.4), convert UTF-16 and Shift-JIS, and replace
// invalid UTF-8 with U+FFFD.
//
// Speed: a line that lies whole inside a fed chunk is handed out as a view into that chunk, with
// no copy and no allocation; only a partial line at the end of a chunk is copied. Memory beyond
// the fed chunk is bounded by about max_message_size, whatever the line length.
//
// Standard library only (plus glibc iconv for Shift-JIS), so the fuzz project compiles it alone.
namespace outpost::logs {

enum class TextEncoding { kUtf8, kUtf16Le, kUtf16Be, kShiftJis };

// The marker put at every cut of a line longer than max_message_size.
inline constexpr std::string_view kTruncatedMarker = "...TRUNCATED...";

struct DecodedLine {
  // Valid UTF-8, no '\n', one trailing '\r' stripped; with the truncation markers of a cut
  // piece. Valid only during the callback.
  std::string_view content;
  // Stream byte offset just past the raw bytes this piece consumed (for the last piece of a
  // line: past its newline).
  uint64_t end_offset = 0;
  bool truncated = false;  // a piece of a line longer than max_message_size
  // The content is JSON-plain (json_plain.h): ASCII without '"', '\\' or control characters.
  bool json_plain = false;
};

// A non-owning reference to a callable taking `const DecodedLine&`: one indirect call per line.
class LineSink {
 public:
  template <class F>
  LineSink(F& f)  // NOLINT(google-explicit-constructor): built from the lambda in feed()
      : object_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, const DecodedLine& line) { (*static_cast<F*>(o))(line); }) {}
  void operator()(const DecodedLine& line) const { call_(object_, line); }

 private:
  void* object_;
  void (*call_)(void*, const DecodedLine&);
};

class LineDecoder {
 public:
  struct Options {
    TextEncoding encoding = TextEncoding::kUtf8;
    // The most raw bytes of one line in one piece (markers not counted). Lines are cut at
    // character boundaries, so a piece may be up to 3 bytes shorter. At least 8.
    size_t max_message_size = 256000;
  };

  // `start_offset`: the stream offset of the first byte fed (a line start).
  LineDecoder(Options options, uint64_t start_offset);
  ~LineDecoder();
  LineDecoder(LineDecoder&&) noexcept;
  LineDecoder& operator=(LineDecoder&&) noexcept;
  LineDecoder(const LineDecoder&) = delete;
  LineDecoder& operator=(const LineDecoder&) = delete;

  // Feeds the next raw bytes of the stream; calls emit(const DecodedLine&) for every complete
  // line (and for every full piece of a too long line).
  template <class F>
  void feed(std::string_view bytes, F&& emit) {
    feedTo(bytes, LineSink(emit));
  }
  // Emits the pending partial line (no newline yet), if any, as if it had ended; the next byte
  // fed starts a new line. For a stream that ended without a final newline.
  template <class F>
  void flushPartial(F&& emit) {
    flushPartialTo(LineSink(emit));
  }

  void feedTo(std::string_view bytes, LineSink emit);
  void flushPartialTo(LineSink emit);

  size_t pendingBytes() const { return pending_.size() + (has_carry_ ? 1 : 0); }
  uint64_t offset() const { return offset_; }            // start_offset + every byte fed
  uint64_t consumedOffset() const { return consumed_; }  // just past the last emitted piece
  TextEncoding encoding() const { return options_.encoding; }

 private:
  struct IconvDeleter {
    void operator()(void* cd) const;
  };

  void processAligned(const char* data, size_t n, uint64_t base, LineSink& emit);
  size_t cutLength(const char* p, size_t len) const;
  bool endsWithCr(const char* p, size_t len) const;
  void emitPiece(const char* p, size_t len, uint64_t end_offset, bool cut, LineSink& emit);
  std::string_view convert(const char* p, size_t len);

  Options options_;
  size_t unit_ = 1;  // 2 for UTF-16
  uint64_t offset_ = 0;
  uint64_t consumed_ = 0;
  std::string pending_;     // raw bytes of the partial line (whole code units)
  std::string scratch_;     // converted content of the current piece
  std::string marked_;      // content with truncation markers
  bool continued_ = false;  // the previous piece of this line was cut
  bool plain_ = false;      // what convert() returned is JSON-plain
  bool has_carry_ = false;  // UTF-16: the first byte of a code unit split across feeds
  char carry_ = 0;
  std::unique_ptr<void, IconvDeleter> iconv_;  // Shift-JIS
};

// UTF-8 helpers (the decoder's, usable by the other stages).
bool isValidUtf8Text(std::string_view s);
// Appends `s` to `out`, each invalid byte replaced with U+FFFD.
void appendValidUtf8(std::string& out, std::string_view s);
// The longest prefix of s[0, max) that does not end inside a valid multi-byte UTF-8 sequence
// (at least 1 when max >= 1 and s is not empty).
size_t utf8CutLength(std::string_view s, size_t max);

}  // namespace outpost::logs
