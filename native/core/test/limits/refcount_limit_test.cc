// The collector at the largest count, in a build where that count is 3
// (-DREFHEAP_MAX_REFCOUNT=3, see config.h and the Makefile), so that what
// needs 2^32 - 1 slots pointing at one block in a real build happens with
// three. A block at the largest count is a root of every collection: the
// collector never adds its holds or gc.garbage's counts to it, so no count
// wraps, and once a count is given back the cycle is collected.
#include "check.h"
#include "gc_recorder.h"
#include "heap.h"
#include "helpers.h"

using namespace refheap;
using namespace refheap::testing;

static_assert(kMaxRefcount == 3, "this file is built with -DREFHEAP_MAX_REFCOUNT=3");

namespace {

// hub <-> a, b, c: the hub is counted by three slots (the largest count),
// each spoke by the hub's slot. Nothing outside holds any of them.
struct Star {
  Block* hub;
  Block* spokes[3];
};

Star star(Heap& heap, uint32_t hub_type = 0) {
  Star s{node(heap, 3, hub_type), {}};
  for (int i = 0; i < 3; i++) {
    s.spokes[i] = node(heap);
    link(heap, s.hub, i, s.spokes[i]);
    if (i == 2) heap.release(s.hub);  // our count, before the third slot takes the last one
    link(heap, s.spokes[i], 0, s.hub);
    heap.release(s.spokes[i]);
  }
  return s;
}

}  // namespace

TEST(limit_retain_refuses_past_the_largest_count) {
  Heap heap;
  Block* b = node(heap);
  CHECK(heap.retain(b) == Status::kOk);
  CHECK(heap.retain(b) == Status::kOk);
  CHECK(heap.retain(b) == Status::kRefcountOverflow);
  CHECK_EQ(b->refcount, 3u);
  CHECK_CONSISTENT(heap);
}

TEST(limit_a_block_at_the_largest_count_is_a_root_until_a_count_goes) {
  Heap heap;
  heap.gc().enabled = false;
  Star s = star(heap);
  const double hub = heap.ref_of(s.hub);
  CHECK_EQ(s.hub->refcount, 3u);
  CHECK_EQ(heap.gc().collect(2), 0u);  // the hold on the hub would make it 4
  CHECK(alive(heap, hub));
  CHECK_EQ(s.hub->refcount, 3u);
  CHECK_CONSISTENT(heap);
  // One slot let go: an ordinary cycle of four, collected.
  link(heap, s.spokes[0], 0, nullptr);
  CHECK_EQ(heap.gc().collect(2), 4u);
  CHECK(!alive(heap, hub));
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

TEST(limit_an_uncollectable_block_at_the_largest_count_stays_out_of_garbage_whole) {
  Heap heap;
  heap.gc().enabled = false;
  const uint32_t legacy = new_type(heap, "Legacy", true, true);
  Star s = star(heap, legacy);
  CHECK_EQ(heap.gc().collect(2), 0u);  // gc.garbage's count would make it 4
  CHECK(heap.gc().garbage().empty());
  CHECK_EQ(heap.gc().garbage_count(), 0u);
  CHECK_EQ(s.hub->refcount, 3u);
  CHECK_CONSISTENT(heap);
  link(heap, s.spokes[0], 0, nullptr);
  CHECK_EQ(heap.gc().collect(2), 4u);  // now uncollectable, with the list's count
  CHECK_EQ(heap.gc().garbage_count(), 1u);
  CHECK(heap.gc().garbage().size() == 1 && heap.gc().garbage()[0] == s.hub);
  CHECK_EQ(s.hub->refcount, 3u);  // two spokes and the list
  CHECK_CONSISTENT(heap);
}

TEST(limit_saveall_skips_a_block_at_the_largest_count) {
  Heap heap;
  heap.gc().enabled = false;
  heap.gc().debug = debug_flags::kSaveAll;
  Star s = star(heap);
  CHECK_EQ(heap.gc().collect(2), 0u);
  CHECK_EQ(heap.gc().garbage_count(), 0u);
  link(heap, s.spokes[1], 0, nullptr);
  CHECK_EQ(heap.gc().collect(2), 4u);
  CHECK_EQ(heap.gc().garbage_count(), 4u);
  CHECK_EQ(s.hub->refcount, 3u);
  CHECK_CONSISTENT(heap);
  heap.gc().debug = 0;
  link(heap, s.hub, 0, nullptr);
  link(heap, s.hub, 1, nullptr);
  link(heap, s.hub, 2, nullptr);
  link(heap, s.spokes[0], 0, nullptr);
  link(heap, s.spokes[2], 0, nullptr);
  CHECK_EQ(heap.gc().clear_garbage(), 4u);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// A finalizer that counts an unreachable block up to the largest count:
// the collection looks again, and that block (and what it reaches) lives.
TEST(limit_a_finalizer_that_counts_a_block_to_the_largest_count) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  const uint32_t with_finalizer = new_type(heap, "F", true, false);
  Block* f = node(heap, 1, with_finalizer);
  Block* t = node(heap);
  link(heap, f, 0, t);
  link(heap, t, 0, f);
  heap.release(f);
  heap.release(t);
  int refused = 0;
  rec.on_finalize = [&](Block*) {
    while (heap.retain(t) == Status::kOk) {
    }
    refused++;
  };
  CHECK_EQ(heap.gc().collect(2), 0u);
  CHECK_EQ(refused, 1);
  CHECK_EQ(t->refcount, 3u);
  CHECK_CONSISTENT(heap);
  heap.release(t);
  heap.release(t);  // the finalizer's two counts given back: f's slot holds t
  CHECK_EQ(live(heap), 2u);
  link(heap, t, 0, nullptr);  // f goes by its count, and t with it
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}
