// Faults (section 8): a mapping the OS refuses, the heap's maxBytes limit,
// and the pressure handler that runs before the limit is enforced. After
// every refusal the heap must be exactly as before and still usable.
#include <algorithm>
#include <vector>

#include "check.h"
#include "heap.h"
#include "helpers.h"

using namespace refheap;
using namespace refheap::testing;

namespace {

size_t blocks_per_arena_512() { return kPoolsPerArena * ((kPoolSize - kPoolHeaderSize) / 512); }

// Fills whole arenas with 512-byte blocks, each stamped with its index.
std::vector<Block*> fill_arenas(Heap& heap, size_t arenas) {
  std::vector<Block*> blocks;
  for (size_t i = 0; i < arenas * blocks_per_arena_512(); i++) {
    blocks.push_back(must_alloc(heap, 504));
    stamp_pattern(blocks.back(), static_cast<uint32_t>(i));
  }
  return blocks;
}

bool patterns_intact(const std::vector<Block*>& blocks) {
  for (size_t i = 0; i < blocks.size(); i++) {
    if (blocks[i] != nullptr && !check_pattern(blocks[i], static_cast<uint32_t>(i))) return false;
  }
  return true;
}

// An allocation that must be refused with `expected`, leaving the heap as it was.
void check_refused(Heap& heap, uint64_t size, uint64_t slots, Status expected, int line) {
  const HeapStats before = heap.stats();
  Block* block = reinterpret_cast<Block*>(&heap);
  const Status status = heap.alloc(size, slots, 0, &block);
  if (status != expected) {
    fail(__FILE__, line, "alloc(" + std::to_string(size) + ") gave status " + std::to_string(static_cast<int>(status)));
  }
  if (block != reinterpret_cast<Block*>(&heap)) fail(__FILE__, line, "a refused alloc wrote its result");
  const std::string difference = stats_difference(heap.stats(), before);
  if (!difference.empty()) fail(__FILE__, line, "a refused alloc changed the stats: " + difference);
  const std::string problem = heap.verify();
  if (!problem.empty()) fail(__FILE__, line, problem);
}

#define CHECK_REFUSED(heap, size, slots, status) check_refused((heap), (size), (slots), (status), __LINE__)

// An allocation the test is about: a failure is reported, not fatal.
Block* alloc_or_report(Heap& heap, uint64_t size, int line) {
  Block* block = nullptr;
  const Status status = heap.alloc(size, 0, 0, &block);
  if (status != Status::kOk) {
    fail(__FILE__, line, "alloc(" + std::to_string(size) + ") gave status " + std::to_string(static_cast<int>(status)));
    return nullptr;
  }
  return block;
}

struct PressureLog {
  Heap* heap = nullptr;
  int calls = 0;
  std::vector<Block*> to_release;  // released by the handler, then forgotten
};

void on_pressure(void* context) {
  auto* log = static_cast<PressureLog*>(context);
  log->calls++;
  for (Block* block : log->to_release) log->heap->release(block);
  log->to_release.clear();
}

}  // namespace

TEST(faults_failed_first_arena_mapping_changes_nothing) {
  Heap heap;
  heap.pages().os().fail_nth_mapping(1);
  CHECK_REFUSED(heap, 24, 0, Status::kOsMemory);
  CHECK_EQ(heap.stats().arenas_current, uint64_t{0});
  CHECK_EQ(heap.stats().mapped_bytes, uint64_t{0});
  Block* block = must_alloc(heap, 24);  // the fault was used up
  CHECK_EQ(heap.stats().arenas_current, uint64_t{1});
  CHECK(heap.resolve(heap.ref_of(block)) == block);
  heap.release(block);
  CHECK_CONSISTENT(heap);
}

