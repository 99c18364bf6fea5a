#include <cstring>

#include "check.h"
#include "heap.h"

using namespace refheap;

TEST(alloc_gives_zeroed_block_with_one_count) {
  Heap heap;
  Block* block = nullptr;
  CHECK(heap.alloc(40, 3, 0, &block) == Status::kOk);
  CHECK_EQ(block->refcount, 1u);
  CHECK_EQ(slot_count(block), 3u);
  CHECK_EQ(data_size(block), size_t{40});
  for (size_t i = 0; i < 40; i++) CHECK_EQ(data_of(block)[i], 0);
  for (uint32_t i = 0; i < 3; i++) CHECK(slots_of(block)[i] == 0);
  CHECK(heap.resolve(heap.ref_of(block)) == block);
  CHECK_CONSISTENT(heap);
  heap.release(block);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(freed_ref_is_rejected) {
  Heap heap;
  Block* block = nullptr;
  CHECK(heap.alloc(8, 0, 0, &block) == Status::kOk);
  const double ref = heap.ref_of(block);
  heap.release(block);
  CHECK(heap.resolve(ref) == nullptr);
}

TEST(long_chain_frees_without_recursion) {
  // 10,000,000 links: a recursive free would need gigabytes of stack.
  const int links = 10000000;
  Heap heap;
  heap.gc().enabled = false;  // this test is about the free walk; collections only slow it down
  Block* head = nullptr;
  CHECK(heap.alloc(0, 1, 0, &head) == Status::kOk);
  Block* tail = head;
  for (int i = 0; i < links; i++) {
    Block* next = nullptr;
    if (heap.alloc(0, 1, 0, &next) != Status::kOk) {
      CHECK_EQ(i, links);  // the alloc failed at link i
      return;
    }
    CHECK(heap.set_ref(tail, 0, next) == Status::kOk);
    heap.release(next);
    tail = next;
  }
  const double tail_ref = heap.ref_of(tail);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{links + 1});
  CHECK_EQ(tail->refcount, 1u);
  heap.release(head);
  const HeapStats stats = heap.stats();
  CHECK_EQ(stats.live_blocks, uint64_t{0});
  CHECK_EQ(stats.tracked_blocks, uint64_t{0});
  CHECK_EQ(stats.frees, uint64_t{links + 1});
  CHECK(stats.mapped_bytes <= kArenaSize);  // every arena but the cached one unmapped
  CHECK(heap.resolve(tail_ref) == nullptr);
  CHECK_CONSISTENT(heap);
}
