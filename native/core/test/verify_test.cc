// Heap::verify() must catch what it claims to check: each test here builds a
// consistent heap, breaks one thing in it on purpose (a header, a list, a
// counter), checks that verify() names that problem, and puts it back. The
// last tests show that verify() also holds inside finalizers, gc callbacks
// and debug lines, where a collection is half done.
#include <algorithm>
#include <string>
#include <vector>

#include "check.h"
#include "gc_recorder.h"
#include "heap.h"
#include "heap_test_access.h"
#include "helpers.h"
#include "sanitizer.h"

using namespace refheap;
using namespace refheap::testing;

namespace {

using A = HeapTestAccess;

void check_fails(const Heap& heap, const std::string& expected, int line) {
  const std::string found = heap.verify();
  if (found.find(expected) == std::string::npos) {
    fail(__FILE__, line, "verify() should report \"" + expected + "\", it reported \"" + found + "\"");
  }
}

void check_restored(const Heap& heap, int line) {
  const std::string found = heap.verify();
  if (!found.empty()) fail(__FILE__, line, "after the repair: " + found);
}

// Sets `field` to `value`, expects verify() to report `expected`, puts it back.
template <typename T, typename V>
void check_field(const Heap& heap, T& field, V value, const std::string& expected, int line) {
  const T saved = field;
  field = static_cast<T>(value);
  check_fails(heap, expected, line);
  field = saved;
  check_restored(heap, line);
}

#define CHECK_VERIFY_FAILS(heap, text) check_fails((heap), (text), __LINE__)
#define CHECK_RESTORED(heap) check_restored((heap), __LINE__)
#define CHECK_CORRUPTION(heap, field, value, text) check_field((heap), (field), (value), (text), __LINE__)

Arena* arena_of(Block* block) { return pool_of(block)->arena; }

std::vector<Block*>& list_of(Heap& heap, unsigned generation) {
  return const_cast<std::vector<Block*>&>(heap.gc().generation(generation));
}

// A small block freed, whose header stays mapped (a live neighbour keeps its pool).
Block* freed_neighbour(Heap& heap, uint64_t size, uint64_t slots) {
  Block* freed = must_alloc(heap, size, slots);
  heap.release(freed);
  return freed;
}

}  // namespace

TEST(verify_catches_a_broken_arena) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  Arena* arena = arena_of(block);
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, arena->all_prev, arena, "link to the previous arena is wrong");
  CHECK_CORRUPTION(heap, arena->slot, arena->slot + 1, "registry slot names something else");
  CHECK_CORRUPTION(heap, arena->pools_carved, kPoolsPerArena + 1, "pools carved in an arena");
  CHECK_CORRUPTION(heap, arena->free_pools, arena->free_pools + 1, "arena free pools");
  CHECK_CORRUPTION(heap, A::arenas_current(heap), 2, "arenas: expected 1, found 2");
  CHECK_CORRUPTION(heap, A::arenas_current(heap), 0, "the list of all arenas loops or is too long");
  CHECK_CORRUPTION(heap, A::arenas_freed_total(heap), 1, "arenas allocated minus arenas freed");
  CHECK_CORRUPTION(heap, A::arenas_peak(heap), 0, "peak arenas");
  heap.release(block);
}

TEST(verify_catches_an_arena_on_the_wrong_bucket) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  Arena* arena = arena_of(block);
  const unsigned k = kPoolsPerArena - 1;  // one pool in use
  CHECK(A::bucket(heap, k) == arena);
  CHECK_CORRUPTION(heap, A::nonempty_buckets(heap), A::nonempty_buckets(heap) ^ (uint64_t{1} << k), "bucket bitmap");
  CHECK_CORRUPTION(heap, arena->bucket_prev, arena, "previous arena of its bucket");
  // Off its bucket, or on another one.
  A::bucket(heap, k) = nullptr;
  A::nonempty_buckets(heap) &= ~(uint64_t{1} << k);
  CHECK_VERIFY_FAILS(heap, "the bucket of an arena (its free pools): expected 63, found 0");
  A::bucket(heap, k - 1) = arena;
  A::nonempty_buckets(heap) |= uint64_t{1} << (k - 1);
  CHECK_VERIFY_FAILS(heap, "the bucket of an arena (its free pools): expected 63, found 62");
  A::bucket(heap, k - 1) = nullptr;
  A::nonempty_buckets(heap) = uint64_t{1} << k;
  A::bucket(heap, k) = arena;
  CHECK_RESTORED(heap);
  // The cache holds an arena with pools in use.
  CHECK_CORRUPTION(heap, A::cached_empty(heap), arena, "free pools of the cached empty arena");
  // An empty arena that is not the cached one.
  heap.release(block);
  CHECK(A::cached_empty(heap) == arena);
  CHECK_CORRUPTION(heap, A::cached_empty(heap), nullptr, "an empty arena is mapped but is not the cached one");
}

