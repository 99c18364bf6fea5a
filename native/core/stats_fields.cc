#include "stats_fields.h"

#include <cstdlib>

namespace refheap {
namespace {

// Walks HeapStats in field order, calling emit(path, kind, value) for each
// field. Names and values both come from this walk, so they stay in step.
// A path is its pieces joined with dots; `index` < 0 means no index.
template <typename Emit>
void visit_fields(const HeapStats& s, Emit&& emit) {
  const auto number = FieldKind::kNumber;
#define REFHEAP_EMIT_COUNTER(field, path) emit(path, -1, nullptr, number, static_cast<double>(s.field));
  REFHEAP_HEAP_COUNTERS(REFHEAP_EMIT_COUNTER)
#undef REFHEAP_EMIT_COUNTER
  emit("sizeClasses", -1, "length", number, static_cast<double>(s.size_classes.size()));
  for (unsigned row = 0; row < kSizeClasses; row++) {
    const SizeClassStats c = row < s.size_classes.size() ? s.size_classes[row] : SizeClassStats{};
    const int r = static_cast<int>(row);
    emit("sizeClasses", r, "blockSize", number, static_cast<double>(c.block_size));
    emit("sizeClasses", r, "pools", number, static_cast<double>(c.pools));
    emit("sizeClasses", r, "blocksInUse", number, static_cast<double>(c.blocks_in_use));
    emit("sizeClasses", r, "blocksFree", number, static_cast<double>(c.blocks_free));
  }
  const GcStats& gc = s.gc;
  emit("gc.enabled", -1, nullptr, FieldKind::kBoolean, gc.enabled ? 1.0 : 0.0);
  for (int g = 0; g < static_cast<int>(kGenerations); g++) emit("gc.counts", g, nullptr, number, static_cast<double>(gc.counts[g]));
  for (int g = 0; g < static_cast<int>(kGenerations); g++) {
    emit("gc.thresholds", g, nullptr, number, static_cast<double>(gc.thresholds[g]));
  }
  for (int g = 0; g < static_cast<int>(kGenerations); g++) {
    emit("gc.generations", g, "collections", number, static_cast<double>(gc.generations[g].collections));
    emit("gc.generations", g, "collected", number, static_cast<double>(gc.generations[g].collected));
    emit("gc.generations", g, "uncollectable", number, static_cast<double>(gc.generations[g].uncollectable));
  }
  emit("gc.frozen", -1, nullptr, number, static_cast<double>(gc.frozen));
  emit("gc.garbage", -1, nullptr, number, static_cast<double>(gc.garbage));
  emit("gc.pauses.lastMs", -1, nullptr, number, gc.pauses.last_ms);
  emit("gc.pauses.maxMs", -1, nullptr, number, gc.pauses.max_ms);
  emit("gc.pauses.totalMs", -1, nullptr, number, gc.pauses.total_ms);
}

std::vector<StatsField> list_fields() {
  std::vector<StatsField> fields;
  visit_fields(HeapStats{}, [&](const char* prefix, int index, const char* leaf, FieldKind kind, double) {
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
  visit_fields(stats, [&](const char*, int, const char*, FieldKind, double value) { values[i++] = value; });
}

}  // namespace refheap
