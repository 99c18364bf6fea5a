// Blocks too big for a pool each get a mapping of their own, preceded by a
// LargeBlock prefix, and are unmapped the moment they are freed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "page_source.h"
#include "types.h"

namespace refheap {

class LargeAllocator {
 public:
  LargeAllocator(PageSource& pages, uint64_t heap_id) : pages_(pages), heap_id_(heap_id) {}
  LargeAllocator(const LargeAllocator&) = delete;
  LargeAllocator& operator=(const LargeAllocator&) = delete;

  // A block of `block_bytes` (header + slots + data) holding `data_size`
  // data bytes, zero-filled, flags kAllocated | kLarge.
  Status allocate(size_t block_bytes, size_t data_size, Block** out);
  void free(Block* block);
  Block* resolve(LargeBlock* large, uint32_t granule, uint16_t tag) const;
  void release_all();

  uint64_t count() const { return count_; }
  uint64_t bytes() const { return bytes_; }
  const LargeBlock* first() const { return all_; }

 private:
  friend struct HeapTestAccess;  // test/heap_test_access.h: tests break the heap on purpose
  PageSource& pages_;
  uint64_t heap_id_;
  LargeBlock* all_ = nullptr;
  uint64_t count_ = 0;
  uint64_t bytes_ = 0;  // mapped, prefixes and page rounding included
};

}  // namespace refheap
