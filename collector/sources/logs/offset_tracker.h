#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "collector/sources/logs/log_message.h"

namespace outpost::logs {

// At-least-once bookkeeping (the Agent's "auditor"): which offset of each stream is safe to
// store in the registry. A stream's offset moves only over batches the intake acknowledged
// (or finally dropped) and never past a batch still in flight, so batches may be resolved in any
// order (dual endpoints, retries). Loop thread only.
//
//   open(key) → record(batch, stream, end_offset)* → resolve(batch) → drainChanges → registry
class OffsetTracker {
 public:
  using BatchId = uint64_t;

  // A new stream, starting at `committed_offset` (what the registry holds). `key` is the
  // registry key ("file:/var/log/syslog"). Ids start at 1 and are reused only after close().
  // When another stream with the same key is still known (a rotated file being drained), the
  // new one takes the key over: the old one's offsets are no longer reported.
  StreamId open(std::string key, uint64_t committed_offset);
  // The stream ends (its file rotated away and was drained). Its state is dropped once nothing
  // of it is pending and its last change was drained.
  void close(StreamId s);

  // A fresh batch id, larger than every earlier one.
  BatchId newBatch() { return ++last_batch_; }
  // A message (or marker) of stream `s` ending at `end_offset` went into `batch`. Batch ids of
  // one stream come in increasing order. Stream 0 and unknown streams are ignored.
  void record(BatchId batch, StreamId s, uint64_t end_offset);
  // The batch was delivered or finally dropped (commit = true), or abandoned at shutdown
  // (commit = false: the stream's offset stays before it for good). Unknown batches (nothing
  // recorded) are ignored.
  void resolve(BatchId batch, bool commit);

  // The highest end_offset such that every batch holding offsets ≤ it was resolved with commit.
  uint64_t committed(StreamId s) const;
  // The stream's registry key (empty for an unknown stream).
  const std::string& key(StreamId s) const;
  // Streams known (open, or closed with something pending).
  size_t streams() const { return streams_.size() - free_.size(); }
  // Batches recorded and not resolved yet.
  size_t pendingBatches() const { return batches_.size(); }

  // Calls f(key, offset) for every stream owning its key whose committed offset moved since the
  // last call (once per stream, with the latest offset).
  template <class F>
  void drainChanges(F&& f) {
    draining_.swap(changed_);
    for (StreamId s : draining_) {
      Stream& st = streams_[s - 1];
      st.in_changed = false;
      if (st.committed != st.reported) {
        st.reported = st.committed;
        if (ownsKey(s)) {
          const std::string key = st.key;  // f may open streams (and move this one)
          const uint64_t offset = st.committed;
          f(key, offset);
        }
      }
      maybeFree(s);
    }
    draining_.clear();
  }

 private:
  struct Entry {
    BatchId batch;
    uint64_t end_offset;
    enum State : uint8_t { kPending, kCommitted, kAbandoned } state;
  };
  struct Stream {
    std::string key;
    uint64_t committed = 0;
    uint64_t reported = 0;
    std::deque<Entry> entries;  // by batch id
    bool in_use = false;
    bool closed = false;
    bool in_changed = false;
  };

  Stream* find(StreamId s);
  const Stream* find(StreamId s) const;
  bool ownsKey(StreamId s) const;
  void advance(StreamId s);
  void maybeFree(StreamId s);

  std::vector<Stream> streams_;  // index: id - 1
  std::vector<StreamId> free_;
  std::unordered_map<std::string, StreamId> owners_;  // key → the stream reporting it
  std::unordered_map<BatchId, std::vector<StreamId>> batches_;
  std::vector<StreamId> changed_;
  std::vector<StreamId> draining_;
  BatchId last_batch_ = 0;
};

}  // namespace outpost::logs
