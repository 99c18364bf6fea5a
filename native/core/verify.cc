// Full consistency checks, for tests and fuzzers: every counter is
// recomputed from the memory itself and compared. Slow on purpose; never on
// a hot path.
//
// What is checked, in order (the first problem found is returned):
//
//   arenas    the list of all arenas (links, no loop), each in the registry
//             under its slot; its free-pool list (no loop, its own pools,
//             carved ones; a free pool that kept its layout has nothing
//             live and all it carved on its free list) and free_pools; its bucket: an arena with k free
//             pools (1..63) is on bucket k, a full one on none, an empty one
//             is the one cached arena; the bucket bitmap; arena totals.
//   pools     each pool in use: its layout (block size of its class, carved
//             end), used_blocks, its free list (only free blocks of this
//             pool, on block boundaries, no loop; carved = live + free), and
//             on its class's usable list exactly when it has room; the
//             usable lists (links, only pools in use of that class); pools
//             and blocks per size class; pools in use.
//   large     the list of large blocks (links, no loop), each in the
//             registry, its mapping's size; their count and bytes.
//   blocks    each live block: resolves from its ref, its shape fits its
//             pool, a known type, kFinalized only with a finalizer. Views
//             pin live blocks, and each dropped view is one of them;
//             finalizers run on live blocks marked finalized, and wait only
//             for blocks whose type has one.
//   totals    liveBlocks, trackedBlocks, allocatedBytes, requestedBytes,
//             allocations - frees, and mapped bytes, from the blocks.
//   lists     each generation list holds live blocks with slots, each once
//             over all lists, carrying the list's generation and its index,
//             not marked as collected; each block marked tracked is on its
//             list. During a collection the blocks marked kCollecting are
//             exactly those of its list; outside one no block carries a
//             collection bit. A block with slots on no list is waiting for
//             its finalizer or running it, or is pinned by a view at count 0.
//   state     outside any collection or finalizer call, no block waits in
//             the finalizer queue.
//   counts    (checked last) each block's count is at least what the heap
//             itself knows of: slots of live blocks pointing at it, entries
//             of the garbage list, finalizers running on it (each holds one
//             for its call). JavaScript's own counts are unknown, so this is
//             a lower bound; it assumes JavaScript releases only counts it
//             holds (views are not counted: JavaScript may release a view's
//             count, and the view then pins the block at count 0). A count
//             of zero only on a block waiting for its finalizer or for the
//             collector, or pinned by a view. Everything above holds even
//             when JavaScript released counts it did not hold, so a fuzzer
//             that does may accept these problems, and only these.
//
// verify() may be called from a finalizer or a gc callback (the fuzzer
// does): the checks above hold there too, with the exceptions they name.
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "heap.h"
#include "pointer_table.h"
#include "registry.h"

