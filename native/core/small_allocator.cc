#include "small_allocator.h"

#include <array>
#include <new>

#include "block.h"
#include "registry.h"
#include "sanitizer.h"

namespace refheap {

bool has_room(const Pool* pool) {
  return pool->free_list != nullptr || pool->next_offset + pool->block_size <= kPoolSize;
}


// class_reciprocal of every size class, computed once.
const std::array<uint64_t, kSizeClasses> kReciprocals = [] {
  std::array<uint64_t, kSizeClasses> table{};
  for (unsigned c = 0; c < kSizeClasses; c++) table[c] = class_reciprocal(class_block_size(c));
  return table;
}();

namespace {

// Ends the pool's layout. Its blocks' tags all lie in (tag_seed, tag_seed + k],
// k the most times one block was handed out; the seed moves past them, so
// that blocks of a later layout, whose headers may sit on old data bytes,
// never repeat a tag that a stale ref of this layout still carries.
void retire_layout(Pool* pool) {
  if (pool->block_size == 0) return;  // no layout to retire
  uint16_t advance = 0;
  for (uint32_t offset = kPoolHeaderSize; offset < pool->next_offset; offset += pool->block_size) {
    const auto* block = reinterpret_cast<const Block*>(reinterpret_cast<char*>(pool) + offset);
    const uint16_t uses = static_cast<uint16_t>(block->tag - pool->tag_seed);
    if (uses > advance) advance = uses;
  }
  pool->tag_seed = static_cast<uint16_t>(pool->tag_seed + advance);
  pool->block_size = 0;
}

// Retires every layout of the arena's pools and returns the end of their
// tags: every block the arena ever held had a tag in (tag_base, the end].
uint16_t tag_end(const Arena* arena) {
  uint16_t span = 0;
  for (uint32_t index = 0; index < arena->pools_carved; index++) {
    Pool* pool = pool_at(arena, index);
    retire_layout(pool);
    const uint16_t pool_span = static_cast<uint16_t>(pool->tag_seed - arena->tag_base);
    if (pool_span > span) span = pool_span;
  }
  return static_cast<uint16_t>(arena->tag_base + span);
}

// Sets `pool` up for `size_class`. A pool that last served the same class
// keeps its free list and carved blocks, so their tags keep counting.
void init_pool(Pool* pool, Arena* arena, unsigned size_class) {
  pool->arena = arena;
  pool->arena_slot = arena->slot;
  pool->next = pool->prev = nullptr;
  const size_t block_size = class_block_size(size_class);
  if (pool->block_size == block_size) return;
  retire_layout(pool);
  pool->free_list = nullptr;
  pool->used_blocks = 0;
  pool->next_offset = kPoolHeaderSize;
  pool->size_class = static_cast<uint16_t>(size_class);
  pool->block_size = static_cast<uint16_t>(block_size);
  sanitizer::poison(reinterpret_cast<char*>(pool) + kPoolHeaderSize, kPoolSize - kPoolHeaderSize);
}

}  // namespace

Status SmallAllocator::allocate(unsigned size_class, Block** out) {
  Pool* pool = usable_pools_[size_class];
  if (pool == nullptr) {
    const Status status = take_pool(size_class, &pool);
    if (status != Status::kOk) {
      // Mapping an arena may have run the pressure handler, and what it
      // freed may serve this request without a new arena after all.
      if (usable_pools_[size_class] == nullptr && nonempty_buckets_ == 0 && cached_empty_ == nullptr) return status;
      return allocate(size_class, out);
    }
  }
  Block* block;
  if (pool->free_list != nullptr) {
    block = pool->free_list;
    sanitizer::unpoison(block, pool->block_size);
    pool->free_list = *free_link_of(block);
  } else {
    // Carving: the bytes here may be data of an older layout, so the tag
    // starts from the pool's seed, never from them.
    block = reinterpret_cast<Block*>(reinterpret_cast<char*>(pool) + pool->next_offset);
    sanitizer::unpoison(block, pool->block_size);
    block->tag = pool->tag_seed;
    pool->next_offset += pool->block_size;
  }
  block->tag = static_cast<uint16_t>(block->tag + 1);
  block->flags = block_flags::kAllocated;
  pool->used_blocks++;
  classes_[size_class].blocks_in_use++;
  if (!has_room(pool)) class_list_remove(pool);
  *out = block;
  return Status::kOk;
}

void SmallAllocator::free(Block* block) {
  Pool* pool = pool_of(block);
  const bool was_full = !has_room(pool);
  block->flags = 0;
  *free_link_of(block) = pool->free_list;
  pool->free_list = block;
  sanitizer::poison(reinterpret_cast<char*>(block) + sizeof(BlockHeader),
                    pool->block_size - sizeof(BlockHeader));
  pool->used_blocks--;
  classes_[pool->size_class].blocks_in_use--;
  if (pool->used_blocks == 0) {
    if (!was_full) class_list_remove(pool);
    return_pool(pool);
  } else if (was_full) {
    class_list_push(pool);
  }
}

uint32_t SmallAllocator::slot_of(const Block* block) const { return pool_of(block)->arena_slot; }

uint32_t SmallAllocator::granule_of(const Block* block) const {
  const uintptr_t address = reinterpret_cast<uintptr_t>(block);
  return static_cast<uint32_t>((address & (kArenaSize - 1)) >> kGranuleShift);
}

Status SmallAllocator::take_pool(unsigned size_class, Pool** out) {
  Arena* arena;
  if (nonempty_buckets_ != 0) {
    arena = buckets_[__builtin_ctzll(nonempty_buckets_)];
    bucket_remove(arena);
  } else if (cached_empty_ != nullptr) {
    arena = cached_empty_;
    cached_empty_ = nullptr;
  } else {
    const Status status = new_arena(&arena);
    if (status != Status::kOk) return status;
  }
  Pool* pool;
  if (arena->free_pool_list != nullptr) {
    pool = arena->free_pool_list;
    arena->free_pool_list = pool->next;
  } else {
    pool = pool_at(arena, arena->pools_carved++);
    pool->tag_seed = arena->tag_base;  // fresh memory: start past the slot's earlier arenas
  }
  arena->free_pools--;
  if (arena->free_pools != 0) bucket_insert(arena);
  init_pool(pool, arena, size_class);
  pools_used_++;
  classes_[size_class].pools++;
  class_list_push(pool);
  *out = pool;
  return Status::kOk;
}

void SmallAllocator::return_pool(Pool* pool) {
  Arena* arena = pool->arena;
  pools_used_--;
  classes_[pool->size_class].pools--;
  if (arena->free_pools != 0) bucket_remove(arena);
  pool->next = arena->free_pool_list;
  arena->free_pool_list = pool;
  arena->free_pools++;
  if (arena->free_pools < kPoolsPerArena) {
    bucket_insert(arena);
  } else if (cached_empty_ == nullptr) {
    cached_empty_ = arena;
  } else {
    release_arena(arena);
  }
}

Status SmallAllocator::new_arena(Arena** out) {
  Arena* arena = new (std::nothrow) Arena{};
  if (arena == nullptr) return Status::kOsMemory;
  void* base;
  const Status status = pages_.map(kArenaSize, kArenaSize, &base);
  if (status != Status::kOk) {
    delete arena;
    return status;
  }
  arena->slot = Registry::claim(heap_id_, MappingKind::kArena, arena, nullptr, &arena->tag_base);
  if (arena->slot == 0) {
    pages_.unmap(base, kArenaSize);
    delete arena;
    return Status::kOsMemory;
  }
  arena->base = reinterpret_cast<uintptr_t>(base);
  arena->free_pools = kPoolsPerArena;
  arena->all_next = all_arenas_;
  if (all_arenas_ != nullptr) all_arenas_->all_prev = arena;
  all_arenas_ = arena;
  arenas_current_++;
  arenas_allocated_total_++;
  if (arenas_current_ > arenas_peak_) arenas_peak_ = arenas_current_;
  *out = arena;
  return Status::kOk;
}

void SmallAllocator::release_arena(Arena* arena) {
  // Refs into this arena stay invalid even when a later arena gets the slot.
  Registry::set_tag_floor(arena->slot, tag_end(arena));
  Registry::release(arena->slot);
  pages_.unmap(reinterpret_cast<void*>(arena->base), kArenaSize);
  if (arena->all_prev != nullptr) arena->all_prev->all_next = arena->all_next;
  else all_arenas_ = arena->all_next;
  if (arena->all_next != nullptr) arena->all_next->all_prev = arena->all_prev;
  arenas_current_--;
  arenas_freed_total_++;
  delete arena;
}

size_t SmallAllocator::release_cached_arena() {
  if (cached_empty_ == nullptr) return 0;
  release_arena(cached_empty_);
  cached_empty_ = nullptr;
  return kArenaSize;
}

// The PageSource's reclaimer: under the heap limit the cached arena is
// worth more as room for the mapping that was asked for.
void SmallAllocator::reclaim(void* allocator) { static_cast<SmallAllocator*>(allocator)->release_cached_arena(); }

size_t SmallAllocator::trim() {
  size_t released = release_cached_arena();
  // Free pools of arenas still in use: keep the page with the pool header
  // (it links the free-pool list), give the rest back. Their blocks are gone,
  // so the pool must be set up afresh when it is next taken.
  const size_t page = OsPages::page_size();
  // With pages as large as a pool (64 KiB on some arm64 kernels) a pool has
  // nothing to give back but its header page.
  if (page >= kPoolSize) return released;
  for (Arena* arena = all_arenas_; arena != nullptr; arena = arena->all_next) {
    for (Pool* pool = arena->free_pool_list; pool != nullptr; pool = pool->next) {
      if (pool->block_size == 0) continue;  // already trimmed
      retire_layout(pool);  // while the block headers are still there
      sanitizer::unpoison(reinterpret_cast<char*>(pool) + page, kPoolSize - page);
      pages_.discard(reinterpret_cast<char*>(pool) + page, kPoolSize - page);
      released += kPoolSize - page;
    }
  }
  return released;
}

void SmallAllocator::release_all() {
  while (all_arenas_ != nullptr) release_arena(all_arenas_);
  for (auto& pool : usable_pools_) pool = nullptr;
  for (auto& bucket : buckets_) bucket = nullptr;
  for (auto& counters : classes_) counters = SizeClassCounters{};
  nonempty_buckets_ = 0;
  cached_empty_ = nullptr;
  pools_used_ = 0;
}

void SmallAllocator::bucket_insert(Arena* arena) {
  const unsigned k = arena->free_pools;
  arena->bucket_prev = nullptr;
  arena->bucket_next = buckets_[k];
  if (buckets_[k] != nullptr) buckets_[k]->bucket_prev = arena;
  buckets_[k] = arena;
  nonempty_buckets_ |= uint64_t{1} << k;
}

void SmallAllocator::bucket_remove(Arena* arena) {
  const unsigned k = arena->free_pools;
  if (arena->bucket_prev != nullptr) arena->bucket_prev->bucket_next = arena->bucket_next;
  else buckets_[k] = arena->bucket_next;
  if (arena->bucket_next != nullptr) arena->bucket_next->bucket_prev = arena->bucket_prev;
  if (buckets_[k] == nullptr) nonempty_buckets_ &= ~(uint64_t{1} << k);
}

void SmallAllocator::class_list_push(Pool* pool) {
  Pool*& head = usable_pools_[pool->size_class];
  pool->prev = nullptr;
  pool->next = head;
  if (head != nullptr) head->prev = pool;
  head = pool;
}

void SmallAllocator::class_list_remove(Pool* pool) {
  if (pool->prev != nullptr) pool->prev->next = pool->next;
  else usable_pools_[pool->size_class] = pool->next;
  if (pool->next != nullptr) pool->next->prev = pool->prev;
  pool->next = pool->prev = nullptr;
}

}  // namespace refheap