TEST(verify_catches_a_full_arena_on_a_bucket) {
  Heap heap;
  std::vector<Block*> blocks;
  const size_t per_pool = (kPoolSize - kPoolHeaderSize) / 512;
  for (size_t i = 0; i < kPoolsPerArena * per_pool; i++) blocks.push_back(must_alloc(heap, 504));
  Arena* arena = arena_of(blocks[0]);
  CHECK_EQ(arena->free_pools, 0u);
  CHECK_CONSISTENT(heap);
  arena->bucket_next = arena->bucket_prev = nullptr;
  A::bucket(heap, 0) = arena;
  A::nonempty_buckets(heap) |= 1;
  CHECK_VERIFY_FAILS(heap, "a full arena is on a bucket");
  A::bucket(heap, 0) = nullptr;
  A::nonempty_buckets(heap) &= ~uint64_t{1};
  CHECK_RESTORED(heap);
  for (Block* block : blocks) heap.release(block);
}

TEST(verify_catches_a_broken_free_pool_list) {
  Heap heap;
  Block* kept = must_alloc(heap, 8);
  Block* other = must_alloc(heap, 200);  // another size class: a second pool
  Pool* pool = pool_of(other);
  heap.release(other);  // its pool goes back to the arena
  Arena* arena = arena_of(kept);
  CHECK(arena->free_pool_list == pool);
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, pool->next, pool, "an arena's free-pool list loops");
  CHECK_CORRUPTION(heap, pool->next, pool_at(arena, kPoolsPerArena - 1), "not one of its carved pools");
  CHECK_CORRUPTION(heap, pool->arena, nullptr, "a free pool belongs to another arena");
  // It kept its layout, and its one carved block is on its free list.
  CHECK(pool->block_size != 0 && pool->free_list != nullptr);
  CHECK_CORRUPTION(heap, pool->used_blocks, 1, "used blocks of a free pool");
  CHECK_CORRUPTION(heap, pool->free_list, nullptr, "blocks on a free pool's free list (all it carved): expected 1, found 0");
  CHECK_CORRUPTION(heap, pool->block_size, pool->block_size + 8, "a free pool's kept layout is broken");
  Block* freed = pool->free_list;
  CHECK_CORRUPTION(heap, freed->flags, block_flags::kAllocated, "a free pool's free list holds something that is not one of its free blocks");
  heap.release(kept);
}

TEST(verify_catches_a_broken_pool_header) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  Pool* pool = pool_of(block);
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, pool->block_size, pool->block_size + kGranule, "no layout of its size class");
  CHECK_CORRUPTION(heap, pool->size_class, kSizeClasses + 3, "no layout of its size class");
  CHECK_CORRUPTION(heap, pool->next_offset, pool->next_offset + 8, "a pool's carved end");
  CHECK_CORRUPTION(heap, pool->used_blocks, pool->used_blocks + 1, "pool used blocks");
  CHECK_CORRUPTION(heap, pool->arena_slot, pool->arena_slot + 1, "a pool has the wrong arena");
  CHECK_CORRUPTION(heap, A::pools_used(heap), 2, "pools in use");
  CHECK_CORRUPTION(heap, A::class_counters(heap, pool->size_class).pools, 2, "pools of a size class");
  CHECK_CORRUPTION(heap, A::class_counters(heap, pool->size_class).blocks_in_use, 2, "blocks in use of a size class");
  heap.release(block);
}

