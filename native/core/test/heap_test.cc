// The heap: counts, slots, ranges, types, request limits, freeing graphs of
// every shape, and the statistics of section 7.
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "heap.h"
#include "helpers.h"

using namespace refheap;
using namespace refheap::testing;

TEST(heap_retain_and_release_keep_exact_counts) {
  Heap heap;
  Block* block = must_alloc(heap, 16, 1);
  const double ref = heap.ref_of(block);
  for (uint32_t i = 2; i <= 1000; i++) {
    CHECK(heap.retain(block) == Status::kOk);
    CHECK_EQ(block->refcount, i);
  }
  for (uint32_t i = 999; i >= 1; i--) {
    heap.release(block);
    CHECK_EQ(block->refcount, i);
    CHECK(heap.resolve(ref) == block);
  }
  CHECK_EQ(heap.stats().live_blocks, uint64_t{1});
  heap.release(block);
  CHECK(heap.resolve(ref) == nullptr);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(heap_refcount_overflow_is_refused_and_changes_nothing) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  Block* holder = must_alloc(heap, 0, 2);
  Block* occupant = must_alloc(heap, 0);
  CHECK(heap.set_ref(holder, 1, occupant) == Status::kOk);
  block->refcount = UINT32_MAX - 1;  // four billion retains would take too long
  CHECK(heap.retain(block) == Status::kOk);
  CHECK_EQ(block->refcount, UINT32_MAX);
  CHECK(heap.retain(block) == Status::kRefcountOverflow);
  CHECK_EQ(block->refcount, UINT32_MAX);
  // Storing it in a slot needs a count too: refused, the slot keeps its occupant.
  CHECK(heap.set_ref(holder, 1, block) == Status::kRefcountOverflow);
  Block* got = nullptr;
  CHECK(heap.get_ref(holder, 1, &got) == Status::kOk);
  CHECK(got == occupant);
  CHECK_EQ(occupant->refcount, 2u);
  CHECK_EQ(block->refcount, UINT32_MAX);
  heap.release(block);
  CHECK_EQ(block->refcount, UINT32_MAX - 1);
  CHECK(heap.set_ref(holder, 0, block) == Status::kOk);
  CHECK_EQ(block->refcount, UINT32_MAX);
  block->refcount = 2;
  heap.release(block);
  heap.release(occupant);
  heap.release(holder);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(heap_set_ref_and_get_ref) {
  Heap heap;
  Block* holder = must_alloc(heap, 8, 3);
  Block* plain = must_alloc(heap, 8);
  Block* a = must_alloc(heap, 8);
  Block* b = must_alloc(heap, 900);
  Block* out = reinterpret_cast<Block*>(&heap);  // a value get_ref must overwrite or leave alone
  for (uint64_t slot : {uint64_t{3}, uint64_t{4}, uint64_t{1} << 32, UINT64_MAX}) {
    CHECK(heap.set_ref(holder, slot, a) == Status::kOutOfRange);
    CHECK(heap.get_ref(holder, slot, &out) == Status::kOutOfRange);
  }
  CHECK(heap.set_ref(plain, 0, a) == Status::kOutOfRange);
  CHECK(heap.get_ref(plain, 0, &out) == Status::kOutOfRange);
  CHECK(out == reinterpret_cast<Block*>(&heap));
  CHECK_EQ(a->refcount, 1u);
  for (uint64_t slot = 0; slot < 3; slot++) {
    CHECK(heap.get_ref(holder, slot, &out) == Status::kOk);
    CHECK(out == nullptr);
  }
  CHECK(heap.set_ref(holder, 0, a) == Status::kOk);
  CHECK(heap.set_ref(holder, 2, a) == Status::kOk);
  CHECK(heap.set_ref(holder, 1, b) == Status::kOk);
  CHECK_EQ(a->refcount, 3u);
  CHECK_EQ(b->refcount, 2u);
  CHECK(heap.get_ref(holder, 2, &out) == Status::kOk && out == a);
  CHECK(heap.get_ref(holder, 1, &out) == Status::kOk && out == b);
  // Storing the same target again changes no count.
  CHECK(heap.set_ref(holder, 1, b) == Status::kOk);
  CHECK_EQ(b->refcount, 2u);
  // Replacing an occupant releases it; the last count frees it.
  const double b_ref = heap.ref_of(b);
  heap.release(b);
  CHECK(heap.set_ref(holder, 1, a) == Status::kOk);
  CHECK(heap.resolve(b_ref) == nullptr);
  CHECK_EQ(a->refcount, 4u);
  CHECK(heap.set_ref(holder, 0, nullptr) == Status::kOk);
  CHECK_EQ(a->refcount, 3u);
  CHECK(heap.set_ref(holder, 0, nullptr) == Status::kOk);  // null over null
  CHECK_EQ(a->refcount, 3u);
  CHECK_CONSISTENT(heap);
  heap.release(holder);
  CHECK_EQ(a->refcount, 1u);
  heap.release(a);
  heap.release(plain);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(heap_clearing_a_slot_can_free_the_block_itself) {
  Heap heap;
  // a <-> b, then the caller's count on a is given up: a lives through b only.
  Block* a = must_alloc(heap, 8, 1);
  Block* b = must_alloc(heap, 8, 1);
  CHECK(heap.set_ref(a, 0, b) == Status::kOk);
  CHECK(heap.set_ref(b, 0, a) == Status::kOk);
  const double a_ref = heap.ref_of(a);
  const double b_ref = heap.ref_of(b);
  heap.release(b);
  heap.release(a);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{2});
  CHECK_EQ(a->refcount, 1u);
  // Clearing a's slot releases b, whose slot held a's last count.
  CHECK(heap.set_ref(a, 0, nullptr) == Status::kOk);
  CHECK(heap.resolve(a_ref) == nullptr);
  CHECK(heap.resolve(b_ref) == nullptr);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);

  // The same through replacement rather than null.
  Block* c = must_alloc(heap, 8, 1);
  Block* d = must_alloc(heap, 8, 1);
  Block* e = must_alloc(heap, 8);
  CHECK(heap.set_ref(c, 0, d) == Status::kOk);
  CHECK(heap.set_ref(d, 0, c) == Status::kOk);
  heap.release(d);
  heap.release(c);
  CHECK(heap.set_ref(c, 0, e) == Status::kOk);  // frees d, then c, then c's count on e
  CHECK_EQ(e->refcount, 1u);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{1});
  heap.release(e);
  CHECK_CONSISTENT(heap);
}

