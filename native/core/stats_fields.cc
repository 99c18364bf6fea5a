#include "stats_fields.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <type_traits>

namespace refheap {
namespace {

// Walks HeapStats in field order, calling emit(path, index, leaf, kind,
// field) with a reference to each field: writing the values and reading them
// back are the same walk, and names and values come from it too, so they stay
// in step. A path is its pieces joined with dots; `index` < 0 means no index.
// The size-class table is walked as kSizeClasses rows (a reader gives that
// many), and `rows` is its "length" field.
template <typename Stats, typename Emit>
void visit_fields(Stats& s, uint64_t& rows, Emit&& emit) {
  const auto number = FieldKind::kNumber;
#define REFHEAP_EMIT_COUNTER(field, path) emit(path, -1, nullptr, number, s.field);
  REFHEAP_HEAP_COUNTERS(REFHEAP_EMIT_COUNTER)
#undef REFHEAP_EMIT_COUNTER
  emit("sizeClasses", -1, "length", number, rows);
  std::conditional_t<std::is_const<Stats>::value, const SizeClassStats, SizeClassStats> unused{};
  for (unsigned row = 0; row < kSizeClasses; row++) {
    auto& c = row < s.size_classes.size() ? s.size_classes[row] : unused;
    const int r = static_cast<int>(row);
    emit("sizeClasses", r, "blockSize", number, c.block_size);
    emit("sizeClasses", r, "pools", number, c.pools);
    emit("sizeClasses", r, "blocksInUse", number, c.blocks_in_use);
    emit("sizeClasses", r, "blocksFree", number, c.blocks_free);
  }
  auto& gc = s.gc;
  emit("gc.enabled", -1, nullptr, FieldKind::kBoolean, gc.enabled);
  for (int g = 0; g < static_cast<int>(kGenerations); g++) emit("gc.counts", g, nullptr, number, gc.counts[g]);
  for (int g = 0; g < static_cast<int>(kGenerations); g++) emit("gc.thresholds", g, nullptr, number, gc.thresholds[g]);
  for (int g = 0; g < static_cast<int>(kGenerations); g++) {
    emit("gc.generations", g, "collections", number, gc.generations[g].collections);
    emit("gc.generations", g, "collected", number, gc.generations[g].collected);
    emit("gc.generations", g, "uncollectable", number, gc.generations[g].uncollectable);
  }
  emit("gc.frozen", -1, nullptr, number, gc.frozen);
  emit("gc.garbage", -1, nullptr, number, gc.garbage);
  emit("gc.pauses.lastMs", -1, nullptr, number, gc.pauses.last_ms);
  emit("gc.pauses.maxMs", -1, nullptr, number, gc.pauses.max_ms);
  emit("gc.pauses.totalMs", -1, nullptr, number, gc.pauses.total_ms);
}

// A value read from a page, as the field's type: a page may hold anything,
// and a double out of an integer's range must not be converted as it is.
template <typename T>
T field_value(double value) {
  if constexpr (std::is_same<T, bool>::value) {
    return value != 0;
  } else if constexpr (std::is_floating_point<T>::value) {
    return static_cast<T>(value);
  } else {
    if (!(value >= 0)) return 0;  // negative or NaN
    if (value >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(value);
  }
}

std::vector<StatsField> list_fields() {
  std::vector<StatsField> fields;
  const HeapStats blank;
  uint64_t rows = 0;
  visit_fields(blank, rows, [&](const char* prefix, int index, const char* leaf, FieldKind kind, const auto&) {
    std::string path = prefix;
    if (index >= 0) path += "." + std::to_string(index);
    if (leaf != nullptr) path += std::string(".") + leaf;
    // A path must fit its slot in the page; a longer one is a bug here, caught at the first heap.
    if (path.size() > kMaxFieldPath) std::abort();
    fields.push_back({path, kind});
  });
  return fields;
}

}  // namespace

const std::vector<StatsField>& stats_fields() {
  static const std::vector<StatsField> fields = list_fields();
  return fields;
}

void write_stats_values(const HeapStats& stats, double* values) {
  size_t i = 0;
  uint64_t rows = stats.size_classes.size();
  visit_fields(stats, rows, [&](const char*, int, const char*, FieldKind, const auto& field) {
    values[i++] = static_cast<double>(field);
  });
}

HeapStats read_stats_values(const double* values) {
  HeapStats stats;
  stats.size_classes.resize(kSizeClasses);
  size_t i = 0;
  uint64_t rows = 0;
  visit_fields(stats, rows, [&](const char*, int, const char*, FieldKind, auto& field) {
    field = field_value<std::remove_reference_t<decltype(field)>>(values[i++]);
  });
  stats.size_classes.resize(std::min<uint64_t>(rows, kSizeClasses));
  return stats;
}

}  // namespace refheap