TEST(verify_catches_a_broken_free_list) {
  Heap heap;
  Block* live = must_alloc(heap, 8);
  Block* first = must_alloc(heap, 8);
  Block* second = must_alloc(heap, 8);
  Pool* pool = pool_of(live);
  heap.release(first);
  heap.release(second);  // the free list is second -> first
  CHECK(pool->free_list == second);
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, pool->free_list, live, "a pool's free list holds a live block");
  CHECK_CORRUPTION(heap, pool->free_list, reinterpret_cast<Block*>(reinterpret_cast<char*>(second) + 8),
                   "not one of its carved blocks");
  CHECK_CORRUPTION(heap, pool->free_list, reinterpret_cast<Block*>(reinterpret_cast<char*>(pool) + pool->next_offset),
                   "not one of its carved blocks");
  CHECK_CORRUPTION(heap, pool->free_list, first, "a pool's carved blocks (live + on its free list): expected 3, found 2");
  // first -> second -> first ... (verify() poisons the link again as it reads it)
  sanitizer::unpoison(free_link_of(first), sizeof(Block*));
  *free_link_of(first) = second;
  CHECK_VERIFY_FAILS(heap, "a pool's free list loops");
  sanitizer::unpoison(free_link_of(first), sizeof(Block*));
  *free_link_of(first) = nullptr;
  sanitizer::poison(free_link_of(first), sizeof(Block*));
  CHECK_RESTORED(heap);
  heap.release(live);
}

TEST(verify_catches_a_broken_usable_list) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  Pool* pool = pool_of(block);
  const unsigned c = pool->size_class;
  CHECK(A::usable(heap, c) == pool);
  CHECK_CORRUPTION(heap, A::usable(heap, c), nullptr, "a pool with room is missing from its usable list");
  CHECK_CORRUPTION(heap, pool->prev, pool, "previous pool of its usable list");
  A::usable(heap, c) = nullptr;
  A::usable(heap, c + 1) = pool;
  CHECK_VERIFY_FAILS(heap, "a pool is on the usable list of another size class");
  A::usable(heap, c + 1) = nullptr;
  A::usable(heap, c) = pool;
  CHECK_RESTORED(heap);
  // A full pool on its list.
  std::vector<Block*> full;
  for (size_t i = 0; i < (kPoolSize - kPoolHeaderSize) / 512; i++) full.push_back(must_alloc(heap, 504));
  Pool* full_pool = pool_of(full[0]);
  const unsigned last = full_pool->size_class;
  CHECK(A::usable(heap, last) == nullptr);
  full_pool->next = full_pool->prev = nullptr;
  CHECK_CORRUPTION(heap, A::usable(heap, last), full_pool, "a full pool is on a usable list");
  // A pool not in use (back on its arena's free-pool list) on a usable list.
  for (Block* b : full) heap.release(b);
  CHECK(arena_of(block)->free_pool_list == full_pool && full_pool->next == nullptr);
  full_pool->prev = nullptr;
  CHECK_CORRUPTION(heap, A::usable(heap, last), full_pool, "a usable list holds a pool that is not in use");
  heap.release(block);
}

TEST(verify_catches_a_broken_large_block) {
  Heap heap;
  Block* first = must_alloc(heap, 10000);
  Block* second = must_alloc(heap, 10000, 3);
  LargeBlock* older = large_of(first);
  LargeBlock* newer = large_of(second);
  CHECK(newer->next == older);
  CHECK_CONSISTENT(heap);
  const size_t page = OsPages::page_size();
  CHECK_CORRUPTION(heap, older->prev, older, "a large block's link to the previous one is wrong");
  CHECK_CORRUPTION(heap, newer->slot, older->slot, "a large block's registry slot names something else");
  CHECK_CORRUPTION(heap, older->mapping_size, older->mapping_size + page, "a large block's mapping size");
  CHECK_CORRUPTION(heap, older->data_size, 0, "a large block has the shape of a small one");
  CHECK_CORRUPTION(heap, first->flags, block_flags::kAllocated, "a large block is not marked live and large");
  CHECK_CORRUPTION(heap, A::large_count(heap), 1, "large blocks (the list loops or is too long)");
  CHECK_CORRUPTION(heap, A::large_count(heap), 3, "large blocks: expected 2, found 3");
  CHECK_CORRUPTION(heap, A::large_bytes(heap), A::large_bytes(heap) + page, "large block bytes");
  heap.release(first);
  heap.release(second);
}

