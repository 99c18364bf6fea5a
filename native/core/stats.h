// The statistics a heap reports. The scalar counters are listed once, in
// REFHEAP_HEAP_COUNTERS, with their JavaScript names; the binding (and the
// live statistics page) walk that list instead of repeating it.
#pragma once

#include <cstdint>
#include <vector>

#include "config.h"

namespace refheap {

#define REFHEAP_HEAP_COUNTERS(X)                          \
  X(mapped_bytes, "mappedBytes")                          \
  X(peak_mapped_bytes, "peakMappedBytes")                 \
  X(allocated_bytes, "allocatedBytes")                    \
  X(requested_bytes, "requestedBytes")                    \
  X(live_blocks, "liveBlocks")                            \
  X(tracked_blocks, "trackedBlocks")                      \
  X(allocations, "allocations")                           \
  X(frees, "frees")                                       \
  X(arenas_current, "arenasCurrent")                      \
  X(arenas_peak, "arenasPeak")                            \
  X(arenas_allocated_total, "arenasAllocatedTotal")       \
  X(arenas_freed_total, "arenasFreedTotal")               \
  X(pools_used, "poolsUsed")                              \
  X(pools_free, "poolsFree")                              \
  X(large_blocks, "largeBlocks")                          \
  X(large_bytes, "largeBytes")

struct SizeClassStats {
  uint32_t block_size;
  uint64_t pools;
  uint64_t blocks_in_use;
  uint64_t blocks_free;
};

struct HeapStats {
#define REFHEAP_DECLARE_COUNTER(field, js_name) uint64_t field = 0;
  REFHEAP_HEAP_COUNTERS(REFHEAP_DECLARE_COUNTER)
#undef REFHEAP_DECLARE_COUNTER
  std::vector<SizeClassStats> size_classes;  // classes with at least one pool
};

}  // namespace refheap
