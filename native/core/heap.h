// A heap: reference-counted blocks on top of the pool and large-block
// allocators. This is the core's public interface; the Node binding only
// converts arguments and results around these calls.
//
// Refs. A ref is the number slot * 2^32 + granule * 2^16 + tag, where slot
// names the arena (or large block) in the process-wide Registry, granule is
// the block's offset in the arena in 16-byte units and tag is the 16-bit
// reuse counter kept in the block header. resolve() accepts a ref only when
// the registry says this heap owns the slot, the granule is the start of a
// carved block of a pool in use, the block is allocated and the tags match:
// so forged, freed and foreign refs are rejected after reading this heap's
// own headers only. Each reuse of a block's memory bumps its tag, so a
// freed block's ref stays invalid for 65,536 reuses of that memory; a pool
// set up for another size class starts its tags past all the old ones.
//
// Finalizers. A block whose type has a finalizer is not freed when its
// count reaches zero: it is queued, and once the release that dropped it has
// finished (so JavaScript never sees a half-freed graph) its finalizer runs,
// before that release returns: inside another finalizer too, nested, up to
// kMaxNestedFinalizers deep (beyond, it runs when the level above returns).
// One protocol for this path and the collector's (finalize()): the block is
// held with one count for the call, as CPython holds it, and giving that
// count back frees the block by its count if nothing else took one; if
// something did, the finalizer resurrected it.
//
// Re-entrancy. JavaScript can run inside any operation that may release or
// collect. If it closes the heap there, the heap is marked closed at once
// and its memory is released when the outermost operation returns
// (Operation, below).
//
// Freeing. When a count reaches zero the block's slots are released
// depth-first without recursion: the walk keeps its stack inside the dying
// blocks themselves (the slot just released holds the link to the parent),
// so a chain of any length frees in constant native stack.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "block.h"
#include "collector.h"
#include "large_allocator.h"
#include "malloc_report.h"
#include "page_source.h"
#include "registry.h"
#include "small_allocator.h"
#include "stats.h"
#include "stats_page.h"
#include "types.h"

namespace refheap {

class Heap {
 public:
  explicit Heap(uint64_t max_bytes = 0);
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  uint64_t id() const { return id_; }

  // A new block with one count: `size` zeroed data bytes and `slots` empty
  // slots. kOutOfRange for sizes, slot counts or types out of range.
  Status alloc(uint64_t size, uint64_t slots, uint64_t type, Block** out);

  // `count` blocks as by `count` calls of alloc, their refs written to
  // `refs`. On failure the blocks already made are released again.
  Status alloc_many(uint64_t count, uint64_t size, uint64_t slots, uint64_t type, double* refs);

  // The live block `ref` names in this heap, or nullptr. Accepts any double.
  Block* resolve(double ref) const;
  double ref_of(const Block* block) const { return static_cast<double>(ref_bits(block)); }
  // The same for a ref as an integer, the form slots hold (0: nullptr).
  // Inline: the collector calls it for every slot it scans.
  Block* resolve_bits(uint64_t bits) const {
    MappingKind kind;
    void* mapping = Registry::lookup(ref_slot(bits), id_, &kind);  // rejects 0 and >= 2^52
    if (mapping == nullptr) return nullptr;
    const uint32_t granule = ref_granule(bits);
    const uint16_t tag = ref_tag(bits);
    if (kind == MappingKind::kLarge) return large_.resolve(static_cast<LargeBlock*>(mapping), granule, tag);
    return small_.resolve(static_cast<const Arena*>(mapping), granule, tag);
  }
  // Starts loading the header a slot word names, checking nothing (a prefetch
  // of a bad address is harmless); for the collector's scans.
  void prefetch_bits(uint64_t bits) const {
    const RegistryEntry* table = g_registry_table.load(std::memory_order_relaxed);
    if (bits == 0 || table == nullptr) return;
    const RegistryEntry& entry = table[ref_slot(bits)];
    // Only this heap's mappings: another thread may free another heap's Arena.
    if (entry.owner.load(std::memory_order_relaxed) != id_) return;
    const uintptr_t word = entry.object.load(std::memory_order_relaxed);
    if (word == 0) return;
    uintptr_t address;
    if (word & 1) address = (word & ~uintptr_t{1}) + sizeof(LargeBlock);
    else address = reinterpret_cast<const Arena*>(word)->base + (uintptr_t{ref_granule(bits)} << kGranuleShift);
    __builtin_prefetch(reinterpret_cast<const void*>(address), 1, 3);
  }
  uint64_t ref_bits(const Block* block) const;

