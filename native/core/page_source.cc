#include "page_source.h"

namespace refheap {

Status PageSource::map(size_t size, size_t alignment, void** out) {
  if (!fits(size)) reclaim();
  if (!fits(size) && pressure_handler_ != nullptr) {
    pressure_handler_(pressure_context_);
    if (!fits(size)) reclaim();  // what the handler freed may be sitting in the cache
  }
  if (!fits(size)) return Status::kHeapLimit;
  void* address = os_.map(size, alignment);
  if (address == nullptr) return Status::kOsMemory;
  mapped_bytes_ += size;
  if (mapped_bytes_ > peak_mapped_bytes_) peak_mapped_bytes_ = mapped_bytes_;
  *out = address;
  return Status::kOk;
}

void PageSource::unmap(void* address, size_t size) {
  os_.unmap(address, size);
  mapped_bytes_ -= size;
}

}  // namespace refheap
