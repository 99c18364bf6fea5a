// The generational cycle collector, after CPython's Python/gc.c (3.11's Modules/gcmodule.c).
//
// Blocks with slots are "tracked": each sits on the list of one of three
// generations (or the permanent one, after freeze()), its index on that list
// kept in its header's gc_word so it can leave in O(1) when it is freed.
// Reference counting frees everything but cycles; a collection finds the
// cycles among the blocks of generations 0..g:
//
//   1. gc_refs = refcount for each block; subtract one for every slot of a
//      collected block that points at another collected block. What is left
//      is the number of references from outside (JavaScript, older
//      generations, garbage): blocks with gc_refs > 0 are roots.
//   2. Everything reachable from a root is alive. The list is partitioned in
//      place: roots are moved to the front, then a scan over that front
//      swaps each newly reached block in after it (gc_word holds the index
//      of every block not reached yet, so the swap is O(1)). No recursion,
//      no allocation: the list itself is the work queue. (Steps 1-2 are
//      deduce_unreachable, as in CPython.)
//   3. Survivors move up one generation. Of the unreachable rest, blocks of
//      `uncollectable` types and all they reach are split off the same way:
//      the first go to `garbage`, all of them survive and count as
//      uncollectable (move_legacy_finalizers). Finalizers run for the
//      remaining blocks (finalize_garbage; each held with a count for its
//      call, Heap::finalize); then steps 1-2 run again over them, and
//      whatever a finalizer made reachable again survives uncounted
//      (handle_resurrected_objects). What is left has its slots cleared,
//      which frees it (delete_garbage; under DEBUG_SAVEALL it goes to
//      `garbage` instead); only these count as collected.
//
// The counts, as in CPython 3.11's gc_collect_main. A collection of g
// updates the counters when it starts, before any of its own work: count
// g+1 gains one, counts 0..g start over, so what finalizers allocate and
// free during the collection counts toward the next one. "Survived" for the
// 25% rule means the reachable set of step 2: a collection of generation 1
// adds its size to long_lived_pending; a full collection makes it
// long_lived_total (and pending 0), before uncollectable and resurrected
// blocks join generation 2, and whatever finalizers free after.
//
// JavaScript runs during a collection (callbacks, finalizers). While it
// does, the blocks under collection are on no generation list, so they are
// invisible to getObjects/getReferrers. A count reaching zero on one of them
// in the finalize phase takes it out of the collection, and it is freed by
// its count (its finalizer first, if it has not run), as CPython frees it;
// such blocks are not counted as collected. Anywhere else it only marks the
// block (kDeferred), and the collector frees it at the end.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "block.h"
#include "late_events.h"
#include "types.h"

namespace refheap {

class Heap;

namespace debug_flags {
constexpr uint64_t kStats = 1;
constexpr uint64_t kCollectable = 2;
constexpr uint64_t kUncollectable = 4;
constexpr uint64_t kSaveAll = 32;
constexpr uint64_t kLeak = kCollectable | kUncollectable | kSaveAll;
}  // namespace debug_flags

struct GenerationStats {
  uint64_t collections = 0;
  uint64_t collected = 0;
  uint64_t uncollectable = 0;
};

struct PauseStats {
  double last_ms = 0;
  double max_ms = 0;
  double total_ms = 0;
};

// What the collector and the heap call out to: JavaScript, in the addon.
// Implementations must not throw and must not unwind.
class GcHooks {
 public:
  // False when the finalizer could not be called at all (the JavaScript
  // stack is exhausted): the heap keeps the block and tries again later.
  virtual bool run_finalizer(Block* block) = 0;
  // False when it could not be called at all: the collector keeps the
  // event and delivers it late (late_events.h).
  virtual bool collection_event(bool starting, const CollectionInfo& info) = 0;
  virtual void debug_line(const std::string& line) = 0;

 protected:
  ~GcHooks() = default;
};

class Collector {
 public:
  explicit Collector(Heap& heap) : heap_(heap) {}
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Settings.
  bool enabled = true;
  std::array<uint64_t, kGenerations> thresholds = {kDefaultThresholds[0], kDefaultThresholds[1], kDefaultThresholds[2]};
  uint64_t debug = 0;  // debug_flags; any value is stored as given

  void track(Block* block, unsigned generation);
  void untrack(Block* block);

  // A tracked block was allocated: the generation an automatic collection
  // should collect now, or -1.
  int note_tracked_alloc();
  void note_tracked_free() {
    if (counts_[0] > 0) counts_[0]--;
  }
  // A block is freed: it leaves gc.garbage (its entry goes at a compaction).
  void note_freed(Block* block) {
    if (has_gc_bit(block, gc_bits::kGarbage)) {
      clear_gc_bits(block, gc_bits::kGarbage);
      garbage_count_--;
    }
  }

