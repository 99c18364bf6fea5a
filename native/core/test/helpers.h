// Small helpers shared by the core's tests: allocating without ceremony,
// building refs by hand, comparing whole stats snapshots, and stamping /
// checking data patterns so that any overlap or lost write shows up.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "block.h"
#include "check.h"
#include "heap.h"

namespace refheap::testing {

// A block, or the test run stops: every later line would dereference it.
inline Block* must_alloc(Heap& heap, uint64_t size, uint64_t slots = 0, uint64_t type = 0) {
  Block* block = nullptr;
  const Status status = heap.alloc(size, slots, type, &block);
  if (status != Status::kOk || block == nullptr) {
    std::fprintf(stderr, "  alloc(%llu, %llu, %llu) failed with status %d; cannot go on\n",
                 static_cast<unsigned long long>(size), static_cast<unsigned long long>(slots),
                 static_cast<unsigned long long>(type), static_cast<int>(status));
    std::abort();
  }
  return block;
}

// The three fields of a ref (block.h).
struct RefParts {
  uint64_t slot;
  uint32_t granule;
  uint16_t tag;
};

inline RefParts split_ref(double ref) {
  const uint64_t bits = static_cast<uint64_t>(ref);
  return {ref_slot(bits), ref_granule(bits), ref_tag(bits)};
}

inline double make_ref(uint64_t slot, uint64_t granule, uint64_t tag) {
  return static_cast<double>(compose_ref(slot, granule, tag));
}

inline uintptr_t address_of(const void* p) { return reinterpret_cast<uintptr_t>(p); }
inline uintptr_t arena_base_of(const void* p) { return address_of(p) & ~(uintptr_t{kArenaSize} - 1); }
inline uintptr_t pool_base_of(const void* p) { return address_of(p) & ~(uintptr_t{kPoolSize} - 1); }

// Fills the data area with bytes derived from `seed`; check_pattern tells
// whether they are all still there.
inline void stamp_pattern(Block* block, uint32_t seed) {
  uint8_t* data = data_of(block);
  const size_t size = data_size(block);
  for (size_t i = 0; i < size; i++) data[i] = static_cast<uint8_t>(seed * 131 + i * 7 + 1);
}

inline bool check_pattern(Block* block, uint32_t seed) {
  const uint8_t* data = data_of(block);
  const size_t size = data_size(block);
  for (size_t i = 0; i < size; i++) {
    if (data[i] != static_cast<uint8_t>(seed * 131 + i * 7 + 1)) return false;
  }
  return true;
}

// "" when every counter and every size-class row of the two snapshots match,
// else the name of the first field that differs.
inline std::string stats_difference(const HeapStats& a, const HeapStats& b) {
#define REFHEAP_COMPARE_COUNTER(field, js_name) \
  if (a.field != b.field) return #field ": " + std::to_string(a.field) + " vs " + std::to_string(b.field);
  REFHEAP_HEAP_COUNTERS(REFHEAP_COMPARE_COUNTER)
#undef REFHEAP_COMPARE_COUNTER
  if (a.size_classes.size() != b.size_classes.size()) return "number of size-class rows";
  for (size_t i = 0; i < a.size_classes.size(); i++) {
    const SizeClassStats& x = a.size_classes[i];
    const SizeClassStats& y = b.size_classes[i];
    if (x.block_size != y.block_size || x.pools != y.pools || x.blocks_in_use != y.blocks_in_use ||
        x.blocks_free != y.blocks_free) {
      return "size-class row for " + std::to_string(x.block_size) + "-byte blocks";
    }
  }
  return "";
}

// Block bytes a request needs, from the layout the specification fixes:
// an 8-byte header, or 16 with slots, then 8 bytes per slot, then the data.
inline size_t expected_block_bytes(size_t data, size_t slots) {
  return (slots == 0 ? 8 : 16) + 8 * slots + data;
}

inline size_t round_to_granule(size_t bytes) { return (bytes + kGranule - 1) / kGranule * kGranule; }

}  // namespace refheap::testing

#define CHECK_STATS_EQUAL(a, b)                                                           \
  do {                                                                                    \
    std::string check_difference = refheap::testing::stats_difference((a), (b));         \
    if (!check_difference.empty()) refheap::testing::fail(__FILE__, __LINE__, "stats differ: " + check_difference); \
  } while (0)
