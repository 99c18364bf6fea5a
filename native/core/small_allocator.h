// The pool allocator for blocks of up to kSmallLimit bytes, after CPython's
// obmalloc.
//
// Each size class keeps a list of its pools that have a free block. A pool
// hands out blocks from its free list first and otherwise carves the next
// never-used block (carving is lazy, so a new pool costs nothing up front).
// A pool that fills up leaves its class list; one that empties goes back to
// its arena. Arenas are kept in buckets by their number of free pools, and a
// new pool always comes from the arena with the fewest: allocations crowd
// into full arenas and the nearly empty ones drain, so they can be unmapped.
// One empty arena is kept mapped to absorb alloc/free churn at the boundary;
// the next one to empty is unmapped at once.
//
// A pool's lifecycle:  (never carved) -> used -> full -> used -> empty
//                       -> back on its arena's free-pool list -> used ...
// An emptied pool keeps its layout; if it is taken again for the same size
// class its free list is still valid and block tags keep counting. When it
// is set up for another class (or trimmed) its tag seed moves past every tag
// the old layout handed out, and the new blocks count on from there.
#pragma once

#include <cstddef>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "block.h"
#include "page_source.h"
#include "types.h"

namespace refheap {

// True when the pool can hand out another block.
bool has_room(const Pool* pool);
inline Pool* pool_at(const Arena* arena, size_t index) {
  return reinterpret_cast<Pool*>(arena->base + index * kPoolSize);
}
extern const std::array<uint64_t, kSizeClasses> kReciprocals;

struct SizeClassCounters {
  uint64_t pools = 0;          // pools of this class in use
  uint64_t blocks_in_use = 0;  // live blocks of this class
};

class SmallAllocator {
 public:
  SmallAllocator(PageSource& pages, uint64_t heap_id) : pages_(pages), heap_id_(heap_id) {
    pages_.set_reclaimer(&SmallAllocator::reclaim, this);
  }
  SmallAllocator(const SmallAllocator&) = delete;
  SmallAllocator& operator=(const SmallAllocator&) = delete;

  // A block of class_block_size(size_class) bytes: tag bumped, flags set to
  // kAllocated, everything after the header unspecified.
  Status allocate(unsigned size_class, Block** out);
  void free(Block* block);

  // The live block at `granule` of `arena` carrying `tag`, else nullptr.
  // Reads only the arena's own pool and block headers.
  Block* resolve(const Arena* arena, uint32_t granule, uint16_t tag) const {
    const size_t offset = size_t{granule} << kGranuleShift;
    if (offset / kPoolSize >= arena->pools_carved) return nullptr;
    const Pool* pool = pool_at(arena, offset / kPoolSize);
    const size_t within = offset % kPoolSize;
    if (pool->block_size == 0 || within < kPoolHeaderSize || within >= pool->next_offset) return nullptr;
    const uint64_t index = ((within - kPoolHeaderSize) * kReciprocals[pool->size_class]) >> 32;
    if (index * pool->block_size != within - kPoolHeaderSize) return nullptr;
    Block* block = reinterpret_cast<Block*>(arena->base + offset);
    if (!is_allocated(block) || block->tag != tag) return nullptr;
    return block;
  }
  uint32_t slot_of(const Block* block) const;
  uint32_t granule_of(const Block* block) const;

  // Unmaps the cached empty arena and gives the pages of free pools back to
  // the OS. Returns the bytes released.
  size_t trim();
  // Unmaps every arena (the heap is closing).
  void release_all();

  const SizeClassCounters& class_counters(unsigned size_class) const { return classes_[size_class]; }
  uint64_t arenas_current() const { return arenas_current_; }
  uint64_t arenas_peak() const { return arenas_peak_; }
  uint64_t arenas_allocated_total() const { return arenas_allocated_total_; }
  uint64_t arenas_freed_total() const { return arenas_freed_total_; }
  uint64_t pools_used() const { return pools_used_; }
  const Arena* first_arena() const { return all_arenas_; }

  // Recomputes every counter from the pools themselves (verify.cc). Appends
  // the live blocks to `live`. "" when consistent.
  std::string verify(std::vector<Block*>* live) const;

 private:
  friend struct HeapTestAccess;  // test/heap_test_access.h: tests break the heap on purpose
  static void reclaim(void* allocator);
  size_t release_cached_arena();
  Status take_pool(unsigned size_class, Pool** out);
  void return_pool(Pool* pool);
  Status new_arena(Arena** out);
  void release_arena(Arena* arena);
  void bucket_insert(Arena* arena);
  void bucket_remove(Arena* arena);
  void class_list_push(Pool* pool);
  void class_list_remove(Pool* pool);

  PageSource& pages_;
  uint64_t heap_id_;
  Pool* usable_pools_[kSizeClasses] = {};        // pools with a free or uncarved block
  Arena* buckets_[kPoolsPerArena] = {};          // arenas by free pool count, 1..63
  uint64_t nonempty_buckets_ = 0;                // bit k: buckets_[k] has an arena
  Arena* cached_empty_ = nullptr;                // at most one empty arena stays mapped
  Arena* all_arenas_ = nullptr;
  SizeClassCounters classes_[kSizeClasses];
  uint64_t arenas_current_ = 0;
  uint64_t arenas_peak_ = 0;
  uint64_t arenas_allocated_total_ = 0;
  uint64_t arenas_freed_total_ = 0;
  uint64_t pools_used_ = 0;
};

}  // namespace refheap