TEST(heap_self_cycle) {
  Heap heap;
  Block* a = must_alloc(heap, 8, 2);
  const double ref = heap.ref_of(a);
  CHECK(heap.set_ref(a, 1, a) == Status::kOk);
  CHECK_EQ(a->refcount, 2u);
  heap.release(a);
  CHECK_EQ(a->refcount, 1u);
  CHECK(heap.resolve(ref) == a);  // kept alive by itself: the collector's job
  CHECK_CONSISTENT(heap);
  CHECK(heap.set_ref(a, 1, nullptr) == Status::kOk);  // its own last count
  CHECK(heap.resolve(ref) == nullptr);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);

  // Replacing the self-reference with another block: the block dies, and
  // its slot gives back the count just taken on the new occupant.
  Block* c = must_alloc(heap, 8, 2);
  Block* d = must_alloc(heap, 8);
  CHECK(heap.set_ref(c, 0, c) == Status::kOk);
  heap.release(c);
  const double c_ref = heap.ref_of(c);
  CHECK(heap.set_ref(c, 0, d) == Status::kOk);
  CHECK(heap.resolve(c_ref) == nullptr);
  CHECK_EQ(d->refcount, 1u);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{1});
  heap.release(d);
  CHECK_CONSISTENT(heap);
}

TEST(heap_check_range_edges) {
  Heap heap;
  Block* ten = must_alloc(heap, 10);
  Block* empty = must_alloc(heap, 0, 2);
  Block* large = must_alloc(heap, 70000, 1);
  struct Case {
    Block* block;
    uint64_t offset, length;
    bool ok;
  };
  const Case cases[] = {
      {ten, 0, 10, true},           {ten, 10, 0, true},          {ten, 9, 1, true},
      {ten, 0, 0, true},            {ten, 0, 11, false},         {ten, 11, 0, false},
      {ten, 5, 6, false},           {ten, 10, 1, false},         {ten, UINT64_MAX, 1, false},
      {ten, 1, UINT64_MAX, false},  {ten, UINT64_MAX, UINT64_MAX, false},
      {empty, 0, 0, true},          {empty, 0, 1, false},        {empty, 1, 0, false},
      {large, 0, 70000, true},      {large, 69999, 1, true},     {large, 70000, 0, true},
      {large, 70000, 1, false},     {large, 0, 70001, false},    {large, 1, UINT64_MAX, false},
  };
  for (const Case& c : cases) {
    CHECK((heap.check_range(c.block, c.offset, c.length) == Status::kOk) == c.ok);
  }
  // Small blocks round up to their class: the padding is not data.
  CHECK_EQ(pool_of(ten)->block_size, 32);
  CHECK(heap.check_range(ten, 0, 24) == Status::kOutOfRange);
  for (Block* block : {ten, empty, large}) heap.release(block);
}

