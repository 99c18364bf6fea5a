// debugMallocStats() walks the arenas (malloc_report.h) so that its total
// is a sum that can come out wrong. These tests show that it adds up on
// real heaps of every shape, that it prints what the CLI prints from the
// counters alone, and that each check fails when one thing in the heap or
// in the counters is broken on purpose.
#include <string>
#include <vector>

#include "check.h"
#include "heap.h"
#include "heap_test_access.h"
#include "helpers.h"
#include "malloc_report.h"

using namespace refheap;
using namespace refheap::testing;

namespace {

using A = HeapTestAccess;

void check_adds_up(const Heap& heap, int line) {
  const MallocReport walked = heap.malloc_report();
  const std::string problem = walked.problem();
  if (!problem.empty()) fail(__FILE__, line, "the walk does not add up: " + problem);
  // The CLI's report, from the counters of the statistics page, is the same text.
  const MallocReport counted = report_of(heap.stats());
  if (!counted.problem().empty()) fail(__FILE__, line, "the counters do not add up: " + counted.problem());
  if (format_report(walked) != format_report(counted)) {
    fail(__FILE__, line, "walked:\n" + format_report(walked) + "counted:\n" + format_report(counted));
  }
}

void check_problem(const MallocReport& report, const std::string& expected, int line) {
  const std::string found = report.problem();
  if (found.find(expected) == std::string::npos) {
    fail(__FILE__, line, "problem() should say \"" + expected + "\", it said \"" + found + "\"");
  }
}

#define CHECK_ADDS_UP(heap) check_adds_up((heap), __LINE__)
#define CHECK_PROBLEM(report, text) check_problem((report), (text), __LINE__)

Pool* pool_with_a_freed_block(Heap& heap, std::vector<Block*>& blocks) {
  for (int i = 0; i < 8; i++) blocks.push_back(must_alloc(heap, 24));
  heap.release(blocks[3]);
  blocks.erase(blocks.begin() + 3);
  return pool_of(blocks[0]);
}

void release_all(Heap& heap, std::vector<Block*>& blocks) {
  for (Block* block : blocks) heap.release(block);
  blocks.clear();
}

}  // namespace

TEST(malloc_report_adds_up_on_heaps_of_every_shape) {
  Heap heap;
  CHECK_ADDS_UP(heap);  // no arena at all
  std::vector<Block*> blocks;
  // Every size class, several pools of some, freed blocks in the middle of
  // pools, large blocks, and a second arena.
  for (uint64_t size = 1; block_bytes_needed(size, 0) <= kSmallLimit; size += 7) blocks.push_back(must_alloc(heap, size));
  CHECK_ADDS_UP(heap);
  for (int i = 0; i < 20000; i++) blocks.push_back(must_alloc(heap, 40 + (i % 5) * 8));
  for (size_t i = 0; i < blocks.size(); i += 3) heap.release(blocks[i]), blocks[i] = nullptr;
  blocks.push_back(must_alloc(heap, 5000));
  blocks.push_back(must_alloc(heap, 1 << 20));
  const MallocReport report = heap.malloc_report();
  CHECK(report.arenas_current >= 2);
  CHECK(report.unused_pools > 0);
  CHECK_EQ(report.large_blocks, 2u);
  CHECK_ADDS_UP(heap);
  for (Block* block : blocks) {
    if (block != nullptr) heap.release(block);
  }
  blocks.clear();
  CHECK_ADDS_UP(heap);  // the cached empty arena: all its pools unused
}

TEST(malloc_report_counts_each_byte_of_an_arena_once) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  const MallocReport r = heap.malloc_report();
  CHECK_EQ(r.arenas_current, 1u);
  CHECK_EQ(r.unused_pools, kPoolsPerArena - 1);
  CHECK_EQ(r.in_use_bytes, class_block_size(0));
  CHECK_EQ(r.header_bytes, kPoolHeaderSize);
  CHECK_EQ(r.in_use_bytes + r.available_bytes + r.quantization_bytes, kPoolSize - kPoolHeaderSize);
  CHECK_EQ(r.total(), kArenaSize);
  heap.release(block);
}

TEST(malloc_report_catches_a_pool_that_holds_other_than_its_header_says) {
  Heap heap;
  std::vector<Block*> blocks;
  Pool* pool = pool_with_a_freed_block(heap, blocks);
  CHECK_ADDS_UP(heap);
  // A free list cut short: the freed block is lost to the walk.
  Block* const list = pool->free_list;
  pool->free_list = nullptr;
  CHECK_PROBLEM(heap.malloc_report(), "free blocks of a class: ");
  // One that leaves the pool: reported, and not followed.
  pool->free_list = reinterpret_cast<Block*>(reinterpret_cast<char*>(pool) + kPoolSize);
  CHECK_PROBLEM(heap.malloc_report(), "a pool's free list leaves its carved blocks");
  pool->free_list = list;
  // A header that counts one block too many.
  pool->used_blocks++;
  CHECK_PROBLEM(heap.malloc_report(), "blocks in use of a class: 8 counted, 7 reported");
  pool->used_blocks--;
  CHECK_ADDS_UP(heap);
  release_all(heap, blocks);
}

