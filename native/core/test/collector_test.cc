// The cycle collector against the scenarios of CPython 3.12's
// Lib/test/test_gc.py that apply to blocks with slots, with their counts
// (SPEC sections 5 and 6): which blocks a collection finds, what it returns,
// generations and counters, automatic collection, stats, freezing, the
// garbage list, debug lines, and large or random graphs checked against a
// plain reachability computation. Finalizers and re-entrancy are in
// collector_finalizer_test.cc.
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "check.h"
#include "gc_recorder.h"
#include "heap.h"
#include "helpers.h"

using namespace refheap;
using namespace refheap::testing;

namespace {


std::array<uint64_t, 3> sizes(const Heap& heap) {
  return {heap.gc().generation(0).size(), heap.gc().generation(1).size(), heap.gc().generation(2).size()};
}

bool counts_are(const Heap& heap, uint64_t c0, uint64_t c1, uint64_t c2) {
  const auto& c = heap.gc().counts();
  return c[0] == c0 && c[1] == c1 && c[2] == c2;
}

}  // namespace

// test_list: a self-loop.
TEST(gc_self_loop_is_one_unreachable_block) {
  Heap heap;
  heap.gc().enabled = false;
  Block* l = node(heap);
  link(heap, l, 0, l);
  CHECK_EQ(heap.gc().collect(2), 0u);  // held from outside
  const double ref = heap.ref_of(l);
  heap.release(l);
  CHECK(alive(heap, ref));  // counting alone never frees a cycle
  CHECK_EQ(heap.gc().collect(2), 1u);
  CHECK(!alive(heap, ref));
  CHECK_EQ(live(heap), 0u);
  CHECK_EQ(heap.gc().collect(2), 0u);
  CHECK_CONSISTENT(heap);
}