TEST(heap_types_are_defined_up_to_the_limit) {
  Heap heap;
  CHECK(heap.type_name(0) != nullptr && *heap.type_name(0) == "block");
  CHECK(heap.type_name(1) == nullptr);
  Block* block = nullptr;
  CHECK(heap.alloc(8, 0, 1, &block) == Status::kOutOfRange);  // not defined yet
  for (uint32_t i = 1; i < kMaxTypes; i++) {
    uint32_t id = 0;
    CHECK(heap.define_type("T" + std::to_string(i), false, false, &id) == Status::kOk);
    CHECK_EQ(id, i);
  }
  uint32_t id = 12345;
  CHECK(heap.define_type("one too many", false, false, &id) == Status::kOutOfRange);
  CHECK_EQ(id, 12345u);
  CHECK(heap.type_name(kMaxTypes - 1) != nullptr && *heap.type_name(kMaxTypes - 1) == "T255");
  CHECK(heap.type_name(kMaxTypes) == nullptr);
  CHECK(heap.type_name(UINT64_MAX) == nullptr);
  Block* last = must_alloc(heap, 8, 1, kMaxTypes - 1);
  Block* big = must_alloc(heap, 5000, 0, 7);
  CHECK_EQ(last->type, kMaxTypes - 1);
  CHECK_EQ(big->type, 7);
  CHECK(heap.alloc(8, 0, kMaxTypes, &block) == Status::kOutOfRange);
  CHECK(heap.alloc(8, 0, uint64_t{1} << 40, &block) == Status::kOutOfRange);
  // Another heap has only the built-in type.
  Heap other;
  CHECK(other.type_name(1) == nullptr);
  heap.release(last);
  heap.release(big);
}

TEST(heap_alloc_rejects_requests_out_of_range_and_changes_nothing) {
  Heap heap;
  Block* keep = must_alloc(heap, 100, 1);
  const HeapStats before = heap.stats();
  Block* block = reinterpret_cast<Block*>(&heap);
  CHECK(heap.alloc(kMaxDataBytes + 1, 0, 0, &block) == Status::kOutOfRange);
  CHECK(heap.alloc(0, kMaxSlots + 1, 0, &block) == Status::kOutOfRange);
  CHECK(heap.alloc(UINT64_MAX, 0, 0, &block) == Status::kOutOfRange);
  CHECK(heap.alloc(0, UINT64_MAX, 0, &block) == Status::kOutOfRange);
  CHECK(heap.alloc(uint64_t{1} << 63, uint64_t{1} << 63, 0, &block) == Status::kOutOfRange);
  CHECK(block == reinterpret_cast<Block*>(&heap));
  CHECK_STATS_EQUAL(heap.stats(), before);
  CHECK_CONSISTENT(heap);
  heap.release(keep);
}