  // Collects `generation` and the younger ones; the unreachable blocks found
  // (collected + uncollectable). 0 when a collection is already running, or
  // its events are being told late (a gc callback cannot collect).
  uint64_t collect(unsigned generation);
  bool collecting() const { return collecting_; }
  // Clearing the garbage's slots: no JavaScript may run (heap.cc).
  bool deleting() const { return deleting_; }
  // A block of the collection under way reached a count of zero. In the
  // finalize phase it leaves the collection, to be freed by its count
  // (true); otherwise it is marked kDeferred and freed at the end (false).
  bool leave_on_zero(Block* block);

  // Collection events JavaScript could not be given: delivered late, in
  // order, at the next event and at the next call (Heap::Operation).
  bool events_waiting() const { return !late_.empty(); }
  void deliver_late_events();

  void freeze();
  void unfreeze();
  uint64_t freeze_count() const { return generations_[kPermanentGeneration].size(); }

  // The blocks of gc.garbage still live: JavaScript can release the list's
  // count on one itself, and then the block is freed behind the list's back.
  // The list is rebuilt by each call, into a vector the collector keeps.
  const std::vector<Block*>& garbage() const;
  // How many blocks garbage() would list, in O(1) (the statistics page asks often).
  uint64_t garbage_count() const { return garbage_count_; }
  uint64_t clear_garbage();

  const std::vector<Block*>& generation(unsigned g) const { return generations_[g]; }
  // gc.getObjects(): the blocks of generation g, or of 0..2 in order when g is kAllGenerations.
  static constexpr unsigned kAllGenerations = kGenerations;
  std::vector<Block*> objects(unsigned g) const;
  // The blocks of the collection under way (for Heap::verify; nullptr: left it).
  const std::vector<Block*>& collecting_list() const { return collecting_list_; }
  const std::array<uint64_t, kGenerations>& counts() const { return counts_; }
  const std::array<GenerationStats, kGenerations>& stats() const { return stats_; }
  const PauseStats& pauses() const { return pauses_; }

  // The heap is closing: forget every list (the memory goes with the heap).
  void forget_all();
  // For Heap::verify: the lists and indices agree with the block headers.
  std::string verify() const;

 private:
  // collect()'s phases, named as in CPython's Python/gc.c (collector.cc).
  size_t deduce_unreachable(unsigned generation);
  size_t move_legacy_finalizers(unsigned older, bool* finalizers_due, std::vector<std::string>* lines);
  bool finalize_garbage(std::vector<Block*>& blocks, bool finalizers_due, bool lines_written);
  void handle_resurrected_objects(unsigned older);
  uint64_t delete_garbage(std::vector<Block*>& blocks, unsigned generation);
  // Their steps.
  void gather(unsigned generation);
  void subtract_internal_refs(const std::vector<Block*>& blocks);
  size_t partition_reachable(std::vector<Block*>& blocks);
  void survive(std::vector<Block*>& blocks, size_t count, unsigned generation);
  void event(bool starting, const CollectionInfo& info);
  std::string block_line(const char* kind, const Block* block) const;
  void write_block_lines(const char* kind, const std::vector<Block*>& blocks, size_t begin, size_t end);
  void debug_line(const std::string& line);
  void add_to_garbage(Block* block);
  Block* listed(uint64_t ref) const;

  Heap& heap_;
  std::array<std::vector<Block*>, kGenerations + 1> generations_;
  std::vector<Block*> collecting_list_;  // the blocks of the collection under way
  std::vector<uint64_t> unfinalized_;    // refs whose finalizers could not be called, holding the call's count
  // Refs, not pointers (see garbage()); each entry holds one count on its
  // block, except those marked kUncounted (the count was at kMaxRefcount).
  // An entry whose block was freed stays until the list is compacted.
  std::vector<uint64_t> garbage_;
  uint64_t garbage_count_ = 0;  // entries whose block is alive: the blocks marked kGarbage
  mutable std::vector<Block*> live_garbage_;  // what garbage() returns
  std::array<uint64_t, kGenerations> counts_ = {0, 0, 0};
  std::array<GenerationStats, kGenerations> stats_;
  PauseStats pauses_;
  LateEvents late_;
  bool delivering_late_ = false;  // deliver_late_events is running (it runs JavaScript)
  bool start_late_ = false;        // the running collection's start was kept (or dropped)
  uint64_t long_lived_total_ = 0;    // survivors of the last full collection
  uint64_t long_lived_pending_ = 0;  // blocks moved into generation 2 since then
  bool collecting_ = false;
  bool finalize_phase_ = false;  // collecting_list_[gc_word] is each block's place
  bool deleting_ = false;
};

}  // namespace refheap
