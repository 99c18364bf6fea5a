// debugMallocStats(): the small-block allocator laid out like CPython's
// sys._debugmallocstats() (Objects/obmalloc.c, _PyObject_DebugMallocStats),
// and the arithmetic that checks it.
//
// A report comes from one of two sources:
// - walk_allocator() visits this process's arenas itself: every carved pool
//   is either on its arena's free-pool list or in use, and a pool in use has
//   its blocks counted from its header, its free list and its uncarved tail.
//   Its byte total is a real sum: it equals the arenas' size only if every
//   pool holds what its header says, and its counts must agree with the
//   counters stats() reports. That is why the total is worth printing.
// - report_of(HeapStats) uses the counters alone (the CLI reads another
//   process's statistics page and cannot walk its memory). Its sum checks
//   only that the page is consistent.
// Both are printed by format_report(), so the two look the same.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "config.h"
#include "stats.h"

namespace refheap {

class SmallAllocator;
class LargeAllocator;

struct MallocClassRow {
  uint64_t pools = 0;  // 0: no pool of this class, not printed
  uint64_t blocks_in_use = 0;
  uint64_t blocks_free = 0;
};

struct MallocReport {
  std::array<MallocClassRow, kSizeClasses> classes;
  uint64_t arenas_allocated_total = 0;
  uint64_t arenas_freed_total = 0;
  uint64_t arenas_peak = 0;
  uint64_t arenas_current = 0;
  uint64_t unused_pools = 0;        // on a free-pool list or never carved
  uint64_t in_use_bytes = 0;        // of blocks handed out
  uint64_t available_bytes = 0;     // of free blocks in pools in use, carved or not
  uint64_t header_bytes = 0;        // of the headers of pools in use
  uint64_t quantization_bytes = 0;  // the tail of each pool in use too short for a block
  uint64_t large_blocks = 0;
  uint64_t large_bytes = 0;
  uint64_t mapped_bytes = 0;
  std::string disagreement;  // what the source itself found wrong ("" if nothing)

  uint64_t arena_bytes() const { return arenas_current * kArenaSize; }
  uint64_t total() const;
  // "" when every byte of the arenas is accounted for exactly once, and the
  // mappings are the arenas and the large blocks; else what differs.
  std::string problem() const;
};

// `mapped_bytes`: what the page source has mapped (counted on its own).
// `counters`: the statistics the walk must agree with.
MallocReport walk_allocator(const SmallAllocator& small, const LargeAllocator& large, uint64_t mapped_bytes,
                            const HeapStats& counters);
MallocReport report_of(const HeapStats& stats);
std::string format_report(const MallocReport& report);

}  // namespace refheap
