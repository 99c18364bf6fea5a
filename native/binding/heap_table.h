// The heaps of one environment, by token. JavaScript holds a heap as an
// External whose data is the heap's token, never its address: every call
// looks its token up here before anything is read through it, so an
// External that names no live heap of this environment (another addon's,
// or a copy of the addon loaded by hand) is refused instead of followed.
// Each table starts its generations at its own `seed`, so another table's
// tokens (another environment's, another copy's) name nothing here, but for
// a chance of about 2^-32 each; even then they name a live heap.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace refheap::binding {

struct HeapHandle;

class HeapTable {
 public:
  explicit HeapTable(uint32_t seed) : seed_(seed == 0 ? 1 : seed) {}
  ~HeapTable() { std::free(slots_); }
  HeapTable(const HeapTable&) = delete;
  HeapTable& operator=(const HeapTable&) = delete;

  // The new heap's token; 0 when no memory could be had for its slot.
  uint64_t add(HeapHandle* handle) {
    if (free_ == kNone && !grow()) return 0;
    const uint32_t index = free_;
    Slot& slot = slots_[index];
    free_ = slot.next_free;
    slot.handle = handle;
    return uint64_t{slot.generation} << 32 | index;
  }

  // The live heap `token` names, or nullptr.
  HeapHandle* find(uint64_t token) const {
    const uint64_t index = token & 0xffffffffu;
    if (index >= capacity_ || slots_[index].generation != token >> 32) return nullptr;
    return slots_[index].handle;
  }

  // Frees the slot; the next heap in it gets another generation, so the
  // token stops naming anything.
  void remove(uint64_t token) {
    const uint32_t index = static_cast<uint32_t>(token);
    Slot& slot = slots_[index];
    slot.handle = nullptr;
    slot.generation = slot.generation == UINT32_MAX ? 1 : slot.generation + 1;
    slot.next_free = free_;
    free_ = index;
  }

  // Calls `visit` with every live heap; `visit` must not add or remove one.
  template <typename Visit>
  void for_each(Visit visit) const {
    for (uint32_t i = 0; i < capacity_; i++) {
      if (slots_[i].handle != nullptr) visit(slots_[i].handle);
    }
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  struct Slot {
    HeapHandle* handle;   // nullptr while free
    uint32_t generation;  // never 0: a token is never 0, nor any number below 2^32
    uint32_t next_free;
  };

  // malloc, not new: running out of memory here is the caller's coded
  // error, not an exception the addon (built without them) cannot catch.
  bool grow() {
    const uint64_t capacity = capacity_ == 0 ? 16 : uint64_t{capacity_} * 2;
    if (capacity >= kNone) return false;
    void* grown = std::realloc(slots_, capacity * sizeof(Slot));
    if (grown == nullptr) return false;
    slots_ = static_cast<Slot*>(grown);
    for (uint64_t i = capacity_; i < capacity; i++) {
      uint32_t generation = static_cast<uint32_t>(seed_ + i * 0x9E3779B9u);
      if (generation == 0) generation = 1;
      slots_[i] = Slot{nullptr, generation, i + 1 < capacity ? static_cast<uint32_t>(i + 1) : kNone};
    }
    free_ = capacity_;
    capacity_ = static_cast<uint32_t>(capacity);
    return true;
  }

  uint32_t seed_;
  Slot* slots_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t free_ = kNone;
};

}  // namespace refheap::binding