TEST(verify_catches_a_broken_block_header) {
  Heap heap;
  Block* plain = must_alloc(heap, 8);
  Block* node = must_alloc(heap, 0, 1);  // 24 bytes in a 32-byte block: 8 bytes of pad
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, plain->type, 200, "types defined, more than a block's type");
  CHECK_CORRUPTION(heap, plain->flags, plain->flags | block_flags::kFinalized, "a type without finalizer is marked finalized");
  CHECK_CORRUPTION(heap, slotted(node)->slot_word, slotted(node)->slot_word & ~gc_bits::kSlotCountMask,
                   "slots of a block with slots");
  CHECK_CORRUPTION(heap, node->flags, (node->flags & 0x0f) | (15 << block_flags::kPadShift),
                   "a small block's shape does not fit its pool");
  heap.release(plain);
  heap.release(node);
}

TEST(verify_catches_a_count_below_the_slots_pointing_at_it) {
  Heap heap;
  Block* from = must_alloc(heap, 0, 2);
  Block* to = must_alloc(heap, 8);
  link(heap, from, 0, to);
  link(heap, from, 1, to);
  CHECK_EQ(to->refcount, 3u);
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, to->refcount, 1, "count at least the slots, garbage entries and finalizer calls holding a block: expected 2, found 1");
  heap.release(to);
  heap.release(from);
}

TEST(verify_counts_the_garbage_lists_count) {
  Heap heap;
  const uint32_t keep = new_type(heap, "Keep", false, true);
  Block* a = node(heap, 1, keep);
  Block* b = node(heap, 1, keep);
  link(heap, a, 0, b);
  link(heap, b, 0, a);
  heap.release(a);
  heap.release(b);
  CHECK_EQ(heap.gc().collect(2), uint64_t{2});
  CHECK_EQ(heap.gc().garbage().size(), size_t{2});
  CHECK_EQ(a->refcount, 2u);  // b's slot and the garbage list
  CHECK_CONSISTENT(heap);
  // One slot points at it, so only counting the garbage list's count finds this.
  CHECK_CORRUPTION(heap, a->refcount, 1, "count at least the slots, garbage entries and finalizer calls holding a block: expected 2, found 1");
}

// Views pin, but are not counted as holders: JavaScript may release a
// view's count itself (SPEC 4), and the block then waits at count 0.
TEST(verify_checks_the_views_bookkeeping) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  CHECK(heap.add_view(block) == Status::kOk);
  CHECK(heap.add_view(block) == Status::kOk);
  CHECK_EQ(block->refcount, 3u);
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, A::views(heap)[block], 0, "a block is pinned by zero views");
  Block* gone = freed_neighbour(heap, 8, 0);
  A::views(heap)[gone] = 1;
  CHECK_VERIFY_FAILS(heap, "a view pins a block that is not live");
  A::views(heap).erase(gone);
  CHECK_RESTORED(heap);
  Block* unviewed = must_alloc(heap, 8);
  A::dropped_views(heap).push_back(unviewed);
  CHECK_VERIFY_FAILS(heap, "a dropped view is not one of the block's views");
  A::dropped_views(heap).clear();
  for (int i = 0; i < 3; i++) A::dropped_views(heap).push_back(block);  // two views, three drops
  CHECK_VERIFY_FAILS(heap, "a dropped view is not one of the block's views");
  A::dropped_views(heap).clear();
  CHECK_RESTORED(heap);
  heap.release(unviewed);
}

TEST(verify_accepts_a_block_a_view_pins_at_count_zero) {
  // JavaScript released the view's count itself: the pin keeps the block.
  Heap heap;
  Block* plain = must_alloc(heap, 8);
  Block* node = must_alloc(heap, 0, 1);
  for (Block* block : {plain, node}) {
    CHECK(heap.add_view(block) == Status::kOk);
    heap.release(block);
    heap.release(block);
    CHECK_EQ(block->refcount, 0u);
    CHECK(heap.resolve(heap.ref_of(block)) == block);
  }
  CHECK_CONSISTENT(heap);
  // Unpinned, the same block at zero is a lost count.
  const uint32_t views = A::views(heap)[plain];
  A::views(heap).erase(plain);
  CHECK_VERIFY_FAILS(heap, "a live block has a zero count and waits for neither its finalizer nor the collector");
  A::views(heap)[plain] = views;
  CHECK_RESTORED(heap);
}