TEST(heap_alloc_accepts_the_largest_requests) {
  Heap heap;
  Block* biggest = must_alloc(heap, kMaxDataBytes);
  CHECK(is_large(biggest));
  CHECK_EQ(data_size(biggest), kMaxDataBytes);
  CHECK(heap.check_range(biggest, kMaxDataBytes - 1, 1) == Status::kOk);
  data_of(biggest)[0] = 1;
  data_of(biggest)[kMaxDataBytes - 1] = 2;  // the last byte is really there
  CHECK_EQ(data_of(biggest)[kMaxDataBytes - 1], 2);
  CHECK(heap.stats().mapped_bytes >= kMaxDataBytes);
  heap.release(biggest);

  Block* widest = must_alloc(heap, 3, kMaxSlots);
  CHECK_EQ(slot_count(widest), kMaxSlots);
  Block* child = must_alloc(heap, 0);
  CHECK(heap.set_ref(widest, kMaxSlots - 1, child) == Status::kOk);
  CHECK(heap.set_ref(widest, kMaxSlots, child) == Status::kOutOfRange);
  Block* got = nullptr;
  CHECK(heap.get_ref(widest, kMaxSlots / 2, &got) == Status::kOk && got == nullptr);
  heap.release(child);
  heap.release(widest);  // releases 2^24 slots, one of them the child
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_EQ(heap.stats().large_bytes, uint64_t{0});
  CHECK_EQ(heap.stats().mapped_bytes, kArenaSize);  // the child's arena, cached
  CHECK_CONSISTENT(heap);
}

TEST(heap_wide_tree_frees_completely) {
  Heap heap;
  const uint32_t width = 100000;
  Block* root = must_alloc(heap, 0, width);
  for (uint32_t i = 0; i < width; i++) {
    Block* node = must_alloc(heap, 4, 3);
    CHECK(heap.set_ref(root, i, node) == Status::kOk);
    heap.release(node);
    for (uint32_t s = 0; s < 3; s += 2) {  // slots 0 and 2 hold leaves, 1 stays empty
      Block* leaf = must_alloc(heap, i % 100 == 0 ? 600 + s : (i + s) % 480);
      CHECK(heap.set_ref(node, s, leaf) == Status::kOk);
      heap.release(leaf);
    }
  }
  HeapStats stats = heap.stats();
  CHECK_EQ(stats.live_blocks, uint64_t{1 + 4 * width} - width);
  CHECK_EQ(stats.tracked_blocks, uint64_t{1 + width});
  CHECK_CONSISTENT(heap);
  heap.release(root);
  stats = heap.stats();
  CHECK_EQ(stats.live_blocks, uint64_t{0});
  CHECK_EQ(stats.tracked_blocks, uint64_t{0});
  CHECK_EQ(stats.allocated_bytes, uint64_t{0});
  CHECK_EQ(stats.requested_bytes, uint64_t{0});
  CHECK_EQ(stats.large_blocks, uint64_t{0});
  CHECK(stats.mapped_bytes <= kArenaSize);  // at most the cached arena
  CHECK_CONSISTENT(heap);
}

TEST(heap_deep_comb_frees_in_constant_stack) {
  // Each node: [leaf, next, leaf], so the walk goes down through the middle
  // slot and must come back up to release slot 0 of every node.
  Heap heap;
  Block* head = must_alloc(heap, 0, 3);
  Block* node = head;
  const int depth = 1000000;
  for (int i = 0; i < depth; i++) {
    Block* next = must_alloc(heap, 0, 3);
    Block* left = must_alloc(heap, 8);
    Block* right = must_alloc(heap, i % 1000 == 0 ? 700 : 40);  // now and then a large one
    CHECK(heap.set_ref(node, 1, next) == Status::kOk);
    CHECK(heap.set_ref(node, 0, left) == Status::kOk);
    CHECK(heap.set_ref(node, 2, right) == Status::kOk);
    heap.release(next);
    heap.release(left);
    heap.release(right);
    node = next;
  }
  CHECK_EQ(heap.stats().live_blocks, uint64_t{1 + 3 * uint64_t{depth}});
  heap.release(head);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_EQ(heap.stats().frees, heap.stats().allocations);
  CHECK_CONSISTENT(heap);
}

