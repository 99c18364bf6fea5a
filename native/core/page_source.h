// Every byte a heap maps from the OS goes through its PageSource, which
// enforces maxBytes and keeps the mapped-bytes figures. Before it refuses a
// mapping for the limit it asks the reclaimer to unmap what is only kept as
// a cache (the small allocator's empty arena), then calls the pressure
// handler once (the heap runs a full collection there), reclaims again and
// checks again.
#pragma once

#include <cstddef>
#include <cstdint>

#include "os.h"
#include "types.h"

namespace refheap {

class PageSource {
 public:
  using PressureHandler = void (*)(void* context);
  using Reclaimer = void (*)(void* context);

  explicit PageSource(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // kOk and *out set, or kHeapLimit / kOsMemory with nothing mapped.
  Status map(size_t size, size_t alignment, void** out);
  void unmap(void* address, size_t size);
  void discard(void* address, size_t size) { os_.discard(address, size); }

  void set_pressure_handler(PressureHandler handler, void* context) {
    pressure_handler_ = handler;
    pressure_context_ = context;
  }
  void set_reclaimer(Reclaimer reclaimer, void* context) {
    reclaimer_ = reclaimer;
    reclaimer_context_ = context;
  }

  uint64_t mapped_bytes() const { return mapped_bytes_; }
  uint64_t peak_mapped_bytes() const { return peak_mapped_bytes_; }
  uint64_t max_bytes() const { return max_bytes_; }
  OsPages& os() { return os_; }

 private:
  friend struct HeapTestAccess;  // test/heap_test_access.h: tests break the heap on purpose
  bool fits(size_t size) const { return max_bytes_ == 0 || mapped_bytes_ + size <= max_bytes_; }
  void reclaim() {
    if (reclaimer_ != nullptr) reclaimer_(reclaimer_context_);
  }

  OsPages os_;
  uint64_t max_bytes_;  // 0: no cap
  uint64_t mapped_bytes_ = 0;
  uint64_t peak_mapped_bytes_ = 0;
  PressureHandler pressure_handler_ = nullptr;
  void* pressure_context_ = nullptr;
  Reclaimer reclaimer_ = nullptr;
  void* reclaimer_context_ = nullptr;
};

}  // namespace refheap
