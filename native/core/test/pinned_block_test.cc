// A view pins its block (Heap::add_view), and JavaScript may release the
// view's count itself: the block then waits at count 0 while slots may
// still point at it. Found by heap_ops_fuzz's chaos mode: such a block's
// count must never go below zero, and once it is counted again it is alive
// again, on a generation list.
#include "check.h"
#include "gc_recorder.h"

namespace refheap::testing {

TEST(pinned_block_is_not_released_below_zero_by_the_collector) {
  Heap heap;
  Block* x = node(heap, 2);
  link(heap, x, 0, x);
  link(heap, x, 1, x);                          // count 3
  CHECK(heap.add_view(x) == Status::kOk);       // count 4
  for (int i = 0; i < 4; i++) heap.release(x);  // count 0, pinned; both slots still point at it
  heap.gc().collect(2);                         // clearing the second slot released x at count 0
  CHECK_EQ(x->refcount, 0u);                    // was 4294967294
  heap.drop_view_later(x);
  { Heap::Operation call(heap); }
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

TEST(pinned_block_is_not_released_below_zero_by_set_ref) {
  Heap heap;
  Block* x = node(heap, 1);
  link(heap, x, 0, x);                                 // count 2
  CHECK(heap.add_view(x) == Status::kOk);              // 3
  for (int i = 0; i < 3; i++) heap.release(x);         // 0, pinned; slot 0 still points at x
  CHECK(heap.set_ref(x, 0, nullptr) == Status::kOk);   // releases x at count 0
  CHECK_EQ(x->refcount, 0u);                           // was 4294967295
  CHECK(heap.retain(x) == Status::kOk);                // a valid ref can be retained
  heap.release(x);
  heap.drop_view_later(x);
  { Heap::Operation call(heap); }
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

TEST(pinned_block_is_not_released_below_zero_by_a_free_cascade) {
  Heap heap;
  Block* a = node(heap, 1);
  Block* y = must_alloc(heap, 8);
  link(heap, a, 0, y);                          // y: 2
  CHECK(heap.add_view(y) == Status::kOk);       // 3
  for (int i = 0; i < 3; i++) heap.release(y);  // 0, pinned; a's slot still points at y
  heap.release(a);                              // a freed: its slot releases y at count 0
  CHECK_EQ(y->refcount, 0u);                    // was 4294967295
  heap.drop_view_later(y);
  { Heap::Operation call(heap); }
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

TEST(pinned_block_counted_again_is_tracked_again) {
  Heap heap;
  Block* b = node(heap, 1);
  CHECK(heap.add_view(b) == Status::kOk);  // count 2
  heap.release(b);
  heap.release(b);                         // the view's count released too: count 0, pinned
  heap.gc().collect(2);                    // leaves it allocated, at count 0, off the lists
  CHECK(heap.resolve(heap.ref_of(b)) == b);
  CHECK_CONSISTENT(heap);
  Block* a = node(heap, 1);
  link(heap, a, 0, b);                     // b is counted again...
  link(heap, b, 0, a);                     // ...and in a cycle with a
  CHECK_EQ(listed_in(heap, b), 0);         // was -1: on no list
  CHECK_CONSISTENT(heap);
  heap.release(a);
  heap.drop_view_later(b);
  { Heap::Operation call(heap); }          // the view goes: b's count is a's slot
  heap.gc().collect(2);
  CHECK_EQ(live(heap), 0u);                // was 2: the cycle was never seen
  CHECK_CONSISTENT(heap);
}

}  // namespace refheap::testing