TEST(heap_diamonds_count_shared_children_once_per_slot) {
  Heap heap;
  //      top
  //     /    \       (top also points at bottom directly, twice)
  //  left    right
  //     \    /
  //     bottom
  Block* top = must_alloc(heap, 8, 4);
  Block* left = must_alloc(heap, 8, 1);
  Block* right = must_alloc(heap, 8, 1);
  Block* bottom = must_alloc(heap, 8);
  CHECK(heap.set_ref(top, 0, left) == Status::kOk);
  CHECK(heap.set_ref(top, 1, right) == Status::kOk);
  CHECK(heap.set_ref(top, 2, bottom) == Status::kOk);
  CHECK(heap.set_ref(top, 3, bottom) == Status::kOk);
  CHECK(heap.set_ref(left, 0, bottom) == Status::kOk);
  CHECK(heap.set_ref(right, 0, bottom) == Status::kOk);
  heap.release(left);
  heap.release(right);
  CHECK_EQ(bottom->refcount, 5u);
  heap.retain(right);  // kept by the caller past top
  const double refs[] = {heap.ref_of(top), heap.ref_of(left), heap.ref_of(right), heap.ref_of(bottom)};
  heap.release(top);
  CHECK(heap.resolve(refs[0]) == nullptr);
  CHECK(heap.resolve(refs[1]) == nullptr);
  CHECK(heap.resolve(refs[2]) == right);
  CHECK(heap.resolve(refs[3]) == bottom);
  CHECK_EQ(right->refcount, 1u);
  CHECK_EQ(bottom->refcount, 2u);  // right's slot and the caller's
  heap.release(bottom);
  CHECK_EQ(bottom->refcount, 1u);
  CHECK_CONSISTENT(heap);
  heap.release(right);
  CHECK(heap.resolve(refs[2]) == nullptr);
  CHECK(heap.resolve(refs[3]) == nullptr);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});

  // A lattice of diamonds: row r node i points at row r+1 nodes i and i+1.
  const int rows = 300;
  std::vector<std::vector<Block*>> lattice(rows);
  for (int r = rows - 1; r >= 0; r--) {
    for (int i = 0; i <= r; i++) {
      Block* node = must_alloc(heap, 0, r == rows - 1 ? 0 : 2);
      if (r < rows - 1) {
        CHECK(heap.set_ref(node, 0, lattice[r + 1][i]) == Status::kOk);
        CHECK(heap.set_ref(node, 1, lattice[r + 1][i + 1]) == Status::kOk);
      }
      lattice[r].push_back(node);
    }
  }
  for (int r = 1; r < rows; r++) {
    for (Block* node : lattice[r]) heap.release(node);
  }
  for (int r = 1; r < rows; r++) {
    for (int i = 0; i <= r; i++) {
      const uint32_t parents = (i > 0 && i < r) ? 2 : 1;
      if (lattice[r][i]->refcount != parents) CHECK_EQ(lattice[r][i]->refcount, parents);
    }
  }
  CHECK_CONSISTENT(heap);
  heap.release(lattice[0][0]);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(heap_stats_count_blocks_and_bytes) {
  Heap heap;
  HeapStats s = heap.stats();
  CHECK_EQ(s.mapped_bytes, uint64_t{0});
  CHECK_EQ(s.live_blocks, uint64_t{0});
  CHECK(s.size_classes.empty());
  Block* a = must_alloc(heap, 10);        // 8 + 10 -> a 32-byte block
  Block* b = must_alloc(heap, 10, 2);     // 16 + 16 + 10 -> 48
  Block* c = must_alloc(heap, 1000, 1);   // large: 16 + 8 + 1000
  s = heap.stats();
  CHECK_EQ(s.allocated_bytes, uint64_t{32 + 48 + 1024});
  CHECK_EQ(s.requested_bytes, uint64_t{10 + 10 + 16 + 1000 + 8});
  CHECK_EQ(s.live_blocks, uint64_t{3});
  CHECK_EQ(s.tracked_blocks, uint64_t{2});
  CHECK_EQ(s.allocations, uint64_t{3});
  CHECK_EQ(s.frees, uint64_t{0});
  CHECK_EQ(s.large_blocks, uint64_t{1});
  CHECK(s.large_bytes >= 32 + 1024 && s.large_bytes % OsPages::page_size() == 0);
  CHECK_EQ(s.mapped_bytes, kArenaSize + s.large_bytes);
  CHECK_EQ(s.peak_mapped_bytes, s.mapped_bytes);
  CHECK_EQ(s.arenas_current, uint64_t{1});
  CHECK_EQ(s.pools_used, uint64_t{2});
  CHECK_EQ(s.pools_free, kPoolsPerArena - 2);
  CHECK_EQ(s.size_classes.size(), size_t{2});
  CHECK(s.size_classes[0].block_size == 32 && s.size_classes[0].pools == 1 && s.size_classes[0].blocks_in_use == 1);
  CHECK(s.size_classes[1].block_size == 48 && s.size_classes[1].pools == 1 && s.size_classes[1].blocks_in_use == 1);
  CHECK_CONSISTENT(heap);
  CHECK(heap.set_ref(b, 1, c) == Status::kOk);
  heap.release(c);
  heap.release(b);  // frees c too
  s = heap.stats();
  CHECK_EQ(s.allocated_bytes, uint64_t{32});
  CHECK_EQ(s.requested_bytes, uint64_t{10});
  CHECK_EQ(s.live_blocks, uint64_t{1});
  CHECK_EQ(s.tracked_blocks, uint64_t{0});
  CHECK_EQ(s.allocations, uint64_t{3});
  CHECK_EQ(s.frees, uint64_t{2});
  CHECK_EQ(s.large_blocks, uint64_t{0});
  CHECK_EQ(s.large_bytes, uint64_t{0});
  CHECK_EQ(s.mapped_bytes, kArenaSize);
  CHECK(s.peak_mapped_bytes > s.mapped_bytes);
  CHECK_EQ(s.size_classes.size(), size_t{1});
  heap.release(a);
  s = heap.stats();
  CHECK_EQ(s.allocated_bytes, uint64_t{0});
  CHECK_EQ(s.frees, uint64_t{3});
  CHECK(s.size_classes.empty());
  CHECK_CONSISTENT(heap);
}