TEST(verify_counts_the_count_a_finalizer_call_holds) {
  Heap heap;
  GcRecorder recorder(heap);
  const uint32_t type = new_type(heap, "Final", true, false);
  Block* block = must_alloc(heap, 8, 0, type);
  bool ran = false;
  recorder.on_finalize = [&](Block* finalized) {
    ran = true;
    CHECK(finalized == block);
    CHECK_CONSISTENT(heap);
    // Its only count is the one held for the call.
    CHECK_CORRUPTION(heap, finalized->refcount, 0, "count at least the slots, garbage entries and finalizer calls holding a block: expected 1, found 0");
  };
  heap.release(block);
  CHECK(ran);
  CHECK_CONSISTENT(heap);
}

TEST(verify_catches_a_zero_count_nothing_explains) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  CHECK_CORRUPTION(heap, block->refcount, 0, "a live block has a zero count and waits for neither its finalizer nor the collector");
  heap.release(block);
}

TEST(verify_catches_broken_finalizer_bookkeeping) {
  Heap heap;
  const uint32_t type = new_type(heap, "Final", true, false);
  Block* plain = must_alloc(heap, 8);
  Block* final = must_alloc(heap, 8, 0, type);
  Block* gone = freed_neighbour(heap, 8, 0);
  CHECK_CONSISTENT(heap);
  A::finalizing(heap).push_back(final);
  CHECK_VERIFY_FAILS(heap, "a block whose finalizer runs is not marked finalized");
  A::finalizing(heap).clear();
  A::finalizing(heap).push_back(gone);
  CHECK_VERIFY_FAILS(heap, "a finalizer runs on a block that is not live");
  A::finalizing(heap).clear();
  CHECK_RESTORED(heap);
  A::pending_finalizers(heap).push_back(heap.ref_bits(plain));
  CHECK_VERIFY_FAILS(heap, "a block of a type without finalizer waits for its finalizer");
  A::pending_finalizers(heap).clear();
  A::pending_finalizers(heap).push_back(heap.ref_bits(final));
  CHECK_VERIFY_FAILS(heap, "finalizers waiting outside any operation");
  A::pending_finalizers(heap).clear();
  CHECK_RESTORED(heap);
  heap.release(plain);
  heap.release(final);
}

TEST(verify_recomputes_the_totals) {
  Heap heap;
  Block* plain = must_alloc(heap, 8);
  Block* node = must_alloc(heap, 8, 2);
  Block* large = must_alloc(heap, 5000);
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, A::live_blocks(heap), 4, "live blocks: expected 3, found 4");
  CHECK_CORRUPTION(heap, A::allocations(heap), A::allocations(heap) + 1, "allocations minus frees");
  CHECK_CORRUPTION(heap, A::tracked_blocks(heap), 0, "tracked blocks: expected 1, found 0");
  CHECK_CORRUPTION(heap, A::allocated_bytes(heap), A::allocated_bytes(heap) + 16, "allocated bytes");
  CHECK_CORRUPTION(heap, A::requested_bytes(heap), A::requested_bytes(heap) - 1, "requested bytes");
  CHECK_CORRUPTION(heap, A::mapped_bytes(heap), A::mapped_bytes(heap) + 4096, "mapped bytes");
  CHECK_CORRUPTION(heap, A::peak_mapped_bytes(heap), 0, "peak mapped bytes");
  CHECK_CORRUPTION(heap, A::max_bytes(heap), kArenaSize, "mapped bytes, at most");
  // A block's pad feeds requestedBytes: verify reads it from the block.
  CHECK_CORRUPTION(heap, plain->flags, plain->flags | (1 << block_flags::kPadShift), "requested bytes");
  heap.release(plain);
  heap.release(node);
  heap.release(large);
}

