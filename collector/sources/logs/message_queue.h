#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "collector/sources/logs/log_message.h"

namespace outpost::logs {

// The messages a source holds while the batcher pushes back, first in, first out. Its slots are
// kept when they empty, and a push swaps the message's strings with the slot's, so under
// steady back-pressure a line costs no allocation: the buffers circle between the tailer's
// reused message and the slots (a deque of messages cost a string and a node allocation per
// line, about a tenth of the logs pipeline's time when the forwarder was the bottleneck).
class MessageQueue {
 public:
  bool empty() const { return head_ == tail_; }
  size_t size() const { return tail_ - head_; }

  // Takes m's content; m is left with a string of some capacity (to be overwritten) and the
  // rest of its fields as they were.
  void push(LogMessage&& m) {
    if (tail_ == slots_.size()) {
      if (head_ > 0 && head_ * 2 >= slots_.size()) {
        std::rotate(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(head_),
                    slots_.end());
        tail_ -= head_;
        head_ = 0;
      } else {
        slots_.emplace_back();
      }
    }
    LogMessage& s = slots_[tail_++];
    s.content.swap(m.content);
    s.status.swap(m.status);
    s.origin = m.origin;
    s.timestamp_ms = m.timestamp_ms;
    s.stream = m.stream;
    s.end_offset = m.end_offset;
    s.marker_only = m.marker_only;
    s.truncated = m.truncated;
  }

  LogMessage& front() { return slots_[head_]; }

  void pop_front() {
    LogMessage& s = slots_[head_++];
    s.origin.reset();  // do not keep a removed file's origin alive
    if (s.content.capacity() > kKeepCapacity) {
      std::string().swap(s.content);  // a huge line's buffer goes back
    }
    if (head_ == tail_) {
      head_ = tail_ = 0;
      if (slots_.size() > kKeepSlots) {
        slots_.resize(kKeepSlots);
        slots_.shrink_to_fit();
      }
    }
  }

  size_t slots() const { return slots_.size(); }

  static constexpr size_t kKeepCapacity = 4096;
  static constexpr size_t kKeepSlots = 4096;

 private:
  std::vector<LogMessage> slots_;
  size_t head_ = 0;
  size_t tail_ = 0;
};

}  // namespace outpost::logs
