// A GcHooks for the collector's tests: records every finalizer call, every
// collection event and every debug line, and runs a test's lambda inside a
// finalizer or an event (to resurrect, allocate, collect again, release, or
// close the heap there), the way JavaScript does in the addon.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "block.h"
#include "collector.h"
#include "heap.h"
#include "helpers.h"

namespace refheap::testing {

struct GcEvent {
  bool starting;
  CollectionInfo info;
};

class GcRecorder final : public GcHooks {
 public:
  explicit GcRecorder(Heap& heap) : heap_(heap) { heap.set_hooks(this); }
  ~GcRecorder() { heap_.set_hooks(nullptr); }
  GcRecorder(const GcRecorder&) = delete;
  GcRecorder& operator=(const GcRecorder&) = delete;

  std::vector<double> finalized;  // the ref of each block finalized, in call order
  std::vector<GcEvent> events;
  std::vector<std::string> lines;
  std::function<void(Block*)> on_finalize;
  std::function<void(bool, const CollectionInfo&)> on_event;
  std::function<void(const std::string&)> on_line;
  int refuse_finalizers = 0;  // this many calls fail as if the stack were exhausted
  int refuse_events = 0;      // the same for collection events

  bool run_finalizer(Block* block) override {
    if (refuse_finalizers > 0) {
      refuse_finalizers--;
      return false;
    }
    finalized.push_back(heap_.ref_of(block));
    if (on_finalize) on_finalize(block);
    return true;
  }
  bool collection_event(bool starting, const CollectionInfo& info) override {
    if (refuse_events > 0) {
      refuse_events--;
      return false;
    }
    events.push_back({starting, info});
    if (on_event) on_event(starting, info);
    return true;
  }
  void debug_line(const std::string& line) override {
    lines.push_back(line);
    if (on_line) on_line(line);
  }

  size_t times_finalized(double ref) const {
    return static_cast<size_t>(std::count(finalized.begin(), finalized.end(), ref));
  }
  // The info of every "stop" event.
  std::vector<CollectionInfo> stops() const {
    std::vector<CollectionInfo> out;
    for (const GcEvent& event : events) {
      if (!event.starting) out.push_back(event.info);
    }
    return out;
  }

 private:
  Heap& heap_;
};

// A block with `slots` empty slots and no data, or the run stops.
inline Block* node(Heap& heap, uint64_t slots = 1, uint32_t type = 0) { return must_alloc(heap, 0, slots, type); }

inline void link(Heap& heap, Block* from, uint64_t slot, Block* to) {
  if (heap.set_ref(from, slot, to) != Status::kOk) fail(__FILE__, __LINE__, "set_ref failed");
}

inline uint32_t new_type(Heap& heap, const char* name, bool has_finalizer, bool uncollectable) {
  uint32_t id = 0;
  if (heap.define_type(name, has_finalizer, uncollectable, &id) != Status::kOk) fail(__FILE__, __LINE__, "define_type failed");
  return id;
}

// The generation list (0-2, 3 for the permanent one) holding `block`, or -1.
inline int listed_in(const Heap& heap, const Block* block) {
  for (unsigned g = 0; g <= kPermanentGeneration; g++) {
    const std::vector<Block*>& list = heap.gc().generation(g);
    if (std::find(list.begin(), list.end(), block) != list.end()) return static_cast<int>(g);
  }
  return -1;
}

inline bool alive(const Heap& heap, double ref) { return heap.resolve(ref) != nullptr; }

inline uint64_t live(const Heap& heap) { return heap.stats().live_blocks; }


}  // namespace refheap::testing
