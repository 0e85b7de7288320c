#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "collector/sources/logs/line_decoder.h"

namespace re2 {
class RE2;
}

// Multi-line aggregation (wire-formats.md §3.8), between the LineDecoder and the processing
// rules: joins the lines of one log event (a stack trace, a multi-line SQL statement) into one
// message, with '\n' between lines.
//
// Pattern mode (a multi_line rule): a line matching ^pattern starts a new message; every other
// line is appended to the current one.
//
// Auto mode (auto_multi_line_detection):
//   * a line starting with '{' (a JSON object) is never aggregated;
//   * a line starting with a timestamp (ISO 8601 / RFC 3339, syslog "Jan  2 15:04:05",
//     "2006/01/02", "[02/Jan/2006:15:04:05", "15:04:05", glog "I0102 15:04:05", with an
//     optional leading '[' or RFC 5424 "<pri>1 ") starts a new group;
//   * a continuation line (leading whitespace, "at ", "Caused by", "... N more", "}" or "]")
//     joins the current group;
//   * any other line joins a group opened by a timestamp, and otherwise starts a group of its
//     own (so a stack trace with no timestamp before it stays together).
//
// Neither (no pattern, no auto detection): every line is its own message.
//
// The combined content is limited by max_message_size; beyond it the message is cut and the
// pieces are marked with "...TRUNCATED..." as in §3.4. Truncated pieces from the decoder are
// never aggregated. A message's end_offset is its last line's. Time is injected: now_ms.
namespace outpost::logs {

class MultiLineAggregator {
 public:
  struct Options {
    std::string pattern;  // empty: no explicit rule
    bool auto_detect = false;
    size_t max_message_size = 256000;
    int64_t timeout_ms = 1000;
  };
  struct Message {
    std::string content;
    uint64_t end_offset = 0;
    bool truncated = false;
  };

  // A non-owning reference to a callable taking `Message&&`.
  class Sink {
   public:
    template <class F>
    Sink(F& f)  // NOLINT(google-explicit-constructor)
        : object_(const_cast<void*>(static_cast<const void*>(&f))),
          call_([](void* o, Message&& m) { (*static_cast<F*>(o))(std::move(m)); }) {}
    void operator()(Message&& m) const { call_(object_, std::move(m)); }

   private:
    void* object_;
    void (*call_)(void*, Message&&);
  };

  // An invalid pattern (config validation rejects those first) disables aggregation; see
  // error().
  explicit MultiLineAggregator(Options o);
  ~MultiLineAggregator();
  MultiLineAggregator(MultiLineAggregator&&) noexcept;
  MultiLineAggregator& operator=(MultiLineAggregator&&) noexcept;

  template <class F>
  void push(const DecodedLine& line, int64_t now_ms, F&& emit) {
    pushTo(line, now_ms, Sink(emit));
  }
  // Flushes the pending message when no line was pushed for timeout_ms.
  template <class F>
  void flushIfIdle(int64_t now_ms, F&& emit) {
    if (pending_ && now_ms - last_push_ms_ >= options_.timeout_ms) {
      flushTo(Sink(emit));
    }
  }
  template <class F>
  void flush(F&& emit) {
    flushTo(Sink(emit));
  }

  void pushTo(const DecodedLine& line, int64_t now_ms, Sink emit);
  void flushTo(Sink emit);

  bool pending() const { return pending_; }
  // When the pending message is due (last push + timeout); meaningful only if pending().
  int64_t deadlineMs() const { return last_push_ms_ + options_.timeout_ms; }
  bool aggregates() const { return re_ != nullptr || options_.auto_detect; }
  const std::string& error() const { return error_; }

 private:
  enum class Kind { kStart, kContinuation, kOther, kAlone };
  Kind classify(std::string_view content) const;
  void start(std::string_view content, const DecodedLine& line, bool grouped, Sink& emit);
  void append(std::string_view piece, bool separator, const DecodedLine& line, Sink& emit);

  Options options_;
  std::unique_ptr<re2::RE2> re_;
  std::string error_;
  bool pending_ = false;
  bool grouped_ = false;  // auto mode: the pending group was opened by a timestamp
  std::string buffer_;
  size_t marker_len_ = 0;  // a leading truncation marker in buffer_ (not counted in the max)
  uint64_t end_offset_ = 0;
  bool truncated_ = false;
  int64_t last_push_ms_ = 0;
};

// Auto detection's test: does `line` start with a timestamp? Exposed for tests.
bool startsWithTimestamp(std::string_view line);

}  // namespace outpost::logs
