// The statistics a heap reports (SPEC section 7). The scalar counters are
// listed once, in REFHEAP_HEAP_COUNTERS, with their HeapStats paths;
// stats_fields.cc turns the whole struct into the flat list of named values
// that both heap.stats() and the live statistics page are made from.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "collector.h"
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
  X(arenas_current, "arenas.current")                      \
  X(arenas_peak, "arenas.peak")                            \
  X(arenas_allocated_total, "arenas.allocatedTotal")       \
  X(arenas_freed_total, "arenas.freedTotal")               \
  X(pools_used, "pools.used")                              \
  X(pools_free, "pools.free")                              \
  X(large_blocks, "largeBlocks.count")                          \
  X(large_bytes, "largeBlocks.bytes")

struct SizeClassStats {
  uint32_t block_size = 0;
  uint64_t pools = 0;
  uint64_t blocks_in_use = 0;
  uint64_t blocks_free = 0;
};

struct GcStats {
  bool enabled = false;  // automatic collection on, and threshold 0 above zero
  std::array<uint64_t, kGenerations> counts = {0, 0, 0};
  std::array<uint64_t, kGenerations> thresholds = {0, 0, 0};
  std::array<GenerationStats, kGenerations> generations;
  uint64_t frozen = 0;
  uint64_t garbage = 0;
  PauseStats pauses;
};

struct HeapStats {
#define REFHEAP_DECLARE_COUNTER(field, path) uint64_t field = 0;
  REFHEAP_HEAP_COUNTERS(REFHEAP_DECLARE_COUNTER)
#undef REFHEAP_DECLARE_COUNTER
  std::vector<SizeClassStats> size_classes;  // classes with at least one pool, smallest first
  GcStats gc;
};

}  // namespace refheap