TEST(heap_close_unmaps_everything) {
  Heap heap;
  std::vector<double> refs;
  for (int i = 0; i < 5000; i++) {
    Block* block = must_alloc(heap, i % 900, i % 3);
    refs.push_back(heap.ref_of(block));
  }
  CHECK(heap.stats().mapped_bytes > 0);
  heap.close();
  CHECK(heap.closed());
  const HeapStats s = heap.stats();
  CHECK_EQ(s.mapped_bytes, uint64_t{0});
  CHECK_EQ(s.live_blocks, uint64_t{0});
  CHECK_EQ(s.arenas_current, uint64_t{0});
  CHECK_EQ(s.large_blocks, uint64_t{0});
  CHECK(s.size_classes.empty());
  for (double ref : refs) {
    if (heap.resolve(ref) != nullptr) {
      CHECK(heap.resolve(ref) == nullptr);
      break;
    }
  }
  heap.close();  // a second close does nothing
  CHECK(heap.closed());
}

// JavaScript can release a count that a slot owns (release(getRef(a, 0))).
// The slot must then read as empty, and freeing its holder must not touch
// the freed target, even once the target's memory is unmapped or reused.
TEST(heap_slot_whose_target_was_over_released_reads_empty) {
  Heap heap;
  Block* holder = nullptr;
  Block* large = nullptr;
  Block* small = nullptr;
  CHECK(heap.alloc(0, 2, 0, &holder) == Status::kOk);
  CHECK(heap.alloc(4096, 0, 0, &large) == Status::kOk);
  CHECK(heap.alloc(8, 0, 0, &small) == Status::kOk);
  CHECK(heap.set_ref(holder, 0, large) == Status::kOk);
  CHECK(heap.set_ref(holder, 1, small) == Status::kOk);
  heap.release(large);
  heap.release(large);  // the slot's count: the large block is unmapped
  heap.release(small);
  heap.release(small);  // the slot's count: the memory goes back to its pool
  Block* reused = nullptr;
  CHECK(heap.alloc(8, 0, 0, &reused) == Status::kOk);
  CHECK(reused == small);  // same memory, new tag
  Block* out = reused;
  CHECK(heap.get_ref(holder, 0, &out) == Status::kOk);
  CHECK(out == nullptr);
  CHECK(heap.get_ref(holder, 1, &out) == Status::kOk);
  CHECK(out == nullptr);
  heap.release(holder);
  CHECK_EQ(reused->refcount, 1u);  // untouched by the holder's cascade
  CHECK_EQ(heap.stats().live_blocks, uint64_t{1});
  CHECK_CONSISTENT(heap);
}