TEST(faults_failed_arena_mapping_keeps_every_block) {
  Heap heap;
  std::vector<Block*> blocks = fill_arenas(heap, 1);  // every pool in use: the next pool needs an arena
  Block* slotted = must_alloc(heap, 100, 2);
  CHECK(heap.set_ref(slotted, 1, blocks[5]) == Status::kOk);
  CHECK_EQ(heap.stats().arenas_current, uint64_t{2});
  // Fill the second arena's other pools too: then any class without a
  // usable pool needs a third arena.
  std::vector<Block*> more;
  while (heap.stats().arenas_current == 2 && heap.stats().pools_free > 0) more.push_back(must_alloc(heap, 200));
  CHECK_EQ(heap.stats().pools_free, uint64_t{0});
  heap.pages().os().fail_nth_mapping(1);
  CHECK_REFUSED(heap, 8, 0, Status::kOsMemory);
  heap.pages().os().fail_nth_mapping(1);
  CHECK_REFUSED(heap, 480, 2, Status::kOsMemory);  // a 512-byte block: that class's pools are all full
  CHECK(patterns_intact(blocks));
  Block* got = nullptr;
  CHECK(heap.get_ref(slotted, 1, &got) == Status::kOk && got == blocks[5]);
  CHECK_EQ(blocks[5]->refcount, 2u);
  // The next mapping works again.
  Block* small = must_alloc(heap, 8);
  CHECK_EQ(heap.stats().arenas_current, uint64_t{3});
  CHECK(heap.resolve(heap.ref_of(small)) == small);
  heap.release(small);
  heap.release(slotted);
  for (Block* block : more) heap.release(block);
  for (Block* block : blocks) heap.release(block);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(faults_failed_large_mappings_change_nothing) {
  Heap heap;
  Block* small = must_alloc(heap, 40);
  Block* large = must_alloc(heap, 20000, 2);
  stamp_pattern(small, 1);
  stamp_pattern(large, 2);
  heap.pages().os().fail_nth_mapping(1);
  CHECK_REFUSED(heap, 100000, 4, Status::kOsMemory);
  Block* again = must_alloc(heap, 100000, 4);
  CHECK(check_pattern(small, 1) && check_pattern(large, 2));
  // The countdown counts mappings only: small blocks from an existing pool
  // do not move it.
  heap.pages().os().fail_nth_mapping(3);
  Block* first = must_alloc(heap, 5000);    // mapping 1
  Block* from_pool = must_alloc(heap, 40);  // no mapping
  Block* second = must_alloc(heap, 5000);   // mapping 2
  CHECK_REFUSED(heap, 5000, 0, Status::kOsMemory);  // mapping 3
  Block* third = must_alloc(heap, 5000);
  // 0 disarms.
  heap.pages().os().fail_nth_mapping(1);
  heap.pages().os().fail_nth_mapping(0);
  Block* fourth = must_alloc(heap, 5000);
  for (Block* block : {small, large, again, first, from_pool, second, third, fourth}) heap.release(block);
  CHECK_EQ(heap.stats().large_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(faults_heap_limit_refuses_small_and_large_requests) {
  Heap heap(2 * kArenaSize);
  CHECK_EQ(heap.pages().max_bytes(), 2 * kArenaSize);
  std::vector<Block*> blocks = fill_arenas(heap, 2);
  CHECK_EQ(heap.stats().mapped_bytes, 2 * kArenaSize);
  CHECK_REFUSED(heap, 504, 0, Status::kHeapLimit);
  CHECK_REFUSED(heap, 8, 0, Status::kHeapLimit);
  CHECK_REFUSED(heap, 1000, 0, Status::kHeapLimit);
  CHECK(patterns_intact(blocks));
  // Freeing one pool's blocks makes room for any class.
  const uintptr_t pool = pool_base_of(blocks[0]);
  for (Block*& block : blocks) {
    if (pool_base_of(block) == pool) {
      heap.release(block);
      block = nullptr;
    }
  }
  Block* small = must_alloc(heap, 8);
  CHECK_EQ(pool_base_of(small), pool);
  CHECK_EQ(heap.stats().mapped_bytes, 2 * kArenaSize);
  CHECK(patterns_intact(blocks));
  heap.release(small);
  for (Block* block : blocks) {
    if (block != nullptr) heap.release(block);
  }
  CHECK_CONSISTENT(heap);
}

TEST(faults_heap_limit_counts_every_mapped_byte) {
  const size_t page = OsPages::page_size();
  Heap heap(4 * page);
  CHECK_REFUSED(heap, 8, 0, Status::kHeapLimit);  // an arena is far more than 4 pages
  Block* three_pages = must_alloc(heap, 2 * page);
  CHECK_EQ(heap.stats().mapped_bytes, 3 * page);
  CHECK_REFUSED(heap, 2 * page, 0, Status::kHeapLimit);
  Block* one_page = must_alloc(heap, 1000);  // exactly up to the limit
  CHECK_EQ(heap.stats().mapped_bytes, 4 * page);
  CHECK_REFUSED(heap, 600, 0, Status::kHeapLimit);
  heap.release(three_pages);
  Block* again = must_alloc(heap, 2 * page);
  heap.release(again);
  heap.release(one_page);
  CHECK_EQ(heap.stats().mapped_bytes, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(faults_heap_limit_does_not_count_the_empty_cached_arena_against_a_request) {
  // Everything freed: the heap holds nothing, so a request that fits the
  // limit on its own must succeed even though an empty arena is cached.
  Heap heap(2 * kArenaSize);
  Block* small = must_alloc(heap, 8);
  heap.release(small);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  Block* large = alloc_or_report(heap, kArenaSize + kArenaSize / 2, __LINE__);
  if (large == nullptr) return;
  CHECK(heap.stats().mapped_bytes <= 2 * kArenaSize);
  heap.release(large);
  small = must_alloc(heap, 8);  // and small blocks still work after
  heap.release(small);
  CHECK_CONSISTENT(heap);
}

TEST(faults_pressure_handler_runs_once_before_heap_limit) {
  Heap heap(kArenaSize);
  PressureLog log;
  log.heap = &heap;
  heap.pages().set_pressure_handler(on_pressure, &log);
  Block* block = must_alloc(heap, 100);  // fits: no pressure
  CHECK_EQ(log.calls, 0);
  CHECK_REFUSED(heap, 2000, 0, Status::kHeapLimit);
  CHECK_EQ(log.calls, 1);
  CHECK_REFUSED(heap, 2000, 0, Status::kHeapLimit);
  CHECK_EQ(log.calls, 2);
  // An OS failure is not pressure.
  heap.pages().os().fail_nth_mapping(1);
  heap.release(block);
  heap.trim();
  CHECK_REFUSED(heap, 2000, 0, Status::kOsMemory);
  CHECK_EQ(log.calls, 2);
  heap.pages().set_pressure_handler(nullptr, nullptr);
  CHECK_CONSISTENT(heap);
}

TEST(faults_pressure_handler_that_frees_a_large_block_lets_alloc_succeed) {
  Heap heap(kArenaSize);
  PressureLog log;
  log.heap = &heap;
  heap.pages().set_pressure_handler(on_pressure, &log);
  Block* big = must_alloc(heap, kArenaSize / 2);
  const double big_ref = heap.ref_of(big);
  log.to_release.push_back(big);
  Block* other = must_alloc(heap, kArenaSize / 2 + kArenaSize / 4);
  CHECK_EQ(log.calls, 1);
  CHECK(heap.resolve(big_ref) == nullptr);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{1});
  heap.release(other);
  CHECK_CONSISTENT(heap);
}

// The handler frees a whole arena's blocks: the request is served although
// the arena they leave empty was still mapped when the limit was hit.
TEST(faults_pressure_handler_that_empties_an_arena_lets_alloc_succeed) {
  Heap heap(kArenaSize);
  PressureLog log;
  log.heap = &heap;
  heap.pages().set_pressure_handler(on_pressure, &log);
  log.to_release = fill_arenas(heap, 1);
  Block* block = alloc_or_report(heap, 8, __LINE__);
  CHECK_EQ(log.calls, 1);
  if (block == nullptr) return;
  CHECK_EQ(heap.stats().live_blocks, uint64_t{1});
  CHECK(heap.stats().mapped_bytes <= kArenaSize);
  heap.release(block);
  CHECK_CONSISTENT(heap);
}

// The handler frees one pool's blocks: that pool serves another class.
TEST(faults_pressure_handler_that_empties_a_pool_lets_alloc_succeed) {
  Heap heap(kArenaSize);
  PressureLog log;
  log.heap = &heap;
  heap.pages().set_pressure_handler(on_pressure, &log);
  std::vector<Block*> blocks = fill_arenas(heap, 1);
  const uintptr_t pool = pool_base_of(blocks.back());
  std::vector<Block*> kept;
  for (Block* block : blocks) (pool_base_of(block) == pool ? log.to_release : kept).push_back(block);
  Block* block = alloc_or_report(heap, 8, __LINE__);
  CHECK_EQ(log.calls, 1);
  if (block != nullptr) {
    CHECK_EQ(pool_base_of(block), pool);
    heap.release(block);
  }
  for (Block* b : kept) heap.release(b);
  CHECK_CONSISTENT(heap);
}

// The handler frees a few blocks of the very class asked for: one of them
// is handed out.
TEST(faults_pressure_handler_that_frees_blocks_of_the_same_class_lets_alloc_succeed) {
  Heap heap(kArenaSize);
  PressureLog log;
  log.heap = &heap;
  heap.pages().set_pressure_handler(on_pressure, &log);
  std::vector<Block*> blocks = fill_arenas(heap, 1);
  std::vector<Block*> kept;
  for (size_t i = 0; i < blocks.size(); i++) (i % 500 == 7 ? log.to_release : kept).push_back(blocks[i]);
  std::vector<uintptr_t> freed;
  for (Block* b : log.to_release) freed.push_back(address_of(b));
  Block* block = alloc_or_report(heap, 504, __LINE__);
  CHECK_EQ(log.calls, 1);
  if (block != nullptr) {
    CHECK(std::find(freed.begin(), freed.end(), address_of(block)) != freed.end());
    heap.release(block);
  }
  for (Block* b : kept) heap.release(b);
  CHECK_CONSISTENT(heap);
}

// The handler frees everything and the request is large.
TEST(faults_pressure_handler_that_frees_everything_lets_a_large_alloc_succeed) {
  Heap heap(2 * kArenaSize);
  PressureLog log;
  log.heap = &heap;
  heap.pages().set_pressure_handler(on_pressure, &log);
  log.to_release = fill_arenas(heap, 2);
  Block* block = alloc_or_report(heap, kArenaSize + kArenaSize / 2, __LINE__);
  CHECK_EQ(log.calls, 1);
  if (block == nullptr) return;
  CHECK_EQ(heap.stats().live_blocks, uint64_t{1});
  CHECK_EQ(heap.stats().arenas_current, uint64_t{0});
  heap.release(block);
  CHECK_CONSISTENT(heap);
}