TEST(verify_catches_broken_generation_lists) {
  Heap heap;
  heap.gc().enabled = false;
  Block* x = node(heap);
  Block* y = node(heap);
  Block* plain = must_alloc(heap, 8);
  Block* gone = freed_neighbour(heap, 0, 1);
  std::vector<Block*>& young = list_of(heap, 0);
  CHECK(young.size() == 2 && young[1] == y);
  CHECK_CONSISTENT(heap);

  young.push_back(gone);
  CHECK_VERIFY_FAILS(heap, "a generation lists a block that is not live");
  young.pop_back();
  young.push_back(plain);
  CHECK_VERIFY_FAILS(heap, "a generation lists a block without slots");
  young.pop_back();
  list_of(heap, 1).push_back(x);
  CHECK_VERIFY_FAILS(heap, "a block is on the generation lists twice");
  list_of(heap, 1).pop_back();
  CHECK_RESTORED(heap);

  CHECK_CORRUPTION(heap, slotted(x)->slot_word, slotted(x)->slot_word ^ (1u << gc_bits::kGenerationShift), "a listed block's generation disagrees");
  CHECK_CORRUPTION(heap, slotted(x)->slot_word, slotted(x)->slot_word & ~gc_bits::kTracked, "a listed block's generation disagrees");
  CHECK_CORRUPTION(heap, slotted(x)->gc_word, 1, "a listed block's index disagrees");
  CHECK_CORRUPTION(heap, slotted(x)->slot_word, slotted(x)->slot_word | gc_bits::kUnknown, "a listed block is marked as under collection");

  young.pop_back();  // y keeps its kTracked bit
  CHECK_VERIFY_FAILS(heap, "a block marked tracked is on no generation list");
  young.push_back(y);
  CHECK_RESTORED(heap);

  auto& collection = const_cast<std::vector<Block*>&>(heap.gc().collecting_list());
  collection.push_back(x);
  CHECK_VERIFY_FAILS(heap, "blocks are under collection while no collection runs");
  collection.clear();

  heap.gc().untrack(y);
  CHECK_VERIFY_FAILS(heap, "blocks with slots on no generation list, not waiting for or running a finalizer");
  set_gc_bits(y, gc_bits::kDeferred);
  CHECK_VERIFY_FAILS(heap, "a block outside the collection carries a collection bit");
  clear_gc_bits(y, gc_bits::kDeferred);
  set_gc_bits(y, gc_bits::kCollecting);
  CHECK_VERIFY_FAILS(heap, "a block marked as under collection is not in the collection");
  clear_gc_bits(y, gc_bits::kCollecting);
  heap.gc().track(y, 0);
  CHECK_RESTORED(heap);
  heap.release(x);
  heap.release(y);
  heap.release(plain);
}

TEST(verify_holds_inside_finalizers_callbacks_and_debug_lines) {
  Heap heap;
  GcRecorder recorder(heap);
  heap.gc().debug = debug_flags::kStats | debug_flags::kCollectable | debug_flags::kUncollectable;
  const uint32_t final = new_type(heap, "Final", true, false);
  const uint32_t keep = new_type(heap, "Keep", false, true);
  int checked = 0;
  auto check_here = [&] {
    checked++;
    CHECK_CONSISTENT(heap);
  };
  recorder.on_event = [&](bool, const CollectionInfo&) { check_here(); };
  recorder.on_line = [&](const std::string&) { check_here(); };
  Block* survivor = node(heap);
  std::vector<Block*> kept;
  recorder.on_finalize = [&](Block* block) {
    check_here();
    // Resurrect every other one, allocate, release, collect again (a no-op).
    if (checked % 2 == 0) {
      CHECK(heap.retain(block) == Status::kOk);
      kept.push_back(block);
    }
    heap.release(node(heap, 2));
    heap.gc().collect(0);  // a no-op inside a collection; a real one on the count-zero path
    check_here();
  };
  for (int round = 0; round < 3; round++) {
    // Rings of finalizer blocks, an uncollectable pair, and a chain freed by its count.
    for (int ring = 0; ring < 3; ring++) {
      Block* first = node(heap, 1, final);
      Block* previous = first;
      for (int i = 0; i < 3; i++) {
        Block* next = node(heap, 1, final);
        link(heap, previous, 0, next);
        heap.release(next);
        previous = next;
      }
      link(heap, previous, 0, first);
      heap.release(first);
    }
    Block* a = node(heap, 1, keep);
    Block* b = node(heap, 1, keep);
    link(heap, a, 0, b);
    link(heap, b, 0, a);
    heap.release(a);
    heap.release(b);
    Block* chain = node(heap, 1, final);
    Block* child = node(heap, 1, final);
    link(heap, chain, 0, child);
    heap.release(child);
    heap.release(chain);
    heap.gc().collect(static_cast<unsigned>(round));
    CHECK_CONSISTENT(heap);
  }
  CHECK(checked > 20);
  for (Block* block : kept) heap.release(block);
  heap.gc().clear_garbage();
  heap.release(survivor);
  CHECK_CONSISTENT(heap);
}

