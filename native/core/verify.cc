// Full consistency checks, for tests: every counter is recomputed from the
// memory itself and compared. Slow on purpose; never on a hot path.
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "heap.h"
#include "registry.h"
#include "sanitizer.h"

namespace refheap {
namespace {

std::string problem(const char* what, uint64_t expected, uint64_t actual) {
  return std::string(what) + ": expected " + std::to_string(expected) + ", found " + std::to_string(actual);
}

}  // namespace

std::string SmallAllocator::verify(std::vector<Block*>* live) const {
  uint64_t pools_in_use = 0;
  uint64_t arenas = 0;
  SizeClassCounters classes[kSizeClasses];
  std::unordered_set<const Pool*> usable;
  for (const Pool* head : usable_pools_) {
    for (const Pool* pool = head; pool != nullptr; pool = pool->next) {
      if (!usable.insert(pool).second) return "a pool is twice on the usable lists";
      if (!has_room(pool)) return "a full pool is on a usable list";
    }
  }
  for (const Arena* arena = all_arenas_; arena != nullptr; arena = arena->all_next) {
    arenas++;
    MappingKind kind;
    if (Registry::lookup(arena->slot, heap_id_, &kind) != arena) return "an arena's registry slot names something else";
    std::unordered_set<const Pool*> free_pools;
    for (const Pool* pool = arena->free_pool_list; pool != nullptr; pool = pool->next) {
      if (pool->arena != arena) return "a free pool belongs to another arena";
      free_pools.insert(pool);
    }
    const uint64_t expected_free = kPoolsPerArena - arena->pools_carved + free_pools.size();
    if (arena->free_pools != expected_free) return problem("arena free pools", expected_free, arena->free_pools);
    for (uint32_t index = 0; index < arena->pools_carved; index++) {
      const Pool* pool = pool_at(arena, index);
      if (free_pools.count(pool) != 0) continue;
      pools_in_use++;
      if (pool->arena != arena || pool->arena_slot != arena->slot) return "a pool has the wrong arena";
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
        if (pool_of(block) != pool || is_allocated(block)) return "a pool's free list holds a foreign or live block";
        if (++free_blocks > blocks_per_pool(pool->size_class)) return "a pool's free list loops";
        sanitizer::unpoison(free_link_of(block), sizeof(Block*));
        Block* next = *free_link_of(block);
        sanitizer::poison(free_link_of(block), sizeof(Block*));
        block = next;
      }
      if (allocated != pool->used_blocks) return problem("pool used blocks", allocated, pool->used_blocks);
      classes[pool->size_class].blocks_in_use += allocated;
      if (has_room(pool) != (usable.count(pool) != 0)) return "a pool with room is missing from its usable list";
    }
  }
  if (arenas != arenas_current_) return problem("arenas", arenas, arenas_current_);
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
  std::vector<Block*> live;
  std::string failure = small_.verify(&live);
  if (failure.empty()) failure = collector_.verify();
  if (!failure.empty()) return failure;
  for (const LargeBlock* large = large_.first(); large != nullptr; large = large->next) {
    live.push_back(const_cast<LargeBlock*>(large)->block());
  }
  std::unordered_map<const Block*, uint64_t> referenced;
  uint64_t allocated = 0, requested = 0, tracked = 0;
  for (Block* block : live) {
    referenced.emplace(block, 0);
    if (resolve(ref_of(block)) != block) return "a live block's ref does not resolve to it";
    if (block->refcount == 0) return "a live block has a zero count";
    allocated += is_large(block) ? block_bytes_needed(data_size(block), slot_count(block)) : pool_of(block)->block_size;
    requested += data_size(block) + uint64_t{slot_count(block)} * sizeof(SlotWord);
    if (is_slotted(block)) tracked++;
  }
  for (Block* block : live) {
    for (uint32_t i = 0; i < slot_count(block); i++) {
      const SlotWord word = slots_of(block)[i];
      if (word == 0) continue;
      Block* target = resolve_bits(word);
      if (target == nullptr) return "a slot holds the ref of a block that is not live";
      auto found = referenced.find(target);
      if (found == referenced.end()) return "a slot points at a block that is not live";
      found->second++;
    }
  }
  for (const auto& [block, count] : referenced) {
    if (block->refcount < count) return problem("count at least the slots pointing at a block", count, block->refcount);
  }
  if (live.size() != live_blocks_) return problem("live blocks", live.size(), live_blocks_);
  if (tracked != tracked_blocks_) return problem("tracked blocks", tracked, tracked_blocks_);
  if (allocated != allocated_bytes_) return problem("allocated bytes", allocated, allocated_bytes_);
  if (requested != requested_bytes_) return problem("requested bytes", requested, requested_bytes_);
  const uint64_t mapped = small_.arenas_current() * kArenaSize + large_.bytes();
  if (mapped != pages_.mapped_bytes()) return problem("mapped bytes", mapped, pages_.mapped_bytes());
  return "";
}

}  // namespace refheap