// test_tuple: l -> t -> l. Blocks without slots are freed with the cycle
// but not counted: they are not tracked (test_function counts only
// containers too).
TEST(gc_two_block_cycle_counts_two_and_frees_untracked_leaves) {
  Heap heap;
  heap.gc().enabled = false;
  Block* l = node(heap, 2);
  Block* t = node(heap, 1);
  Block* leaf = must_alloc(heap, 100);  // no slots: not tracked
  link(heap, l, 0, t);
  link(heap, t, 0, l);
  link(heap, l, 1, leaf);
  heap.release(leaf);
  CHECK_EQ(heap.gc().collect(2), 0u);
  heap.release(t);
  heap.release(l);
  CHECK_EQ(live(heap), 3u);
  CHECK_EQ(heap.gc().collect(2), 2u);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// test_get_objects (3.12): a held cycle survives every collection and moves
// up one generation each time, to stay in the oldest.
TEST(gc_held_cycle_survives_and_moves_up_a_generation) {
  Heap heap;
  heap.gc().enabled = false;
  heap.gc().collect(2);
  Block* l = node(heap);
  link(heap, l, 0, l);
  CHECK_EQ(listed_in(heap, l), 0);
  CHECK_EQ(heap.gc().collect(0), 0u);
  CHECK_EQ(listed_in(heap, l), 1);
  CHECK_EQ(heap.gc().collect(1), 0u);
  CHECK_EQ(listed_in(heap, l), 2);
  CHECK_EQ(heap.gc().collect(2), 0u);
  CHECK_EQ(listed_in(heap, l), 2);
  heap.release(l);
  CHECK_EQ(heap.gc().collect(2), 1u);
  CHECK_CONSISTENT(heap);
}

// Whatever a held block reaches is alive, however it is reached.
TEST(gc_cycle_reached_from_a_held_block_survives_until_cut_off) {
  Heap heap;
  heap.gc().enabled = false;
  Block* holder = node(heap);
  Block* a = node(heap);
  Block* b = node(heap);
  link(heap, holder, 0, a);
  link(heap, a, 0, b);
  link(heap, b, 0, a);
  heap.release(a);
  heap.release(b);
  CHECK_EQ(heap.gc().collect(0), 0u);
  CHECK_EQ(listed_in(heap, a), 1);
  CHECK_EQ(listed_in(heap, b), 1);
  link(heap, holder, 0, nullptr);
  CHECK_EQ(heap.gc().collect(0), 0u);  // in generation 1 now: not looked at
  CHECK_EQ(live(heap), 3u);
  CHECK_EQ(heap.gc().collect(1), 2u);
  CHECK_EQ(live(heap), 1u);
  heap.release(holder);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// References from older generations count as references from outside: a
// young cycle that only an old, unreachable block points at survives a
// young collection, and goes with it in a full one.
TEST(gc_older_generations_keep_young_cycles_alive) {
  Heap heap;
  heap.gc().enabled = false;
  Block* old = node(heap, 2);
  link(heap, old, 0, old);
  heap.gc().collect(2);
  CHECK_EQ(listed_in(heap, old), 2);
  Block* y1 = node(heap);
  Block* y2 = node(heap);
  link(heap, y1, 0, y2);
  link(heap, y2, 0, y1);
  link(heap, old, 1, y1);
  heap.release(y1);
  heap.release(y2);
  heap.release(old);
  CHECK_EQ(heap.gc().collect(0), 0u);
  CHECK_EQ(heap.gc().collect(1), 0u);
  CHECK_EQ(live(heap), 3u);
  CHECK_EQ(heap.gc().collect(2), 3u);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// Collecting a young cycle can drop an old block's count to zero: it is
// freed by its count then, not counted as found by the collection.
TEST(gc_old_block_kept_only_by_young_garbage_is_freed_by_its_count) {
  Heap heap;
  heap.gc().enabled = false;
  Block* old = node(heap);
  heap.gc().collect(2);
  Block* young = node(heap, 2);
  link(heap, young, 0, young);
  link(heap, young, 1, old);
  heap.release(old);
  heap.release(young);
  CHECK_EQ(live(heap), 2u);
  CHECK_EQ(heap.gc().collect(0), 1u);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// Large blocks (their own mapping) take part like small ones, and every
// slot counts: a block whose 1000 slots all point at itself is one
// unreachable block once released.
TEST(gc_large_blocks_and_repeated_slots) {
  Heap heap;
  heap.gc().enabled = false;
  Block* big = node(heap, 1000);  // 16 + 8000 bytes: a large block
  CHECK(is_large(big));
  for (int s = 0; s < 1000; s++) link(heap, big, s, big);
  CHECK_EQ(big->refcount, 1001u);
  CHECK_EQ(heap.gc().collect(2), 0u);
  heap.release(big);
  CHECK_EQ(heap.gc().collect(2), 1u);
  CHECK_EQ(live(heap), 0u);

  // small -> large -> small, with a large data block hanging off.
  Block* small = node(heap, 1);
  Block* large = must_alloc(heap, 4096, 2);
  Block* blob = must_alloc(heap, 100000);
  link(heap, small, 0, large);
  link(heap, large, 0, small);
  link(heap, large, 1, blob);
  heap.release(blob);
  heap.release(large);
  CHECK_EQ(heap.gc().collect(0), 0u);
  heap.release(small);
  CHECK_EQ(heap.gc().collect(1), 2u);
  CHECK_EQ(live(heap), 0u);
  CHECK_EQ(heap.stats().large_blocks, 0u);
  CHECK_CONSISTENT(heap);
}

// test_get_count: count0 is tracked allocations minus tracked frees since
// the last collection, never below zero; blocks without slots do not count.
TEST(gc_count0_counts_tracked_allocations_minus_frees) {
  Heap heap;
  heap.gc().enabled = false;  // the counters are kept all the same
  heap.gc().collect(2);
  CHECK(counts_are(heap, 0, 0, 0));
  std::vector<Block*> tracked;
  for (int i = 0; i < 5; i++) tracked.push_back(node(heap));
  CHECK(counts_are(heap, 5, 0, 0));
  Block* plain = must_alloc(heap, 16);
  CHECK(counts_are(heap, 5, 0, 0));
  heap.release(plain);
  CHECK(counts_are(heap, 5, 0, 0));
  heap.release(tracked[0]);
  heap.release(tracked[1]);
  CHECK(counts_are(heap, 3, 0, 0));
  heap.gc().collect(2);
  CHECK(counts_are(heap, 0, 0, 0));
  for (int i = 2; i < 5; i++) heap.release(tracked[i]);
  CHECK(counts_are(heap, 0, 0, 0));  // frees of older blocks never take it below zero
  Block* a = node(heap);
  CHECK(counts_are(heap, 1, 0, 0));
  heap.release(a);
  CHECK(counts_are(heap, 0, 0, 0));
  CHECK_CONSISTENT(heap);
}

// test_collect_generations: collect(g) zeroes 0..g and adds one to g+1.
TEST(gc_collect_zeroes_younger_counters_and_bumps_the_next) {
  Heap heap;
  heap.gc().enabled = false;
  heap.gc().collect(2);
  Block* x = node(heap);
  heap.gc().collect(0);
  CHECK(counts_are(heap, 0, 1, 0));
  heap.gc().collect(0);
  CHECK(counts_are(heap, 0, 2, 0));
  heap.gc().collect(1);
  CHECK(counts_are(heap, 0, 0, 1));
  heap.gc().collect(2);
  CHECK(counts_are(heap, 0, 0, 0));
  Block* y = node(heap);
  Block* z = node(heap);
  heap.gc().collect(1);
  CHECK(counts_are(heap, 0, 0, 1));
  heap.release(x);
  heap.release(y);
  heap.release(z);
  CHECK_CONSISTENT(heap);
}

// Automatic collection, CPython 3.11's cadence with thresholds (1, 0, 0):
// every second tracked allocation collects, generations 0, 1, 2 in turn
// (the long-lived rule never holds back generation 2 here: each pass adds
// at least a quarter of what the last full collection kept). The new block
// is not part of the collection it triggers.
TEST(gc_automatic_collection_cadence_with_thresholds_1_0_0) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().thresholds = {1, 0, 0};
  std::vector<Block*> held;
  std::vector<int> generations;
  for (int i = 1; i <= 12; i++) {
    const size_t before = rec.events.size();
    Block* block = node(heap);
    held.push_back(block);
    if (rec.events.size() == before) {
      generations.push_back(-1);
      continue;
    }
    CHECK_EQ(rec.events.size(), before + 2);  // one start, one stop
    generations.push_back(static_cast<int>(rec.events[before].info.generation));
    CHECK(rec.events[before].starting && !rec.events[before + 1].starting);
    CHECK_EQ(listed_in(heap, block), 0);
    CHECK_EQ(heap.gc().counts()[0], 0u);
  }
  const std::vector<int> expected = {-1, 0, -1, 1, -1, 2, -1, 0, -1, 1, -1, 2};
  CHECK(generations == expected);
  CHECK(sizes(heap) == (std::array<uint64_t, 3>{1, 0, 11}));
  for (Block* block : held) heap.release(block);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// The long-lived rule: with thresholds (1, 1, 1) and 100 blocks kept by the
// last full collection, generation 2 is due from the 14th allocation on but
// waits until 25 blocks (a quarter of 100) have moved into it: generation-1
// collections move 5, then 6 each time, so the full one comes at the 32nd.
TEST(gc_automatic_full_collection_waits_for_a_quarter_of_the_long_lived) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  std::vector<Block*> held;
  for (int i = 0; i < 100; i++) held.push_back(node(heap));
  heap.gc().collect(2);
  CHECK(sizes(heap) == (std::array<uint64_t, 3>{0, 0, 100}));
  heap.gc().enabled = true;
  heap.gc().thresholds = {1, 1, 1};
  rec.events.clear();
  std::vector<int> generations;
  for (int i = 1; i <= 32; i++) {
    const size_t before = rec.events.size();
    held.push_back(node(heap));
    generations.push_back(rec.events.size() == before ? -1 : static_cast<int>(rec.events[before].info.generation));
  }
  const std::vector<int> expected = {-1, 0, -1, 0, -1, 1, -1, 0, -1, 0, -1, 1, -1, 0, -1, 0,
                                     -1, 1, -1, 0, -1, 0, -1, 1, -1, 0, -1, 0, -1, 1, -1, 2};
  CHECK(generations == expected);
  CHECK(sizes(heap) == (std::array<uint64_t, 3>{1, 0, 131}));
  CHECK(counts_are(heap, 0, 0, 0));
  for (Block* block : held) heap.release(block);
  CHECK_CONSISTENT(heap);
}

// Automatic collection frees cycles on its own; disabled (or threshold0 0)
// it never runs, while collect() still works.
TEST(gc_automatic_collection_frees_cycles_and_can_be_turned_off) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().thresholds = {10, 10, 10};
  for (int i = 0; i < 100; i++) {
    Block* a = node(heap);
    link(heap, a, 0, a);
    heap.release(a);
  }
  uint64_t found = 0;
  for (const CollectionInfo& info : rec.stops()) found += info.collected;
  CHECK(found >= 90u);
  CHECK_EQ(found + heap.gc().collect(2), 100u);
  CHECK_EQ(live(heap), 0u);

  for (bool enabled : {false, true}) {
    heap.gc().enabled = enabled;
    heap.gc().thresholds = {enabled ? 0u : 1u, 0, 0};
    rec.events.clear();
    for (int i = 0; i < 50; i++) {
      Block* a = node(heap);
      link(heap, a, 0, a);
      heap.release(a);
    }
    CHECK(rec.events.empty());
    CHECK_EQ(heap.gc().counts()[0], 50u);
    CHECK_EQ(heap.gc().collect(2), 50u);
    CHECK_EQ(rec.events.size(), 2u);
  }
  CHECK_CONSISTENT(heap);
}

// test_get_stats: each collection is credited to the oldest generation it
// covered, with what it found.
TEST(gc_stats_are_credited_to_the_oldest_generation_collected) {
  Heap heap;
  heap.gc().enabled = false;
  const uint32_t resource = new_type(heap, "Resource", false, true);
  const auto old = heap.gc().stats();
  heap.gc().collect(0);
  auto now = heap.gc().stats();
  CHECK_EQ(now[0].collections, old[0].collections + 1);
  CHECK_EQ(now[1].collections, old[1].collections);
  CHECK_EQ(now[2].collections, old[2].collections);
  heap.gc().collect(2);
  now = heap.gc().stats();
  CHECK_EQ(now[0].collections, old[0].collections + 1);
  CHECK_EQ(now[1].collections, old[1].collections);
  CHECK_EQ(now[2].collections, old[2].collections + 1);

  for (int i = 0; i < 3; i++) {
    Block* a = node(heap);
    link(heap, a, 0, a);
    heap.release(a);
  }
  Block* r = node(heap, 1, resource);
  link(heap, r, 0, r);
  heap.release(r);
  CHECK_EQ(heap.gc().collect(1), 4u);
  now = heap.gc().stats();
  CHECK_EQ(now[1].collections, 1u);
  CHECK_EQ(now[1].collected, 3u);
  CHECK_EQ(now[1].uncollectable, 1u);
  CHECK_EQ(now[0].collected + now[0].uncollectable + now[2].collected + now[2].uncollectable, 0u);
  CHECK_EQ(heap.gc().clear_garbage(), 1u);
  CHECK_EQ(heap.gc().collect(2), 1u);  // still a cycle, and uncollectable again
  CHECK_EQ(heap.gc().stats()[2].uncollectable, 1u);
  link(heap, heap.gc().garbage()[0], 0, nullptr);
  heap.gc().clear_garbage();
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// test_freeze: frozen blocks are ignored by every collection and keep what
// they reach alive; unfreeze() puts them in the oldest generation.
TEST(gc_freeze_hides_blocks_from_collections_until_unfrozen) {
  Heap heap;
  heap.gc().enabled = false;
  std::vector<Block*> held;
  for (int i = 0; i < 3; i++) held.push_back(node(heap));
  heap.gc().collect(0);  // these in generation 1, the next ones in 0
  Block* trash = node(heap);
  link(heap, trash, 0, trash);
  heap.release(trash);
  Block* young = node(heap);
  held.push_back(young);
  CHECK(counts_are(heap, 2, 1, 0));
  heap.gc().freeze();
  CHECK_EQ(heap.gc().freeze_count(), 5u);
  CHECK(sizes(heap) == (std::array<uint64_t, 3>{0, 0, 0}));
  CHECK(counts_are(heap, 0, 0, 0));
  CHECK_EQ(listed_in(heap, trash), static_cast<int>(kPermanentGeneration));
  CHECK_EQ(heap.gc().collect(2), 0u);  // the frozen self-loop is not looked at
  CHECK_EQ(live(heap), 5u);

  // A frozen block keeps a young cycle alive.
  Block* y = node(heap);
  link(heap, y, 0, y);
  link(heap, held[0], 0, y);
  heap.release(y);
  CHECK_EQ(heap.gc().collect(2), 0u);
  link(heap, held[0], 0, nullptr);
  CHECK_EQ(heap.gc().collect(2), 1u);

  // Freed while frozen: it leaves the permanent generation.
  heap.release(held.back());
  held.pop_back();
  CHECK_EQ(heap.gc().freeze_count(), 4u);
  CHECK_CONSISTENT(heap);

  heap.gc().unfreeze();
  CHECK_EQ(heap.gc().freeze_count(), 0u);
  CHECK(sizes(heap) == (std::array<uint64_t, 3>{0, 0, 4}));
  CHECK_EQ(heap.gc().collect(2), 1u);
  for (Block* block : held) heap.release(block);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// test_legacy_finalizer: an unreachable block of an uncollectable type goes
// to garbage, with a count the heap holds; a plain cycle beside it is freed.
TEST(gc_uncollectable_cycle_goes_to_garbage) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  const uint32_t legacy = new_type(heap, "Legacy", true, true);  // a finalizer it never gets
  Block* a = node(heap, 1, legacy);
  link(heap, a, 0, a);
  Block* b = node(heap);
  link(heap, b, 0, b);
  const double a_ref = heap.ref_of(a);
  const double b_ref = heap.ref_of(b);
  heap.gc().collect(2);
  heap.release(a);
  heap.release(b);
  rec.events.clear();
  CHECK_EQ(heap.gc().collect(2), 2u);
  CHECK_EQ(rec.stops().size(), 1u);
  CHECK_EQ(rec.stops()[0].collected, 1u);
  CHECK_EQ(rec.stops()[0].uncollectable, 1u);
  CHECK(!alive(heap, b_ref));
  CHECK(rec.finalized.empty());
  CHECK(!is_finalized(a));
  CHECK_EQ(heap.gc().garbage().size(), 1u);
  CHECK(heap.gc().garbage()[0] == a);
  CHECK_EQ(a->refcount, 2u);  // its slot and the garbage list
  CHECK_EQ(listed_in(heap, a), 2);
  CHECK_CONSISTENT(heap);
  // del obj.a; gc.garbage.remove(obj)
  link(heap, a, 0, nullptr);
  CHECK_EQ(heap.gc().clear_garbage(), 1u);
  CHECK(!alive(heap, a_ref));
  CHECK(rec.finalized.size() == 1 && rec.finalized[0] == a_ref);  // freed by its count: finalized then
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// test_collect_garbage (GCCallbackTests): two pairs of uncollectable
// partners and a self-loop: collected 1, uncollectable 4, four blocks in
// garbage. Released from garbage they are found again; the stop callback
// then breaks the pairs and clears the list, and they go by their counts.
TEST(gc_callbacks_see_uncollectable_partners) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  const uint32_t uncollectable = new_type(heap, "Uncollectable", false, true);
  for (int i = 0; i < 2; i++) {
    Block* x = node(heap, 1, uncollectable);
    Block* partner = node(heap, 1, uncollectable);
    link(heap, x, 0, partner);
    link(heap, partner, 0, x);
    heap.release(x);
    heap.release(partner);
  }
  Block* c = node(heap);
  link(heap, c, 0, c);
  heap.release(c);
  CHECK_EQ(heap.gc().collect(2), 5u);
  CHECK_EQ(rec.events.size(), 2u);
  CHECK(rec.events[0].starting);
  CHECK_EQ(rec.events[0].info.generation, 2u);
  CHECK_EQ(rec.events[0].info.collected, 0u);
  CHECK_EQ(rec.events[0].info.uncollectable, 0u);
  CHECK(!rec.events[1].starting);
  CHECK_EQ(rec.events[1].info.generation, 2u);
  CHECK_EQ(rec.events[1].info.collected, 1u);
  CHECK_EQ(rec.events[1].info.uncollectable, 4u);
  CHECK(rec.events[1].info.duration_ms >= 0);
  CHECK(heap.gc().pauses().last_ms == rec.events[1].info.duration_ms);
  CHECK(heap.gc().pauses().max_ms >= heap.gc().pauses().last_ms);
  CHECK(heap.gc().pauses().total_ms >= heap.gc().pauses().last_ms);
  CHECK_EQ(heap.gc().garbage().size(), 4u);
  for (Block* e : heap.gc().garbage()) CHECK_EQ(static_cast<uint32_t>(e->type), uncollectable);

  CHECK_EQ(heap.gc().clear_garbage(), 4u);
  CHECK_EQ(live(heap), 4u);  // each still held by its partner
  rec.events.clear();
  rec.on_event = [&](bool starting, const CollectionInfo&) {
    if (starting) return;
    for (Block* e : heap.gc().garbage()) link(heap, e, 0, nullptr);
    heap.gc().clear_garbage();
  };
  CHECK_EQ(heap.gc().collect(2), 4u);
  CHECK_EQ(rec.stops().size(), 1u);
  CHECK_EQ(rec.stops()[0].collected, 0u);
  CHECK_EQ(rec.stops()[0].uncollectable, 4u);
  CHECK(heap.gc().garbage().empty());
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// test_collect_generation: every event carries the generation collected.
TEST(gc_callbacks_get_start_and_stop_with_the_generation) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  for (unsigned g = 0; g < kGenerations; g++) {
    rec.events.clear();
    heap.gc().collect(g);
    CHECK_EQ(rec.events.size(), 2u);
    for (const GcEvent& event : rec.events) CHECK_EQ(event.info.generation, g);
  }
}

// An uncollectable block keeps everything it reaches alive (CPython's
// legacy-finalizer rule): the whole set counts as uncollectable, only the
// uncollectable blocks go to garbage, nothing in it is finalized, and it
// survives until the garbage is cleared and the cycle through it cut.
TEST(gc_uncollectable_block_keeps_what_it_reaches) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  const uint32_t x_type = new_type(heap, "X", false, true);
  const uint32_t fin = new_type(heap, "Fin", true, false);
  Block* first = node(heap, 3, x_type);
  Block* second = node(heap, 1, x_type);
  Block* cargo = node(heap, 1, fin);
  Block* leaf = must_alloc(heap, 8);
  link(heap, first, 0, first);
  link(heap, first, 1, second);
  link(heap, first, 2, cargo);
  link(heap, cargo, 0, cargo);
  link(heap, second, 0, leaf);
  const double cargo_ref = heap.ref_of(cargo);
  for (Block* b : {first, second, cargo, leaf}) heap.release(b);
  // An unrelated plain cycle is still collected.
  Block* plain = node(heap);
  link(heap, plain, 0, plain);
  heap.release(plain);

  CHECK_EQ(heap.gc().collect(2), 4u);
  CHECK_EQ(rec.stops()[0].collected, 1u);
  CHECK_EQ(rec.stops()[0].uncollectable, 3u);
  CHECK(rec.finalized.empty());
  CHECK_EQ(heap.gc().garbage().size(), 2u);
  const std::set<Block*> garbage(heap.gc().garbage().begin(), heap.gc().garbage().end());
  CHECK(garbage == (std::set<Block*>{first, second}));
  CHECK_EQ(live(heap), 4u);
  CHECK_EQ(listed_in(heap, cargo), 2);
  CHECK_CONSISTENT(heap);

  // Released from garbage, still a cycle: found again, the same way.
  CHECK_EQ(heap.gc().clear_garbage(), 2u);
  CHECK_EQ(heap.gc().collect(2), 3u);
  CHECK_EQ(heap.gc().garbage().size(), 2u);
  CHECK(rec.finalized.empty());

  // Cut the self-loop: clearing garbage frees first and second by their
  // counts; cargo is a plain cycle now, finalized and freed by the next
  // collection.
  link(heap, first, 0, nullptr);
  heap.gc().clear_garbage();
  CHECK_EQ(live(heap), 1u);
  CHECK_EQ(heap.gc().collect(2), 1u);
  CHECK_EQ(rec.times_finalized(cargo_ref), 1u);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// test_saveall: under DEBUG_SAVEALL every unreachable block goes to
// garbage instead of being freed; the result counts them as usual.
TEST(gc_saveall_puts_every_unreachable_block_in_garbage) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  CHECK_EQ(heap.gc().collect(2), 0u);
  CHECK(heap.gc().garbage().empty());
  const uint32_t fin = new_type(heap, "Fin", true, false);
  const uint32_t unc = new_type(heap, "Unc", false, true);
  Block* l = node(heap, 1, fin);
  link(heap, l, 0, l);
  // An uncollectable cycle that reaches a plain block.
  Block* u = node(heap, 2, unc);
  Block* reached = node(heap, 1);
  link(heap, u, 0, u);
  link(heap, u, 1, reached);
  for (Block* b : {l, u, reached}) heap.release(b);

  heap.gc().debug = debug_flags::kSaveAll;
  rec.events.clear();
  CHECK_EQ(heap.gc().collect(2), 3u);
  heap.gc().debug = 0;
  CHECK_EQ(rec.stops()[0].collected, 1u);
  CHECK_EQ(rec.stops()[0].uncollectable, 2u);
  const std::set<Block*> garbage(heap.gc().garbage().begin(), heap.gc().garbage().end());
  CHECK_EQ(heap.gc().garbage().size(), 3u);
  CHECK(garbage == (std::set<Block*>{l, u, reached}));
  CHECK_EQ(rec.times_finalized(heap.ref_of(l)), 1u);  // finalizers run before the garbage is saved
  CHECK_EQ(l->refcount, 2u);
  CHECK_EQ(reached->refcount, 2u);
  CHECK_CONSISTENT(heap);

  // Without SAVEALL: the plain ones are freed, the uncollectable one kept.
  CHECK_EQ(heap.gc().clear_garbage(), 3u);
  CHECK_EQ(heap.gc().collect(2), 3u);
  CHECK_EQ(rec.finalized.size(), 1u);  // l was finalized already
  CHECK_EQ(heap.gc().garbage().size(), 1u);
  CHECK(heap.gc().garbage()[0] == u);
  link(heap, u, 0, nullptr);
  heap.gc().clear_garbage();
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// The debug lines, in CPython's format and order: the stats header, a
// collectable line for each block outside the uncollectable set, an
// uncollectable line for each block in it, the summary.
TEST(gc_debug_lines_follow_cpython) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  const uint32_t node_type = new_type(heap, "Node", false, false);
  const uint32_t resource = new_type(heap, "Resource", false, true);
  Block* frozen = node(heap);
  heap.gc().freeze();
  Block* held = node(heap, 1, node_type);
  heap.gc().collect(0);  // held -> generation 1
  Block* n1 = node(heap, 1, node_type);
  Block* n2 = node(heap, 1, node_type);
  Block* r = node(heap, 1, resource);
  Block* below = node(heap, 1);  // plain type "block", kept through r
  link(heap, n1, 0, n2);
  link(heap, n2, 0, n1);
  link(heap, r, 0, below);
  link(heap, below, 0, r);
  const auto line_for = [&](const char* kind, const Block* block) {
    char text[128];
    std::snprintf(text, sizeof text, "gc: %s <%s 0x%" PRIx64 ">", kind, heap.type_name(block->type)->c_str(),
                  heap.ref_bits(block));
    return std::string(text);
  };
  const std::set<std::string> collectable = {line_for("collectable", n1), line_for("collectable", n2)};
  const std::set<std::string> uncollectable = {line_for("uncollectable", r), line_for("uncollectable", below)};
  CHECK(line_for("collectable", n1).find("gc: collectable <Node 0x") == 0);
  CHECK(line_for("uncollectable", below).find("gc: uncollectable <block 0x") == 0);
  for (Block* b : {n1, n2, r, below}) heap.release(b);

  heap.gc().debug = debug_flags::kStats | debug_flags::kCollectable | debug_flags::kUncollectable;
  rec.lines.clear();
  CHECK_EQ(heap.gc().collect(2), 4u);
  const std::vector<std::string>& lines = rec.lines;
  CHECK_EQ(lines.size(), 8u);
  if (lines.size() == 8) {
    CHECK(lines[0] == "gc: collecting generation 2...");
    CHECK(lines[1] == "gc: objects in each generation: 4 1 0");
    CHECK(lines[2] == "gc: objects in permanent generation: 1");
    CHECK(std::set<std::string>(lines.begin() + 3, lines.begin() + 5) == collectable);
    CHECK(std::set<std::string>(lines.begin() + 5, lines.begin() + 7) == uncollectable);
    const std::string prefix = "gc: done, 4 unreachable, 2 uncollectable, ";
    const std::string suffix = "s elapsed";
    const std::string& done = lines[7];
    CHECK(done.compare(0, prefix.size(), prefix) == 0);
    CHECK(done.size() > prefix.size() + suffix.size() &&
          done.compare(done.size() - suffix.size(), suffix.size(), suffix) == 0);
    if (done.size() > prefix.size() + suffix.size()) {
      // Seconds with exactly four decimals, as "%.4f" writes them.
      const std::string seconds = done.substr(prefix.size(), done.size() - prefix.size() - suffix.size());
      const size_t dot = seconds.find('.');
      CHECK(dot != std::string::npos && dot > 0 && seconds.size() - dot - 1 == 4);
      CHECK(seconds.find_first_not_of("0123456789.") == std::string::npos);
    }
  }

  // DEBUG_STATS alone: the header and the summary only.
  heap.gc().debug = debug_flags::kStats;
  rec.lines.clear();
  heap.gc().collect(0);
  CHECK_EQ(rec.lines.size(), 4u);
  if (rec.lines.size() == 4) {
    CHECK(rec.lines[0] == "gc: collecting generation 0...");
    CHECK(rec.lines[1] == "gc: objects in each generation: 0 0 3");  // held, r and below: all survived into 2
    CHECK(rec.lines[3].find("gc: done, 0 unreachable, 0 uncollectable, ") == 0);
  }
  // No flags, no lines; flags are stored as given.
  heap.gc().debug = 0;
  rec.lines.clear();
  heap.gc().collect(2);
  CHECK(rec.lines.empty());
  heap.gc().debug = 0x12345678;
  CHECK_EQ(heap.gc().debug, 0x12345678u);
  heap.gc().debug = 0;

  for (Block* b : heap.gc().garbage()) link(heap, b, 0, nullptr);
  heap.gc().clear_garbage();
  heap.gc().unfreeze();
  heap.release(held);
  heap.release(frozen);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// CPython writes the collectable lines before finalizers run, and the
// uncollectable lines and the summary after the garbage is gone.
TEST(gc_debug_lines_around_finalizers) {
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().enabled = false;
  const uint32_t fin = new_type(heap, "Fin", true, false);
  const uint32_t unc = new_type(heap, "Unc", false, true);
  Block* a = node(heap, 1, fin);
  link(heap, a, 0, a);
  Block* u = node(heap, 1, unc);
  link(heap, u, 0, u);
  heap.release(a);
  heap.release(u);
  std::vector<std::string> seen;
  rec.on_finalize = [&](Block*) { seen = rec.lines; };
  heap.gc().debug = debug_flags::kStats | debug_flags::kCollectable | debug_flags::kUncollectable;
  CHECK_EQ(heap.gc().collect(2), 2u);
  CHECK_EQ(seen.size(), 4u);
  if (seen.size() == 4) CHECK(seen[3].find("gc: collectable <Fin 0x") == 0);
  CHECK_EQ(rec.lines.size(), 6u);
  if (rec.lines.size() == 6) {
    CHECK(rec.lines[4].find("gc: uncollectable <Unc 0x") == 0);
    CHECK(rec.lines[5].find("gc: done, 2 unreachable, 1 uncollectable, ") == 0);
  }
  heap.gc().debug = 0;
  link(heap, u, 0, nullptr);
  heap.gc().clear_garbage();
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

// Deep structures: a 1,000,000-block chain hanging off a self-loop, then a
// 1,000,000-block cycle, found and freed without recursion (first the chain
// survives a collection while held, scanned 1,000,000 deep from one root).
TEST(gc_million_block_chain_and_cycle_without_recursion) {
  const uint32_t n = 1000000;
  Heap heap;
  heap.gc().enabled = false;
  Block* head = node(heap, 2);
  link(heap, head, 0, head);
  Block* tail = head;
  for (uint32_t i = 0; i < n; i++) {
    Block* next = node(heap);
    link(heap, tail, tail == head ? 1 : 0, next);
    heap.release(next);
    tail = next;
  }
  CHECK_EQ(heap.gc().collect(0), 0u);
  CHECK_EQ(heap.gc().generation(1).size(), size_t{n} + 1);
  heap.release(head);
  CHECK_EQ(heap.gc().collect(2), uint64_t{n} + 1);
  CHECK_EQ(live(heap), 0u);

  Block* first = node(heap);
  Block* last = first;
  for (uint32_t i = 1; i < n; i++) {
    Block* next = node(heap);
    link(heap, last, 0, next);
    heap.release(next);
    last = next;
  }
  link(heap, last, 0, first);
  heap.release(first);
  CHECK_EQ(heap.gc().collect(2), uint64_t{n});
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

namespace {

// The model of a random graph: slots as indices, the blocks JavaScript
// holds, and what plain reference counting and reachability make of them.
struct Model {
  std::vector<std::vector<int>> slots;  // -1: empty
  std::vector<bool> held;
  std::vector<bool> gone;               // freed (by count or by a collection)
  std::vector<bool> in_garbage;         // held by the garbage list, not by JavaScript

  // Blocks whose count reaches zero with no collection: repeatedly drop the
  // blocks nothing points at (counts per edge, like the heap's).
  std::vector<int> trim() {
    const size_t n = slots.size();
    std::vector<uint64_t> count(n, 0);
    for (size_t i = 0; i < n; i++) {
      if (gone[i]) continue;
      if (held[i]) count[i]++;
      for (int t : slots[i]) {
        if (t >= 0) count[t]++;
      }
    }
    std::vector<int> freed;
    std::deque<int> queue;
    for (size_t i = 0; i < n; i++) {
      if (!gone[i] && count[i] == 0) queue.push_back(static_cast<int>(i));
    }
    while (!queue.empty()) {
      const int i = queue.front();
      queue.pop_front();
      gone[i] = true;
      freed.push_back(i);
      for (int t : slots[i]) {
        if (t >= 0 && --count[t] == 0) queue.push_back(t);
      }
    }
    return freed;
  }

  // Live blocks reachable from `roots` through slots (a plain BFS).
  std::vector<bool> reach(const std::vector<int>& roots, const std::vector<bool>* within = nullptr) const {
    std::vector<bool> seen(slots.size(), false);
    std::deque<int> queue;
    for (int r : roots) {
      if (!gone[r] && !seen[r]) {
        seen[r] = true;
        queue.push_back(r);
      }
    }
    while (!queue.empty()) {
      const int i = queue.front();
      queue.pop_front();
      for (int t : slots[i]) {
        if (t < 0 || seen[t] || gone[t] || (within != nullptr && !(*within)[t])) continue;
        seen[t] = true;
        queue.push_back(t);
      }
    }
    return seen;
  }
};

}  // namespace

// A seeded random graph of 20,000 blocks with 4 slots, some with
// finalizers and a few uncollectable, one in fifty held from "JavaScript": what counting frees, what collect() finds, what it frees,
// keeps and finalizes must be exactly what a BFS over the model says. Then a
// second round with young blocks, collect(0) and collect(2).
TEST(gc_random_graph_frees_exactly_the_unreachable_blocks) {
  const int n = 20000;
  std::mt19937_64 rng(20240611);
  Heap heap;
  GcRecorder rec(heap);
  heap.gc().thresholds = {700, 10, 10};  // automatic collections while building find nothing
  const uint32_t fin = new_type(heap, "Fin", true, false);
  const uint32_t unc = new_type(heap, "Unc", false, true);
  Model model;
  std::vector<double> refs;
  std::vector<uint32_t> types;
  auto add_block = [&](uint32_t type) {
    Block* block = must_alloc(heap, rng() % 48, 4, type);
    refs.push_back(heap.ref_of(block));
    types.push_back(type);
    model.slots.push_back({-1, -1, -1, -1});
    model.held.push_back(true);
    model.gone.push_back(false);
    model.in_garbage.push_back(false);
  };
  for (int i = 0; i < n; i++) add_block(i % 2500 == 7 ? unc : (rng() % 10 == 0 ? fin : 0));
  // Clusters of 20, densely linked inside (so full of cycles), with rare
  // links between clusters (so that what a held block reaches stays a
  // fraction of the graph).
  for (int i = 0; i < n; i++) {
    for (int s = 0; s < 4; s++) {
      const uint64_t dice = rng() % 1000;
      if (dice >= 505) continue;
      const int t = dice < 5 ? static_cast<int>(rng() % n) : i - i % 20 + static_cast<int>(rng() % 20);
      link(heap, heap.resolve(refs[i]), s, heap.resolve(refs[t]));
      model.slots[i][s] = t;
    }
  }
  for (const CollectionInfo& info : rec.stops()) CHECK_EQ(info.collected + info.uncollectable, 0u);

  // Keep one in fifty; counting frees what no cycle or held block reaches.
  for (int i = 0; i < n; i++) {
    if (rng() % 50 == 0) continue;
    model.held[i] = false;
    heap.release(heap.resolve(refs[i]));
  }
  std::vector<int> freed_by_count = model.trim();
  size_t fin_freed = 0;
  for (int i : freed_by_count) fin_freed += types[i] == fin ? 1 : 0;
  CHECK_EQ(rec.finalized.size(), fin_freed);
  for (int i = 0; i < n; i++) CHECK_EQ(alive(heap, refs[i]), !model.gone[i]);

  auto check_full_collection = [&](const char* round) {
    std::vector<int> roots;
    for (size_t i = 0; i < model.slots.size(); i++) {
      if (!model.gone[i] && model.held[i]) roots.push_back(static_cast<int>(i));
    }
    const std::vector<bool> reachable = model.reach(roots);
    std::vector<bool> unreachable(model.slots.size(), false);
    std::vector<int> unc_roots;
    uint64_t unreachable_count = 0;
    for (size_t i = 0; i < model.slots.size(); i++) {
      if (model.gone[i] || reachable[i]) continue;
      unreachable[i] = true;
      unreachable_count++;
      if (types[i] == unc) unc_roots.push_back(static_cast<int>(i));
    }
    const std::vector<bool> kept = model.reach(unc_roots, &unreachable);
    uint64_t kept_count = 0, fin_collected = 0;
    for (size_t i = 0; i < model.slots.size(); i++) {
      if (!unreachable[i]) continue;
      if (kept[i]) kept_count++;
      else if (types[i] == fin) fin_collected++;
    }
    const size_t finalized_before = rec.finalized.size();
    rec.events.clear();
    const uint64_t found = heap.gc().collect(2);
    if (found != unreachable_count) std::fprintf(stderr, "  round %s\n", round);
    CHECK_EQ(found, unreachable_count);
    CHECK_EQ(rec.stops().size(), 1u);
    CHECK_EQ(rec.stops()[0].uncollectable, kept_count);
    CHECK_EQ(rec.finalized.size() - finalized_before, fin_collected);
    for (size_t i = 0; i < model.slots.size(); i++) {
      if (unreachable[i] && !kept[i]) model.gone[i] = true;
      if (kept[i] && types[i] == unc) model.held[i] = model.in_garbage[i] = true;  // garbage holds it now
    }
    for (size_t i = 0; i < model.slots.size(); i++) CHECK_EQ(alive(heap, refs[i]), !model.gone[i]);
    CHECK_CONSISTENT(heap);
  };
  check_full_collection("1");
  const std::set<double> finalized(rec.finalized.begin(), rec.finalized.end());
  CHECK_EQ(finalized.size(), rec.finalized.size());  // at most once each

  // Round 2: no automatic collections, so generation 0 is exactly the new
  // blocks. Add young blocks in clusters of 10 (some linked to held old
  // ones), rewire held blocks (old and young) towards held ones, release
  // most of them. Targets are always held blocks: certainly alive.
  heap.gc().enabled = false;
  std::vector<int> held;
  for (int i = 0; i < n; i++) {
    if (!model.gone[i] && model.held[i] && !model.in_garbage[i]) held.push_back(i);
  }
  const size_t old_held = held.size();
  const int young_begin = static_cast<int>(refs.size());
  for (int i = 0; i < 3000; i++) {
    add_block(rng() % 10 == 0 ? fin : 0);
    held.push_back(static_cast<int>(refs.size()) - 1);
  }
  for (int i = young_begin; i < static_cast<int>(refs.size()); i++) {
    for (int s = 0; s < 4; s++) {
      const uint64_t dice = rng() % 100;
      if (dice >= 50) continue;
      const int cluster = young_begin + (i - young_begin) / 10 * 10;
      const int t = dice < 2 ? held[rng() % old_held] : cluster + static_cast<int>(rng() % 10);
      link(heap, heap.resolve(refs[i]), s, heap.resolve(refs[t]));
      model.slots[i][s] = t;
    }
  }
  for (int k = 0; k < 1000; k++) {
    const int from = held[rng() % held.size()];
    const int s = static_cast<int>(rng() % 4);
    const int to = rng() % 4 == 0 ? -1 : held[rng() % held.size()];
    link(heap, heap.resolve(refs[from]), s, to < 0 ? nullptr : heap.resolve(refs[to]));
    model.slots[from][s] = to;
  }
  for (int i : held) {
    if (rng() % 10 == 0) continue;
    model.held[i] = false;
    heap.release(heap.resolve(refs[i]));
  }
  model.trim();
  for (size_t i = 0; i < refs.size(); i++) CHECK_EQ(alive(heap, refs[i]), !model.gone[i]);

  // collect(0): the young blocks not reachable from a held young block or
  // from one an older block (alive, whatever its state) points at.
  std::vector<bool> young(refs.size(), false);
  for (size_t i = young_begin; i < refs.size(); i++) young[i] = !model.gone[i];
  std::vector<int> young_roots;
  for (size_t i = 0; i < refs.size(); i++) {
    if (model.gone[i]) continue;
    if (young[i] && model.held[i]) young_roots.push_back(static_cast<int>(i));
    if (young[i]) continue;
    for (int t : model.slots[i]) {
      if (t >= 0 && young[t]) young_roots.push_back(t);
    }
  }
  const std::vector<bool> young_alive = model.reach(young_roots, &young);
  uint64_t young_garbage = 0;
  for (size_t i = 0; i < refs.size(); i++) {
    if (young[i] && !young_alive[i]) {
      young_garbage++;
      model.gone[i] = true;
    }
  }
  CHECK_EQ(heap.gc().collect(0), young_garbage);
  model.trim();  // older blocks only that garbage pointed at went by their counts
  for (size_t i = 0; i < refs.size(); i++) CHECK_EQ(alive(heap, refs[i]), !model.gone[i]);
  CHECK(heap.gc().generation(0).empty());
  check_full_collection("2");

  // Release everything; the rest is cycles and garbage.
  for (size_t i = 0; i < refs.size(); i++) {
    if (model.gone[i] || !model.held[i] || model.in_garbage[i]) continue;
    heap.release(heap.resolve(refs[i]));
  }
  // Garbage blocks may still be pointed at by cycles: cut, clear and
  // collect until nothing is left.
  for (int pass = 0; pass < 5; pass++) {
    for (Block* b : heap.gc().garbage()) {
      for (int s = 0; s < 4; s++) link(heap, b, s, nullptr);
    }
    heap.gc().clear_garbage();
    if (heap.gc().collect(2) == 0 && heap.gc().garbage().empty()) break;
  }
  CHECK_EQ(live(heap), 0u);
  const std::set<double> all_finalized(rec.finalized.begin(), rec.finalized.end());
  CHECK_EQ(all_finalized.size(), rec.finalized.size());
  size_t fin_blocks = 0;
  for (uint32_t t : types) fin_blocks += t == fin ? 1 : 0;
  CHECK_EQ(rec.finalized.size(), fin_blocks);
  CHECK_CONSISTENT(heap);
}

// gc.garbage is counted in O(1) (the statistics page reads it on every
// refresh): the count follows blocks freed behind the list's back, and a
// block found unreachable again while listed is listed once.
TEST(gc_garbage_count_follows_frees_and_lists_each_block_once) {
  Heap heap;
  heap.gc().enabled = false;
  const uint32_t legacy = new_type(heap, "Legacy", false, true);
  std::vector<Block*> kept;
  for (int i = 0; i < 1000; i++) {
    Block* b = node(heap, 1, legacy);
    link(heap, b, 0, b);
    heap.release(b);
    kept.push_back(b);
  }
  CHECK_EQ(heap.gc().collect(2), 1000u);
  CHECK_EQ(heap.gc().garbage_count(), 1000u);
  CHECK_EQ(heap.stats().gc.garbage, 1000u);
  // JavaScript releases the list's count and the slot's: freed behind the list.
  for (int i = 0; i < 999; i++) {
    link(heap, kept[i], 0, nullptr);
    heap.release(kept[i]);
  }
  CHECK_EQ(heap.gc().garbage_count(), 1u);
  CHECK_EQ(heap.gc().garbage().size(), 1u);
  CHECK_CONSISTENT(heap);
  // The last one loses the list's count only: unreachable again, listed once.
  Block* last = kept[999];
  heap.release(last);
  CHECK_EQ(last->refcount, 1u);
  CHECK_EQ(heap.gc().collect(2), 1u);
  CHECK_EQ(heap.gc().garbage_count(), 1u);
  CHECK(heap.gc().garbage().size() == 1 && heap.gc().garbage()[0] == last);
  CHECK_EQ(last->refcount, 2u);  // the list took its count again
  CHECK_CONSISTENT(heap);
  // Many rounds of listing and freeing: the entries of freed blocks go.
  for (int round = 0; round < 2000; round++) {
    Block* b = node(heap, 1, legacy);
    link(heap, b, 0, b);
    heap.release(b);
    heap.gc().collect(0);
    link(heap, b, 0, nullptr);
    heap.release(b);
  }
  CHECK_EQ(heap.gc().garbage_count(), 1u);
  CHECK_CONSISTENT(heap);
  link(heap, last, 0, nullptr);
  CHECK_EQ(heap.gc().clear_garbage(), 1u);
  CHECK_EQ(heap.gc().garbage_count(), 0u);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}

TEST(gc_saveall_garbage_is_counted_and_cleared) {
  Heap heap;
  heap.gc().enabled = false;
  heap.gc().debug = debug_flags::kSaveAll;
  for (int i = 0; i < 10; i++) {
    Block* a = node(heap);
    Block* b = node(heap);
    link(heap, a, 0, b);
    link(heap, b, 0, a);
    heap.release(a);
    heap.release(b);
  }
  CHECK_EQ(heap.gc().collect(2), 20u);
  CHECK_EQ(heap.gc().garbage_count(), 20u);
  CHECK_EQ(heap.stats().gc.garbage, 20u);
  CHECK_CONSISTENT(heap);
  heap.gc().debug = 0;
  CHECK_EQ(heap.gc().clear_garbage(), 20u);
  CHECK_EQ(heap.gc().garbage_count(), 0u);
  CHECK_EQ(heap.gc().collect(2), 20u);
  CHECK_EQ(live(heap), 0u);
  CHECK_CONSISTENT(heap);
}