namespace refheap {
namespace {

std::string problem(const char* what, uint64_t expected, uint64_t actual) {
  return std::string(what) + ": expected " + std::to_string(expected) + ", found " + std::to_string(actual);
}

constexpr uint32_t kCollectionBits = gc_bits::kCollecting | gc_bits::kUnknown | gc_bits::kDeferred;

}  // namespace

std::string SmallAllocator::verify(std::vector<Block*>* live) const {
  // Arenas: the list of all of them first, so that nothing below follows a
  // pointer into an arena that is not this heap's.
  std::unordered_set<const Arena*> arenas;
  const Arena* previous = nullptr;
  for (const Arena* arena = all_arenas_; arena != nullptr; arena = arena->all_next) {
    if (!arenas.insert(arena).second || arenas.size() > arenas_current_) {
      return problem("arenas (the list of all arenas loops or is too long)", arenas_current_, arenas.size());
    }
    if (arena->all_prev != previous) return "an arena's link to the previous arena is wrong";
    previous = arena;
    MappingKind kind;
    if (Registry::lookup(arena->slot, heap_id_, &kind) != arena || kind != MappingKind::kArena) {
      return "an arena's registry slot names something else";
    }
    if (arena->base % kArenaSize != 0) return "an arena is not aligned to its size";
    if (arena->pools_carved > kPoolsPerArena) return problem("pools carved in an arena, at most", kPoolsPerArena, arena->pools_carved);
  }
  if (arenas.size() != arenas_current_) return problem("arenas", arenas.size(), arenas_current_);
  if (arenas_allocated_total_ - arenas_freed_total_ != arenas_current_) {
    return problem("arenas allocated minus arenas freed", arenas_current_, arenas_allocated_total_ - arenas_freed_total_);
  }
  if (arenas_peak_ < arenas_current_) return problem("peak arenas, at least", arenas_current_, arenas_peak_);

  // Buckets: arena -> bucket, with the links and the bitmap.
  std::unordered_map<const Arena*, unsigned> bucket_of;
  for (unsigned k = 0; k < kPoolsPerArena; k++) {
    if (((nonempty_buckets_ >> k) & 1) != (buckets_[k] != nullptr ? 1u : 0u)) return "the bucket bitmap disagrees with a bucket";
    const Arena* before = nullptr;
    for (const Arena* arena = buckets_[k]; arena != nullptr; arena = arena->bucket_next) {
      if (arenas.count(arena) == 0) return "a bucket holds an arena that is not this heap's";
      if (!bucket_of.emplace(arena, k).second) return "an arena is on two buckets, or a bucket loops";
      if (arena->bucket_prev != before) return "an arena's link to the previous arena of its bucket is wrong";
      before = arena;
    }
  }
  if (cached_empty_ != nullptr && arenas.count(cached_empty_) == 0) return "the cached empty arena is not this heap's";

  // Usable lists: each pool on one, once, with the links right; checked
  // against the pools in use below.
  std::unordered_map<const Pool*, unsigned> usable;
  for (unsigned c = 0; c < kSizeClasses; c++) {
    const Pool* before = nullptr;
    for (const Pool* pool = usable_pools_[c]; pool != nullptr; pool = pool->next) {
      if (arenas.count(pool->arena) == 0 || pool_at(pool->arena, (reinterpret_cast<uintptr_t>(pool) - pool->arena->base) / kPoolSize) != pool) {
        return "a usable list holds a pool outside this heap's arenas";
      }
      if (!usable.emplace(pool, c).second) return "a pool is twice on the usable lists";
      if (pool->prev != before) return "a pool's link to the previous pool of its usable list is wrong";
      before = pool;
    }
  }

  uint64_t pools_in_use = 0;
  uint64_t usable_in_use = 0;
  SizeClassCounters classes[kSizeClasses];
  for (const Arena* arena = all_arenas_; arena != nullptr; arena = arena->all_next) {
    std::unordered_set<const Pool*> free_pools;
    for (const Pool* pool = arena->free_pool_list; pool != nullptr; pool = pool->next) {
      const uintptr_t address = reinterpret_cast<uintptr_t>(pool);
      if (address < arena->base || address >= arena->base + uint64_t{arena->pools_carved} * kPoolSize ||
          (address - arena->base) % kPoolSize != 0) {
        return "an arena's free-pool list holds something that is not one of its carved pools";
      }
      if (pool->arena != arena) return "a free pool belongs to another arena";
      if (!free_pools.insert(pool).second) return "an arena's free-pool list loops";
    }
    // A free pool that kept its layout (it may serve its class again with
    // the same blocks) holds nothing live, and its free list all it carved.
    for (const Pool* pool : free_pools) {
      if (pool->block_size == 0) continue;  // trimmed, or never set up
      if (pool->size_class >= kSizeClasses || pool->block_size != class_block_size(pool->size_class) ||
          pool->next_offset < kPoolHeaderSize || pool->next_offset > kPoolSize ||
          (pool->next_offset - kPoolHeaderSize) % pool->block_size != 0) {
        return "a free pool's kept layout is broken";
      }
      if (pool->used_blocks != 0) return problem("used blocks of a free pool", 0, pool->used_blocks);
      const uint64_t carved = (pool->next_offset - kPoolHeaderSize) / pool->block_size;
      uint64_t free_blocks = 0;
      for (Block* block = pool->free_list; block != nullptr;) {
        const uintptr_t offset = reinterpret_cast<uintptr_t>(block) - reinterpret_cast<uintptr_t>(pool);
        if (pool_of(block) != pool || offset < kPoolHeaderSize || offset >= pool->next_offset ||
            (offset - kPoolHeaderSize) % pool->block_size != 0 || is_allocated(block)) {
          return "a free pool's free list holds something that is not one of its free blocks";
        }
        if (++free_blocks > carved) return "a free pool's free list loops";
        block = next_free(block);
      }
      if (free_blocks != carved) return problem("blocks on a free pool's free list (all it carved)", carved, free_blocks);
    }
    const uint64_t expected_free = kPoolsPerArena - arena->pools_carved + free_pools.size();
    if (arena->free_pools != expected_free) return problem("arena free pools", expected_free, arena->free_pools);
    // The arena's place: a bucket by its free pools, none when full, the
    // cache when empty (one empty arena at most stays mapped).
    const auto bucket = bucket_of.find(arena);
    if (arena->free_pools == kPoolsPerArena) {
      if (arena != cached_empty_) return "an empty arena is mapped but is not the cached one";
      if (bucket != bucket_of.end()) return "the cached empty arena is on a bucket";
    } else if (arena == cached_empty_) {
      return problem("free pools of the cached empty arena", kPoolsPerArena, arena->free_pools);
    } else if (arena->free_pools == 0) {
      if (bucket != bucket_of.end()) return "a full arena is on a bucket";
    } else if (bucket == bucket_of.end() || bucket->second != arena->free_pools) {
      return problem("the bucket of an arena (its free pools)", arena->free_pools,
                     bucket == bucket_of.end() ? 0 : bucket->second);
    }
    for (uint32_t index = 0; index < arena->pools_carved; index++) {
      const Pool* pool = pool_at(arena, index);
      if (free_pools.count(pool) != 0) continue;
      pools_in_use++;
      if (pool->arena != arena || pool->arena_slot != arena->slot) return "a pool has the wrong arena";
      if (pool->size_class >= kSizeClasses || pool->block_size != class_block_size(pool->size_class)) {
        return "a pool in use has no layout of its size class";
      }
      const size_t size = pool->block_size;
      if (pool->next_offset < kPoolHeaderSize || pool->next_offset > kPoolSize ||
          (pool->next_offset - kPoolHeaderSize) % size != 0) {
        return problem("a pool's carved end (offset)", kPoolHeaderSize, pool->next_offset);
      }
      const uint64_t carved = (pool->next_offset - kPoolHeaderSize) / size;
      classes[pool->size_class].pools++;
      uint64_t allocated = 0;
      for (uint32_t offset = kPoolHeaderSize; offset < pool->next_offset; offset += pool->block_size) {
        Block* block = reinterpret_cast<Block*>(arena->base + index * kPoolSize + offset);
        if (is_allocated(block)) {
          allocated++;
          live->push_back(block);
        }
      }
      uint64_t free_blocks = 0;
      for (Block* block = pool->free_list; block != nullptr;) {
        const uintptr_t offset = reinterpret_cast<uintptr_t>(block) - reinterpret_cast<uintptr_t>(pool);
        if (pool_of(block) != pool || offset < kPoolHeaderSize || offset >= pool->next_offset ||
            (offset - kPoolHeaderSize) % size != 0) {
          return "a pool's free list holds something that is not one of its carved blocks";
        }
        if (is_allocated(block)) return "a pool's free list holds a live block";
        if (++free_blocks > carved) return "a pool's free list loops";
        block = next_free(block);
      }
      if (allocated != pool->used_blocks) return problem("pool used blocks", allocated, pool->used_blocks);
      if (allocated + free_blocks != carved) {
        return problem("a pool's carved blocks (live + on its free list)", carved, allocated + free_blocks);
      }
      if (allocated == 0) return "a pool in use has no live block";
      classes[pool->size_class].blocks_in_use += allocated;
      const auto listed = usable.find(pool);
      if (has_room(pool) != (listed != usable.end())) {
        return has_room(pool) ? "a pool with room is missing from its usable list" : "a full pool is on a usable list";
      }
      if (listed != usable.end()) {
        usable_in_use++;
        if (listed->second != pool->size_class) return "a pool is on the usable list of another size class";
      }
    }
  }
  if (usable_in_use != usable.size()) return "a usable list holds a pool that is not in use";
  if (pools_in_use != pools_used_) return problem("pools in use", pools_in_use, pools_used_);
  for (unsigned c = 0; c < kSizeClasses; c++) {
    if (classes[c].pools != classes_[c].pools) return problem("pools of a size class", classes[c].pools, classes_[c].pools);
    if (classes[c].blocks_in_use != classes_[c].blocks_in_use) {
      return problem("blocks in use of a size class", classes[c].blocks_in_use, classes_[c].blocks_in_use);
    }
  }
  return "";
}

std::string Heap::verify() const {
  // Closed while JavaScript ran (memory_released_ comes when the outermost
  // call returns): the heap is being taken apart and promises nothing more.
  if (closed_ && !memory_released_) return "";
  std::vector<Block*> live;
  std::string failure = small_.verify(&live);
  if (!failure.empty()) return failure;

  // Large blocks.
  {
    PointerSet seen(large_.count());
    uint64_t bytes = 0;
    const LargeBlock* previous = nullptr;
    const size_t page = OsPages::page_size();
    for (const LargeBlock* large = large_.first(); large != nullptr; large = large->next) {
      if (!seen.insert(large).second || seen.size() > large_.count()) {
        return problem("large blocks (the list loops or is too long)", large_.count(), seen.size());
      }
      if (large->prev != previous) return "a large block's link to the previous one is wrong";
      previous = large;
      MappingKind kind;
      if (Registry::lookup(large->slot, id_, &kind) != large || kind != MappingKind::kLarge) {
        return "a large block's registry slot names something else";
      }
      Block* block = const_cast<LargeBlock*>(large)->block();
      if (!is_allocated(block) || !is_large(block)) return "a large block is not marked live and large";
      const size_t needed = block_bytes_needed(large->data_size, slot_count(block));
      if (large->data_size > kMaxDataBytes || needed <= kSmallLimit) return "a large block has the shape of a small one";
      const uint64_t mapping = (sizeof(LargeBlock) + needed + page - 1) / page * page;
      if (large->mapping_size != mapping) return problem("a large block's mapping size", mapping, large->mapping_size);
      bytes += large->mapping_size;
      live.push_back(block);
    }
    if (seen.size() != large_.count()) return problem("large blocks", seen.size(), large_.count());
    if (bytes != large_.bytes()) return problem("large block bytes", bytes, large_.bytes());
  }

  // Each live block, once.
  PointerSet alive(live.size());
  for (const Block* block : live) alive.insert(block);
  uint64_t allocated = 0, requested = 0, tracked = 0;
  for (Block* block : live) {
    if (resolve(ref_of(block)) != block) return "a live block's ref does not resolve to it";
    if (block->type >= types_.size()) return problem("types defined, more than a block's type", types_.size(), block->type);
    if (is_finalized(block) && !has_finalizer(block)) {
      return "a block of a type without finalizer is marked finalized";
    }
    if (is_slotted(block) && (slot_count(block) == 0 || slot_count(block) > kMaxSlots)) {
      return problem("slots of a block with slots, between 1 and 2^24", 1, slot_count(block));
    }
    if (!is_large(block)) {
      const Pool* pool = pool_of(block);
      const size_t pad = block->flags >> block_flags::kPadShift;
      // (The pad is at most 15 bytes, so the class is always the smallest that fits.)
      if (block_bytes_needed(0, slot_count(block)) + pad > pool->block_size) return "a small block's shape does not fit its pool";
    }
    allocated += is_large(block) ? block_bytes_needed(data_size(block), slot_count(block)) : pool_of(block)->block_size;
    requested += data_size(block) + uint64_t{slot_count(block)} * sizeof(SlotWord);
    if (is_slotted(block)) tracked++;
  }

  // The heap's own bookkeeping of views and finalizers.
  for (const auto& [block, views] : views_) {
    if (!alive.contains(block)) return "a view pins a block that is not live";
    if (views == 0) return "a block is pinned by zero views";
    // Not counted as holders: JavaScript may release a view's count itself,
    // and the pin then keeps the block, at count 0, until the view goes.
  }
  {
    PointerTable<uint64_t> dropped(dropped_views_.size());
    for (const Block* block : dropped_views_) {
      const auto view = views_.find(const_cast<Block*>(block));
      if (view == views_.end() || ++*dropped.insert(block).first > view->second) return "a dropped view is not one of the block's views";
    }
  }
  PointerSet finalizing(finalizing_.size());
  for (const Block* block : finalizing_) {
    if (!alive.contains(block)) return "a finalizer runs on a block that is not live";
    if (!is_finalized(block)) return "a block whose finalizer runs is not marked finalized";
    finalizing.insert(block);
  }
  PointerSet pending(pending_finalizers_.size());
  for (uint64_t ref : pending_finalizers_) {
    Block* block = resolve_bits(ref);
    if (block == nullptr) continue;  // queued twice and freed since (run_finalizers skips it)
    if (!has_finalizer(block)) return "a block of a type without finalizer waits for its finalizer";
    pending.insert(block);
  }
  for (uint64_t ref : finalizers_to_retry_) {  // a finalizer that could not be called waits for the next call
    if (Block* block = resolve_bits(ref)) pending.insert(block);
  }

  // Totals.
  if (live.size() != live_blocks_) return problem("live blocks", live.size(), live_blocks_);
  if (allocations_ < frees_ || allocations_ - frees_ != live_blocks_) {
    return problem("allocations minus frees (the live blocks)", live_blocks_, allocations_ - frees_);
  }
  if (tracked != tracked_blocks_) return problem("tracked blocks", tracked, tracked_blocks_);
  if (allocated != allocated_bytes_) return problem("allocated bytes", allocated, allocated_bytes_);
  if (requested != requested_bytes_) return problem("requested bytes", requested, requested_bytes_);
  const uint64_t mapped = small_.arenas_current() * kArenaSize + large_.bytes();
  if (mapped != pages_.mapped_bytes()) return problem("mapped bytes", mapped, pages_.mapped_bytes());
  if (pages_.peak_mapped_bytes() < mapped) return problem("peak mapped bytes, at least", mapped, pages_.peak_mapped_bytes());
  if (pages_.max_bytes() != 0 && mapped > pages_.max_bytes()) return problem("mapped bytes, at most", pages_.max_bytes(), mapped);

  // Generation lists. Membership is looked up in `alive` before a listed
  // pointer is read, so a freed block on a list is reported, not followed.
  PointerSet listed(tracked);
  for (unsigned g = 0; g <= kPermanentGeneration; g++) {
    const std::vector<Block*>& list = collector_.generation(g);
    for (size_t i = 0; i < list.size(); i++) {
      const Block* block = list[i];
      if (!alive.contains(block)) return "a generation lists a block that is not live";
      if (!is_slotted(block)) return "a generation lists a block without slots";
      if (!listed.insert(block).second) return "a block is on the generation lists twice";
      if (!has_gc_bit(block, gc_bits::kTracked) || generation_of(block) != g) return "a listed block's generation disagrees";
      if (reinterpret_cast<const SlottedHeader*>(block)->gc_word != i) return "a listed block's index disagrees";
      if ((gc_state(block) & kCollectionBits) != 0) return "a listed block is marked as under collection";
    }
  }
  PointerSet collecting(collector_.collecting_list().size());
  const std::vector<Block*>& collection = collector_.collecting_list();
  if (!collector_.collecting() && !collection.empty()) return "blocks are under collection while no collection runs";
  for (size_t i = 0; i < collection.size(); i++) {
    const Block* block = collection[i];
    if (block == nullptr) continue;  // left the collection (its count reached zero in the finalize phase)
    if (!alive.contains(block)) return "the collection holds a block that is not live";
    if (!is_slotted(block)) return "the collection holds a block without slots";
    if (!collecting.insert(block).second) return "the collection holds a block twice";
    if (listed.contains(block)) return "a block under collection is on a generation list";
    if (!has_gc_bit(block, gc_bits::kCollecting)) return "a block under collection is not marked so";
  }
  // gc.garbage: its O(1) count is the blocks marked listed, each named once.
  uint64_t marked_garbage = 0;
  for (const Block* block : live) marked_garbage += has_gc_bit(block, gc_bits::kGarbage);
  PointerSet in_garbage(marked_garbage);
  for (const Block* block : collector_.garbage()) {
    if (!in_garbage.insert(block).second) return "gc.garbage names a block twice";
  }
  if (in_garbage.size() != marked_garbage) return problem("blocks marked as in gc.garbage", in_garbage.size(), marked_garbage);
  if (collector_.garbage_count() != marked_garbage) return problem("gc.garbage count", marked_garbage, collector_.garbage_count());
  uint64_t unexplained = 0;
  for (Block* block : live) {
    if (!is_slotted(block)) continue;
    const uint32_t state = gc_state(block);
    if ((state & gc_bits::kCollecting) != 0) {
      if (!collecting.contains(block)) return "a block marked as under collection is not in the collection";
      if ((state & gc_bits::kTracked) != 0) return "a block under collection is marked tracked";
      continue;
    }
    if ((state & kCollectionBits) != 0) return "a block outside the collection carries a collection bit";
    if ((state & gc_bits::kTracked) != 0) {
      if (!listed.contains(block)) return "a block marked tracked is on no generation list";
      continue;
    }
    // A view keeps a block whose count reached zero (JavaScript released the
    // view's count itself), off every list, until the view goes.
    const bool pinned_at_zero = block->refcount == 0 && views_.count(block) != 0;
    if (!pending.contains(block) && !finalizing.contains(block) && !pinned_at_zero) unexplained++;
  }
  if (unexplained != 0) {
    return problem("blocks with slots on no generation list, not waiting for or running a finalizer", 0, unexplained);
  }

  // Outside any collection and finalizer, nothing is left waiting.
  const bool at_rest = !collector_.collecting() && finalizer_depth_ == 0 && finalizing_.empty();
  if (at_rest && !pending_finalizers_.empty() && !closed_) {
    return problem("finalizers waiting outside any operation", 0, pending_finalizers_.size());
  }

  failure = collector_.verify();
  if (!failure.empty()) return failure;

  // Last, so that a heap where JavaScript released counts it did not hold
  // (which the heap survives, but which breaks what follows) is checked for
  // everything else first. What the heap knows holds a count on each block:
  // its slots' targets, the garbage list, the finalizer calls under way
  // (each holds one for its call).
  PointerTable<uint64_t> held(live.size());
  for (Block* block : live) {
    for (uint32_t i = 0; i < slot_count(block); i++) {
      const SlotWord word = slots_of(block)[i];
      if (word == 0) continue;
      Block* target = resolve_bits(word);
      if (target == nullptr) return "a slot holds the ref of a block that is not live";
      if (!alive.contains(target)) return "a slot points at a block that is not live";
      ++*held.insert(target).first;
    }
  }
  for (const Block* block : collector_.garbage()) ++*held.insert(block).first;
  for (const Block* block : finalizing_) {
    if (block->refcount < kMaxRefcount) ++*held.insert(block).first;  // the count finalize() holds for the call
  }
  for (Block* block : live) {
    const uint64_t* found = held.find(block);
    const uint64_t known = found == nullptr ? 0 : *found;
    if (block->refcount < known) {
      return problem("count at least the slots, garbage entries and finalizer calls holding a block", known,
                     block->refcount);
    }
    if (block->refcount == 0 && !pending.contains(block) && !has_gc_bit(block, gc_bits::kDeferred) &&
        views_.count(block) == 0) {
      return "a live block has a zero count and waits for neither its finalizer nor the collector";
    }
  }

  return "";
}

}  // namespace refheap
