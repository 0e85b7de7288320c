#include "collector/sources/logs/offset_tracker.h"

#include <algorithm>

namespace outpost::logs {

StreamId OffsetTracker::open(std::string key, uint64_t committed_offset) {
  StreamId id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    streams_.emplace_back();
    id = static_cast<StreamId>(streams_.size());
  }
  Stream& st = streams_[id - 1];
  st = Stream{};
  st.key = std::move(key);
  st.committed = committed_offset;
  st.reported = committed_offset;
  st.in_use = true;
  owners_[st.key] = id;
  return id;
}

void OffsetTracker::close(StreamId s) {
  Stream* st = find(s);
  if (st == nullptr || st->closed) {
    return;
  }
  st->closed = true;
  maybeFree(s);
}

void OffsetTracker::record(BatchId batch, StreamId s, uint64_t end_offset) {
  Stream* st = find(s);
  if (st == nullptr) {
    return;
  }
  if (!st->entries.empty() && st->entries.back().batch == batch) {
    st->entries.back().end_offset = end_offset;
    return;
  }
  if (!st->entries.empty() && st->entries.back().batch > batch) {
    return;  // out of order: a caller bug; keeping the older batch's offset is the safe side
  }
  st->entries.push_back(Entry{batch, end_offset, Entry::kPending});
  batches_[batch].push_back(s);
}

void OffsetTracker::resolve(BatchId batch, bool commit) {
  auto it = batches_.find(batch);
  if (it == batches_.end()) {
    return;
  }
  std::vector<StreamId> streams = std::move(it->second);
  batches_.erase(it);
  for (StreamId s : streams) {
    Stream* st = find(s);
    if (st == nullptr) {
      continue;
    }
    auto e = std::lower_bound(st->entries.begin(), st->entries.end(), batch,
                              [](const Entry& a, BatchId b) { return a.batch < b; });
    if (e == st->entries.end() || e->batch != batch) {
      continue;
    }
    e->state = commit ? Entry::kCommitted : Entry::kAbandoned;
    advance(s);
  }
}

void OffsetTracker::advance(StreamId s) {
  Stream& st = streams_[s - 1];
  const uint64_t before = st.committed;
  while (!st.entries.empty() && st.entries.front().state == Entry::kCommitted) {
    st.committed = st.entries.front().end_offset;
    st.entries.pop_front();
  }
  if (st.committed != before && !st.in_changed) {
    st.in_changed = true;
    changed_.push_back(s);
  }
  maybeFree(s);
}

void OffsetTracker::maybeFree(StreamId s) {
  Stream& st = streams_[s - 1];
  if (!st.in_use || !st.closed || st.in_changed) {
    return;
  }
  // Abandoned entries never move again; anything else pending keeps the stream.
  for (const Entry& e : st.entries) {
    if (e.state == Entry::kPending) {
      return;
    }
  }
  auto owner = owners_.find(st.key);
  if (owner != owners_.end() && owner->second == s) {
    owners_.erase(owner);
  }
  st = Stream{};
  free_.push_back(s);
}

OffsetTracker::Stream* OffsetTracker::find(StreamId s) {
  if (s == 0 || s > streams_.size() || !streams_[s - 1].in_use) {
    return nullptr;
  }
  return &streams_[s - 1];
}

const OffsetTracker::Stream* OffsetTracker::find(StreamId s) const {
  if (s == 0 || s > streams_.size() || !streams_[s - 1].in_use) {
    return nullptr;
  }
  return &streams_[s - 1];
}

bool OffsetTracker::ownsKey(StreamId s) const {
  const Stream* st = find(s);
  if (st == nullptr) {
    return false;
  }
  auto it = owners_.find(st->key);
  return it != owners_.end() && it->second == s;
}

uint64_t OffsetTracker::committed(StreamId s) const {
  const Stream* st = find(s);
  return st == nullptr ? 0 : st->committed;
}

const std::string& OffsetTracker::key(StreamId s) const {
  static const std::string kNone;
  const Stream* st = find(s);
  return st == nullptr ? kNone : st->key;
}

}  // namespace outpost::logs
