#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace outpost::aggregator {

// An open-addressing hash index from a 32-bit hash to 32-bit ids whose keys live elsewhere
// (the caller's vector): 8 bytes a slot, linear probing, backward-shift deletion (no
// tombstones), at most 3/4 full. find() and erase() take the caller's equality on ids, so the
// keys are stored once, in the caller's records.
class FlatIndex {
 public:
  static constexpr uint32_t kNotFound = UINT32_MAX;

  template <class Eq>
  uint32_t find(uint32_t hash, Eq&& equal) const {
    if (slots_.empty()) {
      return kNotFound;
    }
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id_plus_one == 0) {
        return kNotFound;
      }
      if (s.hash == hash && equal(s.id_plus_one - 1)) {
        return s.id_plus_one - 1;
      }
    }
  }

  // `id` must not be in the index already.
  void insert(uint32_t hash, uint32_t id) {
    if ((size_ + 1) * 4 > slots_.size() * 3) {
      grow();
    }
    place(hash, id);
    ++size_;
  }

  // Removes `id`, which was inserted with `hash`. Returns false when it is not there.
  bool erase(uint32_t hash, uint32_t id) {
    if (slots_.empty()) {
      return false;
    }
    size_t i = hash & mask_;
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].id_plus_one == 0) {
        return false;
      }
      if (slots_[i].id_plus_one == id + 1) {
        break;
      }
    }
    // Backward shift: move later entries of the probe run into the hole when their home
    // position allows it.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; slots_[j].id_plus_one != 0; j = (j + 1) & mask_) {
      const size_t home = slots_[j].hash & mask_;
      // j may move into the hole unless its home lies cyclically in (hole, j].
      const bool home_after_hole =
          hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!home_after_hole) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    if (slots_.size() > 64 && size_ * 8 < slots_.size()) {
      rebuild(slots_.size() / 4);  // mostly empty: give memory back
    }
    return true;
  }

  size_t size() const { return size_; }
  size_t bytes() const { return slots_.capacity() * sizeof(Slot); }
  void clear() {
    slots_.clear();
    slots_.shrink_to_fit();
    mask_ = 0;
    size_ = 0;
  }

 private:
  struct Slot {
    uint32_t id_plus_one = 0;  // 0: empty
    uint32_t hash = 0;
  };

  void place(uint32_t hash, uint32_t id) {
    size_t i = hash & mask_;
    while (slots_[i].id_plus_one != 0) {
      i = (i + 1) & mask_;
    }
    slots_[i] = Slot{id + 1, hash};
  }

  void grow() { rebuild(slots_.empty() ? 16 : slots_.size() * 2); }

  void rebuild(size_t capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    slots_.shrink_to_fit();
    mask_ = capacity - 1;
    for (const Slot& s : old) {
      if (s.id_plus_one != 0) {
        place(s.hash, s.id_plus_one - 1);
      }
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace outpost::aggregator