TEST(malloc_report_catches_counters_that_disagree_with_the_walk) {
  Heap heap;
  std::vector<Block*> blocks;
  pool_with_a_freed_block(heap, blocks);
  blocks.push_back(must_alloc(heap, 5000));
  const unsigned c = size_class_of(pool_of(blocks[0])->block_size);
  uint64_t& in_use = A::class_counters(heap, c).blocks_in_use;
  in_use++;
  CHECK_PROBLEM(heap.malloc_report(), "blocks in use of a class: 7 counted, 8 reported");
  in_use--;
  A::pools_used(heap)++;
  CHECK_PROBLEM(heap.malloc_report(), "pools in use: 1 counted, 2 reported");
  A::pools_used(heap)--;
  A::large_count(heap)++;
  CHECK_PROBLEM(heap.malloc_report(), "large blocks: 1 counted, 2 reported");
  A::large_count(heap)--;
  A::large_bytes(heap) += 4096;
  CHECK_PROBLEM(heap.malloc_report(), "bytes of large blocks");
  A::large_bytes(heap) -= 4096;
  CHECK_ADDS_UP(heap);
  release_all(heap, blocks);
}

TEST(malloc_report_catches_lost_pools_and_mappings) {
  Heap heap;
  std::vector<Block*> blocks;
  // Two pools, one of them emptied onto its arena's free-pool list.
  for (int i = 0; i < 300; i++) blocks.push_back(must_alloc(heap, 480));
  Pool* last = pool_of(blocks.back());
  CHECK(last != pool_of(blocks.front()));
  while (pool_of(blocks.back()) == last) heap.release(blocks.back()), blocks.pop_back();
  Arena* arena = last->arena;
  CHECK(arena->free_pool_list != nullptr);
  CHECK_ADDS_UP(heap);
  // A pool that is neither free nor in use: its bytes are missing.
  Pool* const list = arena->free_pool_list;
  arena->free_pool_list = list->next;
  CHECK_PROBLEM(heap.malloc_report(), "bytes in the arenas: ");
  arena->free_pool_list = list;
  // A mapping that is neither an arena nor a large block.
  A::mapped_bytes(heap) += 4096;
  CHECK_PROBLEM(heap.malloc_report(), "bytes mapped: ");
  A::mapped_bytes(heap) -= 4096;
  CHECK_ADDS_UP(heap);
  release_all(heap, blocks);
}

TEST(malloc_report_of_counters_checks_the_page_it_was_given) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  HeapStats stats = heap.stats();
  CHECK(report_of(stats).problem().empty());
  HeapStats broken = stats;
  broken.pools_free++;
  CHECK_PROBLEM(report_of(broken), "bytes in the arenas: ");
  broken = stats;
  broken.pools_used++;
  CHECK_PROBLEM(report_of(broken), "pools in use: 1 counted, 2 reported");
  broken = stats;
  broken.size_classes[0].block_size = 9;  // no class has 9-byte blocks
  CHECK_PROBLEM(report_of(broken), "names no size class");
  broken = stats;
  broken.size_classes.push_back(stats.size_classes[0]);
  CHECK_PROBLEM(report_of(broken), "or one twice");
  broken = stats;
  broken.size_classes[0].blocks_free++;
  CHECK_PROBLEM(report_of(broken), "not what its pools hold");
  broken = stats;
  broken.mapped_bytes += 4096;
  CHECK_PROBLEM(report_of(broken), "bytes mapped: ");
  broken = stats;
  broken.arenas_freed_total++;
  CHECK_PROBLEM(report_of(broken), "arenas allocated minus arenas freed");
  broken = stats;
  broken.arenas_peak = 0;
  CHECK_PROBLEM(report_of(broken), "peak arenas");
  // Forged counts whose sums would wrap around to the arenas' size (review).
  broken = stats;
  broken.arenas_current = uint64_t{1} << 44;
  broken.pools_free = uint64_t{1} << 50;
  broken.mapped_bytes = 0;
  CHECK_PROBLEM(report_of(broken), "larger than the mapped bytes allow");
  broken = stats;
  broken.pools_free = uint64_t{1} << 63;
  CHECK_PROBLEM(report_of(broken), "larger than the mapped bytes allow");
  heap.release(block);
}
