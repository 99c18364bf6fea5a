// The flat form of HeapStats: one named value per statistic, in a fixed
// order. heap.stats() in JavaScript and the live statistics page (and so
// every reader of it) are both built from this one list, so they cannot
// drift apart.
//
// Each field is named by its path in the JavaScript HeapStats object
// ("arenas.current", "gc.generations.1.collected"); a number in a path is an
// array index. The size-class table always has kSizeClasses rows, so the
// list is the same for every heap; "sizeClasses.length" says how many of
// them are in use (the rest are zero).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "stats.h"

namespace refheap {

enum class FieldKind : uint8_t {
  kNumber = 0,
  kBoolean = 1,  // 0 or 1
};

struct StatsField {
  std::string path;
  FieldKind kind;
};

// Longest path a field may have: the page stores paths in fixed-size slots.
constexpr size_t kMaxFieldPath = 47;

// The list, built once.
const std::vector<StatsField>& stats_fields();

// Writes the value of every field of stats_fields(), in order.
void write_stats_values(const HeapStats& stats, double* values);
// The HeapStats those values describe (a page read back: any value is
// taken, clamped to its field's range; "sizeClasses.length" rows are kept).
HeapStats read_stats_values(const double* values);

}  // namespace refheap