  Status retain(Block* block);
  void release(Block* block);
  // A release asked for by a caller that must hold a count (JavaScript): at
  // zero the block is only waiting (for its finalizer, the collector, or its
  // views), the caller holds nothing, and the count must not wrap below zero.
  Status release_held(Block* block) {
    if (block->refcount == 0) return Status::kInvalidRef;
    release(block);
    return Status::kOk;
  }

  // release_held each of `refs` in order, as JavaScript's releaseMany does:
  // at the first that names no live block held by a count, kInvalidRef with
  // its index in `*failed_at` (those before it stay released); kHeapClosed
  // as soon as a finalizer run by one of them closes the heap.
  Status release_many(const double* refs, size_t count, size_t* failed_at);

  Status set_ref(Block* block, uint64_t slot, Block* target);
  Status get_ref(Block* block, uint64_t slot, Block** out) const;

  // kOk when [offset, offset + length) lies inside the block's data.
  static Status check_range(const Block* block, uint64_t offset, uint64_t length) {
    const uint64_t size = data_size(block);
    return offset > size || length > size - offset ? Status::kOutOfRange : Status::kOk;
  }
  // The data bytes [offset, offset + length), checked: copied out, or copied
  // in from `bytes`, which may overlap them (a view of this very block).
  static Status read_data(const Block* block, uint64_t offset, void* out, uint64_t length) {
    if (check_range(block, offset, length) != Status::kOk) return Status::kOutOfRange;
    if (length != 0) std::memcpy(out, data_of(block) + offset, length);
    return Status::kOk;
  }
  static Status write_data(Block* block, uint64_t offset, const void* bytes, uint64_t length) {
    if (check_range(block, offset, length) != Status::kOk) return Status::kOutOfRange;
    if (length != 0) std::memmove(data_of(block) + offset, bytes, length);
    return Status::kOk;
  }
  // A scalar at `offset` in the data: unaligned, in the machine's byte order.
  template <typename T>
  static Status load(const Block* block, uint64_t offset, T* out) {
    if (check_range(block, offset, sizeof(T)) != Status::kOk) return Status::kOutOfRange;
    std::memcpy(out, data_of(block) + offset, sizeof(T));
    return Status::kOk;
  }
  template <typename T>
  static Status store(Block* block, uint64_t offset, T value) {
    if (check_range(block, offset, sizeof(T)) != Status::kOk) return Status::kOutOfRange;
    std::memcpy(data_of(block) + offset, &value, sizeof(T));
    return Status::kOk;
  }

  // Types: 0 is the built-in "block".
  Status define_type(const std::string& name, bool has_finalizer, bool uncollectable, uint32_t* out);
  const std::string* type_name(uint64_t type) const;
  bool has_finalizer(const Block* block) const { return types_[block->type].has_finalizer; }
  bool is_uncollectable(const Block* block) const { return types_[block->type].uncollectable; }
  bool any_special_type() const {
    for (const TypeInfo& t : types_) if (t.has_finalizer || t.uncollectable) return true;
    return false;
  }

  // Each tracked block of generations 0-2 with a slot pointing at one of
  // `targets`, once, in generation order.
  std::vector<Block*> referrers(const std::vector<Block*>& targets) const;
  // The blocks the slots of `sources` point at, in slot order, duplicates
  // kept, empty slots skipped (gc.getReferents).
  std::vector<Block*> referents(const std::vector<Block*>& sources) const;

  Collector& gc() { return collector_; }
  const Collector& gc() const { return collector_; }
  void set_hooks(GcHooks* hooks) { hooks_ = hooks; }
  GcHooks* hooks() const { return hooks_; }

  // Runs `block`'s finalizer, once, holding a count for the call, then gives
  // that count back (which frees the block if it was the last): kSurvived
  // when another count was taken meanwhile. kNotCalled: the finalizer could
  // not be called (GcHooks); the block is as it was, but for the call's
  // count, which it still holds, and it is not marked finalized.
  enum class Finalized { kGone, kSurvived, kNotCalled };
  Finalized finalize(Block* block);
  // A count reached zero: free the block, or queue its finalizer, or (while
  // a collection holds it) leave it to the collector.
  void on_zero(Block* block);
  // Runs the queued finalizers above `floor` in the queue (those the
  // release that called it queued), or leaves them to the level above.
  // The collector calls these two and finalize(): finalization is the heap's.
  void run_finalizers(size_t floor = 0);

  // Views: JavaScript holds a pointer into the block's data, so the block
  // must outlive the view even if JavaScript releases the view's count
  // itself. add_view takes a count and pins the block; a pinned block whose
  // count reaches zero stays allocated (count 0) until its last view goes.
  Status add_view(Block* block);
  // The view was collected by V8. No JavaScript may run there (a finalizer
  // could), so the count is given back at the start of the next operation.
  void drop_view_later(Block* block) { dropped_views_.push_back(block); }

