// The OS layer: the only code that maps and unmaps memory. It is small on
// purpose, so tests can make any mapping fail (fail_nth_mapping) and check
// that the heap above stays usable.
#pragma once

#include <cstddef>
#include <cstdint>

namespace refheap {

class OsPages {
 public:
  // Maps `size` bytes aligned to `alignment` (a power of two, at least a
  // page), readable and writable, zero-filled. Returns nullptr on failure.
  void* map(size_t size, size_t alignment);

  // Returns a mapping made by map(). `size` must be the size passed to map().
  void unmap(void* address, size_t size);

  // Tells the OS the pages are unused: their contents become zero and their
  // memory is returned, the mapping stays.
  void discard(void* address, size_t size);

  // Fault injection: the n-th map() from now fails (n >= 1); 0 disarms.
  void fail_nth_mapping(uint64_t n) { fail_countdown_ = n; }

  static size_t page_size();

 private:
  uint64_t fail_countdown_ = 0;
};

}  // namespace refheap