TEST(verify_holds_while_an_alloc_runs_its_automatic_collection) {
  Heap heap;
  GcRecorder recorder(heap);
  heap.gc().thresholds = {2, 10, 10};
  int checked = 0;
  recorder.on_event = [&](bool, const CollectionInfo&) {
    checked++;
    CHECK_CONSISTENT(heap);
  };
  std::vector<Block*> blocks;
  for (int i = 0; i < 12; i++) blocks.push_back(node(heap));
  CHECK(checked >= 6);
  for (Block* block : blocks) heap.release(block);
  CHECK_CONSISTENT(heap);
}

TEST(verify_catches_a_broken_collection_inside_a_finalizer) {
  Heap heap;
  GcRecorder recorder(heap);
  const uint32_t final = new_type(heap, "Final", true, false);
  Block* survivor = node(heap);
  Block* a = node(heap, 1, final);
  Block* b = node(heap, 1, final);
  link(heap, a, 0, b);
  link(heap, b, 0, a);
  heap.release(a);
  heap.release(b);
  bool ran = false;
  recorder.on_finalize = [&](Block* block) {
    if (ran) return;
    ran = true;
    CHECK_CONSISTENT(heap);
    Block* other = block == a ? b : a;
    CHECK(has_gc_bit(other, gc_bits::kCollecting));
    CHECK_CORRUPTION(heap, slotted(other)->slot_word, slotted(other)->slot_word & ~gc_bits::kCollecting,
                     "a block under collection is not marked so");
    CHECK_CORRUPTION(heap, slotted(survivor)->slot_word, slotted(survivor)->slot_word | gc_bits::kCollecting,
                     "a listed block is marked as under collection");
    auto& collection = const_cast<std::vector<Block*>&>(heap.gc().collecting_list());
    collection.push_back(survivor);
    CHECK_VERIFY_FAILS(heap, "a block under collection is on a generation list");
    collection.pop_back();
    collection.push_back(other);
    CHECK_VERIFY_FAILS(heap, "the collection holds a block twice");
    collection.pop_back();
    CHECK_RESTORED(heap);
  };
  CHECK_EQ(heap.gc().collect(2), uint64_t{2});
  CHECK(ran);
  heap.release(survivor);
  CHECK_CONSISTENT(heap);
}

// gc.garbage's O(1) count: the blocks marked listed, each named once.
TEST(verify_catches_a_wrong_garbage_count) {
  Heap heap;
  heap.gc().enabled = false;
  const uint32_t legacy = new_type(heap, "Legacy", false, true);
  Block* kept = node(heap, 1, legacy);
  link(heap, kept, 0, kept);
  heap.release(kept);
  Block* other = node(heap);
  CHECK_EQ(heap.gc().collect(2), 1u);
  CHECK_EQ(heap.gc().garbage_count(), 1u);
  CHECK_CONSISTENT(heap);
  CHECK_CORRUPTION(heap, slotted(other)->slot_word, slotted(other)->slot_word | gc_bits::kGarbage,
                   "blocks marked as in gc.garbage: expected 1, found 2");
  CHECK_CORRUPTION(heap, slotted(kept)->slot_word, slotted(kept)->slot_word & ~gc_bits::kGarbage,
                   "gc.garbage count: expected 0, found 1");
  link(heap, kept, 0, nullptr);
  heap.gc().clear_garbage();
  heap.release(other);
}
