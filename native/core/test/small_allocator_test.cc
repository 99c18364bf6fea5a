// The pool allocator: size classes, pools filling and emptying, arenas
// mapped and unmapped, where new pools come from, trim, and the counters.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "check.h"
#include "heap.h"
#include "helpers.h"

using namespace refheap;
using namespace refheap::testing;

namespace {

size_t fit_in_pool(size_t block_size) { return (kPoolSize - kPoolHeaderSize) / block_size; }

// Blocks grouped by the arena, then the pool, they live in.
std::map<uintptr_t, std::map<uintptr_t, std::vector<Block*>>> by_arena_and_pool(const std::vector<Block*>& blocks) {
  std::map<uintptr_t, std::map<uintptr_t, std::vector<Block*>>> groups;
  for (Block* block : blocks) groups[arena_base_of(block)][pool_base_of(block)].push_back(block);
  return groups;
}

// Pages of [address, address + size) that are resident in memory.
size_t resident_pages(uintptr_t address, size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec(size / page);
  if (mincore(reinterpret_cast<void*>(address), size, vec.data()) != 0) return SIZE_MAX;
  size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

const SizeClassStats* row_for(const HeapStats& stats, size_t block_size) {
  for (const SizeClassStats& row : stats.size_classes) {
    if (row.block_size == block_size) return &row;
  }
  return nullptr;
}

}  // namespace

TEST(small_size_classes_follow_the_block_layout) {
  Heap heap;
  std::vector<Block*> blocks;
  uint32_t seed = 0;
  for (size_t slots = 0; slots <= 3; slots++) {
    for (size_t data = 0; data <= 530; data++) {
      Block* block = must_alloc(heap, data, slots);
      const size_t needed = expected_block_bytes(data, slots);
      CHECK_EQ(data_size(block), data);
      CHECK_EQ(slot_count(block), slots);
      CHECK(heap.check_range(block, 0, data) == Status::kOk);
      CHECK(heap.check_range(block, 0, data + 1) == Status::kOutOfRange);
      if (needed <= kSmallLimit) {
        CHECK(!is_large(block));
        CHECK_EQ(size_t{pool_of(block)->block_size}, std::max<size_t>(16, round_to_granule(needed)));
        CHECK_EQ(address_of(block) % kGranule, uintptr_t{0});
      } else {
        CHECK(is_large(block));
      }
      stamp_pattern(block, seed++);
      blocks.push_back(block);
    }
  }
  // The exact edges: 512-byte blocks are the largest from pools.
  Block* edge = must_alloc(heap, 504);
  Block* over = must_alloc(heap, 505);
  Block* edge_slotted = must_alloc(heap, 488, 1);
  Block* over_slotted = must_alloc(heap, 489, 1);
  Block* tiny = must_alloc(heap, 0);
  Block* nine = must_alloc(heap, 9);
  CHECK(!is_large(edge) && pool_of(edge)->block_size == 512);
  CHECK(is_large(over));
  CHECK(!is_large(edge_slotted) && pool_of(edge_slotted)->block_size == 512);
  CHECK(is_large(over_slotted));
  CHECK_EQ(pool_of(tiny)->block_size, 16);
  CHECK_EQ(pool_of(nine)->block_size, 32);
  for (Block* block : {edge, over, edge_slotted, over_slotted, tiny, nine}) heap.release(block);

  const HeapStats stats = heap.stats();
  CHECK_EQ(stats.size_classes.size(), kSizeClasses);  // every class from 16 to 512 bytes
  for (size_t c = 0; c < stats.size_classes.size(); c++) CHECK_EQ(stats.size_classes[c].block_size, (c + 1) * 16);
  // Nothing overlapped: every block still holds its own bytes.
  for (size_t i = 0; i < blocks.size(); i++) CHECK(check_pattern(blocks[i], static_cast<uint32_t>(i)));
  CHECK_CONSISTENT(heap);
  for (Block* block : blocks) heap.release(block);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_EQ(heap.stats().large_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(small_pool_holds_as_many_blocks_as_fit_after_its_header) {
  for (size_t block_size : {16, 48, 112, 256, 512}) {
    Heap heap;
    const size_t expected = fit_in_pool(block_size);
    std::vector<Block*> blocks;
    blocks.push_back(must_alloc(heap, block_size - 8));
    const uintptr_t first_pool = pool_base_of(blocks[0]);
    CHECK_EQ(address_of(blocks[0]), first_pool + kPoolHeaderSize);
    while (blocks.size() < expected) blocks.push_back(must_alloc(heap, block_size - 8));
    // Full now: carved back to back, nothing left over.
    for (size_t i = 0; i < blocks.size(); i++) {
      CHECK_EQ(address_of(blocks[i]), first_pool + kPoolHeaderSize + i * block_size);
    }
    CHECK(first_pool + kPoolHeaderSize + expected * block_size <= first_pool + kPoolSize);
    CHECK(first_pool + kPoolHeaderSize + (expected + 1) * block_size > first_pool + kPoolSize);
    HeapStats stats = heap.stats();
    const SizeClassStats* row = row_for(stats, block_size);
    CHECK(row != nullptr && row->pools == 1 && row->blocks_in_use == expected && row->blocks_free == 0);
    // One more: a second pool.
    Block* next = must_alloc(heap, block_size - 8);
    CHECK(pool_base_of(next) != first_pool);
    stats = heap.stats();
    row = row_for(stats, block_size);
    CHECK(row != nullptr && row->pools == 2 && row->blocks_in_use == expected + 1 &&
          row->blocks_free == expected - 1);
    CHECK_EQ(stats.pools_used, uint64_t{2});
    CHECK_CONSISTENT(heap);
    heap.release(next);
    for (Block* block : blocks) heap.release(block);
  }
}

TEST(small_full_pool_returns_to_its_class_list_when_a_block_is_freed) {
  Heap heap;
  std::vector<Block*> first;
  for (size_t i = 0; i < fit_in_pool(64); i++) first.push_back(must_alloc(heap, 56));
  Block* in_second = must_alloc(heap, 56);
  CHECK(pool_base_of(in_second) != pool_base_of(first[0]));
  // A hole in the full pool is used before the second pool carves more.
  Block* hole = first[100];
  const uintptr_t hole_address = address_of(hole);
  heap.release(hole);
  first[100] = must_alloc(heap, 56);
  CHECK_EQ(address_of(first[100]), hole_address);
  // Full again: the next block comes from the second pool.
  Block* after = must_alloc(heap, 56);
  CHECK_EQ(pool_base_of(after), pool_base_of(in_second));
  CHECK_CONSISTENT(heap);
  for (Block* block : first) heap.release(block);
  heap.release(in_second);
  heap.release(after);
  CHECK_CONSISTENT(heap);
}

TEST(small_emptied_pool_goes_back_to_its_arena_and_serves_another_class) {
  Heap heap;
  std::vector<Block*> full;
  for (size_t i = 0; i < fit_in_pool(32); i++) full.push_back(must_alloc(heap, 24));
  std::vector<Block*> partial;
  for (int i = 0; i < 10; i++) partial.push_back(must_alloc(heap, 24));
  const uintptr_t emptied = pool_base_of(partial[0]);
  CHECK(emptied != pool_base_of(full[0]));
  CHECK_EQ(heap.stats().pools_used, uint64_t{2});
  for (Block* block : partial) heap.release(block);
  HeapStats stats = heap.stats();
  CHECK_EQ(stats.pools_used, uint64_t{1});
  CHECK_EQ(stats.pools_free, kPoolsPerArena - 1);
  CHECK(row_for(stats, 32) != nullptr && row_for(stats, 32)->pools == 1);
  CHECK_CONSISTENT(heap);
  // The emptied pool is the next one handed out, to any class.
  Block* other = must_alloc(heap, 100);
  CHECK_EQ(pool_base_of(other), emptied);
  CHECK_EQ(address_of(other), emptied + kPoolHeaderSize);
  CHECK_EQ(pool_of(other)->block_size, 112);
  for (size_t i = 0; i < data_size(other); i++) CHECK_EQ(data_of(other)[i], 0);
  stats = heap.stats();
  CHECK(row_for(stats, 112) != nullptr && row_for(stats, 112)->pools == 1);
  CHECK_CONSISTENT(heap);
  heap.release(other);
  for (Block* block : full) heap.release(block);
  CHECK_EQ(heap.stats().pools_used, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(small_empty_arenas_are_unmapped_but_one_is_cached) {
  Heap heap;
  const size_t per_arena = kPoolsPerArena * fit_in_pool(512);
  std::vector<Block*> blocks;
  for (size_t i = 0; i < 3 * per_arena + 1; i++) blocks.push_back(must_alloc(heap, 504));
  HeapStats stats = heap.stats();
  CHECK_EQ(stats.arenas_current, uint64_t{4});
  CHECK_EQ(stats.arenas_peak, uint64_t{4});
  CHECK_EQ(stats.arenas_allocated_total, uint64_t{4});
  CHECK_EQ(stats.mapped_bytes, 4 * kArenaSize);
  CHECK_EQ(stats.pools_used, 3 * kPoolsPerArena + 1);
  const auto groups = by_arena_and_pool(blocks);
  CHECK_EQ(groups.size(), size_t{4});
  // Empty the arenas one by one: the first stays mapped, the others go.
  size_t emptied = 0;
  for (const auto& [arena, pools] : groups) {
    for (const auto& [pool, in_pool] : pools) {
      for (Block* block : in_pool) heap.release(block);
    }
    emptied++;
    stats = heap.stats();
    CHECK_EQ(stats.arenas_current, 4 - (emptied - 1));
    CHECK_EQ(stats.mapped_bytes, (4 - (emptied - 1)) * kArenaSize);
    CHECK_EQ(stats.arenas_freed_total, emptied - 1);
    CHECK_CONSISTENT(heap);
  }
  CHECK_EQ(stats.live_blocks, uint64_t{0});
  CHECK_EQ(stats.pools_used, uint64_t{0});
  CHECK_EQ(stats.peak_mapped_bytes, 4 * kArenaSize);
  // The cached arena serves the next allocation without a new mapping.
  Block* again = must_alloc(heap, 8);
  stats = heap.stats();
  CHECK_EQ(stats.arenas_current, uint64_t{1});
  CHECK_EQ(stats.arenas_allocated_total, uint64_t{4});
  heap.release(again);
  const size_t released = heap.trim();
  CHECK(released >= kArenaSize);
  stats = heap.stats();
  CHECK_EQ(stats.arenas_current, uint64_t{0});
  CHECK_EQ(stats.mapped_bytes, uint64_t{0});
  CHECK_EQ(stats.arenas_freed_total, uint64_t{4});
  CHECK_EQ(heap.trim(), size_t{0});
  // And a fresh arena after that.
  again = must_alloc(heap, 8);
  CHECK_EQ(heap.stats().arenas_allocated_total, uint64_t{5});
  heap.release(again);
  CHECK_CONSISTENT(heap);
}

TEST(small_new_pools_come_from_the_fullest_arena) {
  Heap heap;
  const size_t per_pool = fit_in_pool(512);
  std::vector<Block*> blocks;
  for (size_t i = 0; i < 2 * kPoolsPerArena * per_pool; i++) blocks.push_back(must_alloc(heap, 504));
  auto groups = by_arena_and_pool(blocks);
  CHECK_EQ(groups.size(), size_t{2});
  auto arena_it = groups.begin();
  const uintptr_t nearly_full = arena_it->first;
  auto& nearly_full_pools = arena_it->second;
  ++arena_it;
  const uintptr_t nearly_empty = arena_it->first;
  auto& nearly_empty_pools = arena_it->second;
  // Leave 2 free pools in one arena and 63 in the other.
  size_t freed_pools = 0;
  for (auto& [pool, in_pool] : nearly_full_pools) {
    if (freed_pools++ == 2) break;
    for (Block* block : in_pool) heap.release(block);
    in_pool.clear();
  }
  freed_pools = 0;
  for (auto& [pool, in_pool] : nearly_empty_pools) {
    if (freed_pools++ == 63) break;
    for (Block* block : in_pool) heap.release(block);
    in_pool.clear();
  }
  CHECK_EQ(heap.stats().pools_used, uint64_t{62 + 1});
  // Each new pool goes to the arena with the fewest free pools.
  Block* a = must_alloc(heap, 8);
  Block* b = must_alloc(heap, 24);
  Block* c = must_alloc(heap, 40);
  CHECK_EQ(arena_base_of(a), nearly_full);
  CHECK_EQ(arena_base_of(b), nearly_full);
  CHECK_EQ(arena_base_of(c), nearly_empty);
  CHECK_EQ(heap.stats().arenas_current, uint64_t{2});
  CHECK_CONSISTENT(heap);
  for (Block* block : {a, b, c}) heap.release(block);
  for (auto& [arena, pools] : groups) {
    for (auto& [pool, in_pool] : pools) {
      for (Block* block : in_pool) heap.release(block);
    }
  }
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(small_trim_returns_the_cached_arena_and_free_pool_pages) {
  Heap heap;
  const size_t page = OsPages::page_size();
  const size_t per_pool = fit_in_pool(512);
  std::vector<Block*> blocks;
  uint32_t seed = 0;
  for (size_t i = 0; i < (kPoolsPerArena + 1) * per_pool; i++) {
    blocks.push_back(must_alloc(heap, 504));
    stamp_pattern(blocks.back(), seed++);
  }
  auto groups = by_arena_and_pool(blocks);
  CHECK_EQ(groups.size(), size_t{2});
  // Empty the arena holding the one extra pool (it becomes the cached one)
  // and ten pools of the other.
  std::vector<uintptr_t> trimmed_pools;
  std::vector<Block*> kept;
  for (auto& [arena, pools] : groups) {
    if (pools.size() == 1) {
      for (Block* block : pools.begin()->second) heap.release(block);
      continue;
    }
    for (auto& [pool, in_pool] : pools) {
      if (trimmed_pools.size() < 10) {
        trimmed_pools.push_back(pool);
        for (Block* block : in_pool) heap.release(block);
      } else {
        kept.insert(kept.end(), in_pool.begin(), in_pool.end());
      }
    }
  }
  HeapStats stats = heap.stats();
  CHECK_EQ(stats.arenas_current, uint64_t{2});
  CHECK_EQ(stats.pools_free, uint64_t{10 + kPoolsPerArena});
  for (uintptr_t pool : trimmed_pools) CHECK_EQ(resident_pages(pool, kPoolSize), kPoolSize / page);

  const size_t released = heap.trim();
  stats = heap.stats();
  CHECK_EQ(stats.arenas_current, uint64_t{1});
  CHECK_EQ(stats.mapped_bytes, kArenaSize);
  // What trim reports is what left memory: every non-resident page of the
  // ten free pools, plus the unmapped arena.
  size_t gone_pages = 0;
  for (uintptr_t pool : trimmed_pools) gone_pages += kPoolSize / page - resident_pages(pool, kPoolSize);
  CHECK(gone_pages > 0);
  CHECK_EQ(released, kArenaSize + gone_pages * page);
  CHECK(released < kArenaSize + 10 * kPoolSize);
  CHECK_EQ(heap.trim(), size_t{0});
  // The blocks in use kept their bytes.
  for (Block* block : kept) {
    const size_t index = std::find(blocks.begin(), blocks.end(), block) - blocks.begin();
    if (!check_pattern(block, static_cast<uint32_t>(index))) {
      CHECK(check_pattern(block, static_cast<uint32_t>(index)));
      break;
    }
  }
  CHECK_CONSISTENT(heap);
  // The trimmed pools are used again, for their old class and another one,
  // without a new arena; the blocks are zeroed and hold what is written.
  std::vector<Block*> refill;
  for (size_t i = 0; i < 5 * per_pool; i++) refill.push_back(must_alloc(heap, 504));
  for (size_t i = 0; i < 5 * fit_in_pool(64); i++) refill.push_back(must_alloc(heap, 56));
  std::set<uintptr_t> used_pools;
  for (Block* block : refill) used_pools.insert(pool_base_of(block));
  for (uintptr_t pool : used_pools) {
    CHECK(std::find(trimmed_pools.begin(), trimmed_pools.end(), pool) != trimmed_pools.end());
  }
  CHECK_EQ(used_pools.size(), size_t{10});
  CHECK_EQ(heap.stats().arenas_current, uint64_t{1});
  for (Block* block : refill) {
    bool zero = true;
    for (size_t i = 0; i < data_size(block); i++) zero = zero && data_of(block)[i] == 0;
    CHECK(zero);
  }
  for (size_t i = 0; i < refill.size(); i++) stamp_pattern(refill[i], 100000 + static_cast<uint32_t>(i));
  for (size_t i = 0; i < refill.size(); i++) CHECK(check_pattern(refill[i], 100000 + static_cast<uint32_t>(i)));
  CHECK_CONSISTENT(heap);
  for (Block* block : refill) heap.release(block);
  for (Block* block : kept) heap.release(block);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(small_counters_add_up_and_agree_with_verify) {
  Heap heap;
  std::mt19937 rng(99);
  std::vector<Block*> live;
  uint64_t large_allocated = 0;
  auto check_arithmetic = [&] {
    const HeapStats s = heap.stats();
    uint64_t in_use = 0, pools = 0, small_bytes = 0;
    for (const SizeClassStats& row : s.size_classes) {
      CHECK(row.pools > 0);
      CHECK_EQ(row.blocks_in_use + row.blocks_free, row.pools * fit_in_pool(row.block_size));
      in_use += row.blocks_in_use;
      pools += row.pools;
      small_bytes += row.blocks_in_use * row.block_size;
    }
    CHECK_EQ(in_use + s.large_blocks, s.live_blocks);
    CHECK_EQ(s.live_blocks, uint64_t{live.size()});
    CHECK_EQ(pools, s.pools_used);
    CHECK_EQ(s.pools_used + s.pools_free, s.arenas_current * kPoolsPerArena);
    CHECK_EQ(s.mapped_bytes, s.arenas_current * kArenaSize + s.large_bytes);
    CHECK_EQ(s.allocated_bytes, small_bytes + large_allocated);
    CHECK_EQ(s.allocations - s.frees, s.live_blocks);
    CHECK_EQ(s.arenas_allocated_total - s.arenas_freed_total, s.arenas_current);
    CHECK(s.peak_mapped_bytes >= s.mapped_bytes);
    CHECK(s.arenas_peak >= s.arenas_current);
    uint64_t requested = 0, tracked = 0;
    for (Block* block : live) {
      requested += data_size(block) + 8 * slot_count(block);
      tracked += slot_count(block) != 0;
    }
    CHECK_EQ(s.requested_bytes, requested);
    CHECK_EQ(s.tracked_blocks, tracked);
    CHECK_CONSISTENT(heap);
  };
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 2000; i++) {
      const size_t data = rng() % 3 == 0 ? rng() % 2000 : rng() % 400;
      const size_t slots = rng() % 4;
      Block* block = must_alloc(heap, data, slots);
      if (is_large(block)) large_allocated += expected_block_bytes(data, slots);
      live.push_back(block);
    }
    std::shuffle(live.begin(), live.end(), rng);
    const size_t keep = live.size() / 3;
    while (live.size() > keep) {
      Block* block = live.back();
      live.pop_back();
      if (is_large(block)) large_allocated -= expected_block_bytes(data_size(block), slot_count(block));
      heap.release(block);
    }
    check_arithmetic();
  }
  for (Block* block : live) heap.release(block);
  live.clear();
  large_allocated = 0;
  check_arithmetic();
}

// resolve() checks "is this offset the start of a block" by multiplying with
// a reciprocal instead of dividing: it must agree with division everywhere.
TEST(small_reciprocal_matches_division_for_every_offset_and_class) {
  for (unsigned c = 0; c < kSizeClasses; c++) {
    const size_t size = class_block_size(c);
    const uint64_t reciprocal = class_reciprocal(size);
    for (uint64_t x = 0; x < kPoolSize; x++) {
      if (((x * reciprocal) >> 32) != x / size) {
        CHECK_EQ(((x * reciprocal) >> 32), x / size);
        return;
      }
    }
  }
}