  // What waits for the next call from JavaScript: releases put off (views
  // V8 collected), finalizers and collection events JavaScript could not be
  // given (the stack was exhausted). The addon also calls catch_up from a
  // fresh stack, so they need not wait for a call that may never come; on a
  // closed heap it delivers the collection events alone.
  bool has_work_waiting() const {
    return !dropped_views_.empty() || !finalizers_to_retry_.empty() || collector_.events_waiting();
  }
  void catch_up();

  // Brackets every call from JavaScript. Entering the outermost one does
  // what waits (catch_up); leaving it runs a close() requested meanwhile.
  class Operation {
   public:
    explicit Operation(Heap& heap);
    ~Operation();
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;

   private:
    Heap& heap_;
  };

  HeapStats stats() const;
  // debugMallocStats(): the report from a walk of the arenas (malloc_report.h).
  MallocReport malloc_report() const { return walk_allocator(small_, large_, pages_.mapped_bytes(), stats()); }
  size_t trim();

  // The live statistics page (stats_page.h). Once published, the page is
  // brought up to date every kPagePublishIntervalNs or so while JavaScript
  // calls into the heap (checked every kPageCheckOps calls), at every
  // take_snapshot(), and whenever publish_now() is called; close() removes it.
  bool publish_to(const std::string& dir, const std::string& name, std::string* error);
  bool published() const { return page_ != nullptr; }
  void publish_now();
  // The statistics as stats_fields() values (`values` holds that many); the
  // page, if any, gets the very same snapshot.
  void take_snapshot(double* values);
  // A call that did the work of `calls` calls (allocMany, releaseMany): the
  // page's clock is looked at as often as if they had been made one by one.
  void note_bulk_call(uint64_t calls) {
    ops_until_page_check_ -= static_cast<int64_t>(std::min<uint64_t>(calls, kPageCheckOps));
  }

  // Frees every block and unmaps everything, without running a finalizer
  // (SPEC 2: also those waiting to be tried again). The heap accepts no more
  // calls; collection events still waiting survive it (catch_up).
  void close();
  bool closed() const { return closed_; }

  // Full consistency check (expensive; for tests). "" when consistent,
  // otherwise a description of the first problem found.
  std::string verify() const;

  PageSource& pages() { return pages_; }

 private:
  friend struct HeapTestAccess;  // test/heap_test_access.h: tests break the heap on purpose

  struct TypeInfo {
    std::string name;
    bool has_finalizer;
    bool uncollectable;
  };

  // Whether `block`, whose count just reached zero, can be freed now.
  bool can_free_now(Block* block);
  void count_freed(Block* block);
  void free_block(Block* block);
  void free_cascade(Block* dying);
  void release_memory();
  void page_tick();

  // The heap counts as a user of the registry (Registry::unload) from its
  // first member's construction to its last member's destruction. First.
  struct RegistryUser {
    uint64_t id = Registry::open_heap();
    RegistryUser() = default;
    RegistryUser(const RegistryUser&) = delete;
    RegistryUser& operator=(const RegistryUser&) = delete;
    ~RegistryUser() { Registry::close_heap(); }
  } registry_user_;
  uint64_t id_;
  bool closed_ = false;
  PageSource pages_;
  SmallAllocator small_;
  LargeAllocator large_;
  std::vector<TypeInfo> types_{{"block", false, false}};
  Collector collector_{*this};
  GcHooks* hooks_ = nullptr;
  // Counts reached zero, finalizers not yet run. Refs, not pointers: JavaScript
  // can retain and release a queued block, which queues it a second time.
  std::vector<uint64_t> pending_finalizers_;
  std::vector<Block*> dropped_views_;       // see drop_view_later
  std::vector<uint64_t> finalizers_to_retry_;  // refs whose finalizers could not be called (GcHooks)
  std::unordered_map<Block*, uint32_t> views_;  // live views per block (add_view)
  std::vector<Block*> finalizing_;          // blocks whose finalizers run now, innermost last
  uint32_t finalizer_depth_ = 0;            // run_finalizers calls on the stack
  uint32_t depth_ = 0;                      // Operations on the stack
  bool memory_released_ = false;
  uint64_t allocated_bytes_ = 0;
  uint64_t requested_bytes_ = 0;
  uint64_t live_blocks_ = 0;
  uint64_t tracked_blocks_ = 0;
  uint64_t allocations_ = 0;
  uint64_t frees_ = 0;
  std::unique_ptr<StatsPage> page_;
  int64_t ops_until_page_check_ = kPageCheckOps;
  uint64_t next_publish_ns_ = 0;  // CLOCK_MONOTONIC_COARSE; page_tick() publishes from then on
};

}  // namespace refheap
