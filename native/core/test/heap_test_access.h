// HeapTestAccess: the friend of Heap, SmallAllocator, LargeAllocator and
// PageSource through which the tests of checks (verify_test.cc,
// malloc_report_test.cc) break a heap on purpose.
#pragma once

#include "heap.h"

namespace refheap {

// Friend of Heap, SmallAllocator, LargeAllocator and PageSource: the
// counters that no public call can get wrong.
struct HeapTestAccess {
  static SmallAllocator& small(Heap& h) { return h.small_; }
  static uint64_t& arenas_current(Heap& h) { return h.small_.arenas_current_; }
  static uint64_t& arenas_peak(Heap& h) { return h.small_.arenas_peak_; }
  static uint64_t& arenas_freed_total(Heap& h) { return h.small_.arenas_freed_total_; }
  static uint64_t& nonempty_buckets(Heap& h) { return h.small_.nonempty_buckets_; }
  static Arena*& bucket(Heap& h, unsigned k) { return h.small_.buckets_[k]; }
  static Arena*& cached_empty(Heap& h) { return h.small_.cached_empty_; }
  static Pool*& usable(Heap& h, unsigned size_class) { return h.small_.usable_pools_[size_class]; }
  static uint64_t& pools_used(Heap& h) { return h.small_.pools_used_; }
  static SizeClassCounters& class_counters(Heap& h, unsigned c) { return h.small_.classes_[c]; }
  static uint64_t& large_count(Heap& h) { return h.large_.count_; }
  static uint64_t& large_bytes(Heap& h) { return h.large_.bytes_; }
  static uint64_t& mapped_bytes(Heap& h) { return h.pages_.mapped_bytes_; }
  static uint64_t& peak_mapped_bytes(Heap& h) { return h.pages_.peak_mapped_bytes_; }
  static uint64_t& max_bytes(Heap& h) { return h.pages_.max_bytes_; }
  static uint64_t& live_blocks(Heap& h) { return h.live_blocks_; }
  static uint64_t& tracked_blocks(Heap& h) { return h.tracked_blocks_; }
  static uint64_t& allocated_bytes(Heap& h) { return h.allocated_bytes_; }
  static uint64_t& requested_bytes(Heap& h) { return h.requested_bytes_; }
  static uint64_t& allocations(Heap& h) { return h.allocations_; }
  static auto& views(Heap& h) { return h.views_; }
  static auto& dropped_views(Heap& h) { return h.dropped_views_; }
  static auto& finalizing(Heap& h) { return h.finalizing_; }
  static auto& pending_finalizers(Heap& h) { return h.pending_finalizers_; }
};

}  // namespace refheap
