// A hash table keyed by address, for verify(): open addressing in one
// array, so checking a heap of N blocks costs about 2N entries of 16 bytes,
// where a std::unordered_map makes N nodes of its own (a malloc each) plus
// its buckets; verify() of a large heap ran for tens of seconds and left a
// hundred megabytes of malloc heap behind it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace refheap {

template <typename Value>
class PointerTable {
 public:
  explicit PointerTable(size_t expected = 0) { rehash(capacity_for(expected)); }

  // The entry for `key` (never nullptr), added with Value{} if absent; the
  // bool says whether it was added.
  std::pair<Value*, bool> insert(const void* key) {
    if ((size_ + 1) * 2 > entries_.size()) rehash(entries_.size() * 2);
    Entry& entry = slot(key);
    const bool added = entry.key == nullptr;
    if (added) {
      entry.key = key;
      size_++;
    }
    return {&entry.value, added};
  }

  bool contains(const void* key) const { return find(key) != nullptr; }

  const Value* find(const void* key) const {
    const Entry& entry = const_cast<PointerTable*>(this)->slot(key);
    return entry.key == nullptr ? nullptr : &entry.value;
  }

  size_t size() const { return size_; }

 private:
  struct Entry {
    const void* key;  // nullptr: empty (no key is ever nullptr)
    Value value;
  };

  static size_t capacity_for(size_t expected) {
    size_t capacity = 16;
    while (capacity < expected * 2) capacity *= 2;
    return capacity;
  }

  // The entry holding `key`, or the empty one where it would go.
  Entry& slot(const void* key) {
    const size_t mask = entries_.size() - 1;
    size_t i = static_cast<size_t>((reinterpret_cast<uintptr_t>(key) >> 4) * 0x9E3779B97F4A7C15ull >> 20) & mask;
    while (entries_[i].key != nullptr && entries_[i].key != key) i = (i + 1) & mask;
    return entries_[i];
  }

  void rehash(size_t capacity) {
    std::vector<Entry> old(capacity, Entry{nullptr, Value{}});
    old.swap(entries_);
    for (const Entry& entry : old) {
      if (entry.key != nullptr) slot(entry.key) = entry;
    }
  }

  std::vector<Entry> entries_;
  size_t size_ = 0;
};

// A set of addresses.
using PointerSet = PointerTable<bool>;

}  // namespace refheap
