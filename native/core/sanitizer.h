// Tells AddressSanitizer which bytes of a pool are not in use, so that a
// use-after-free inside a pool is reported even though the memory is still
// mapped. Compiles to nothing in ordinary builds.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define REFHEAP_ASAN 1
#endif

namespace refheap::sanitizer {

inline void poison(const void* address, size_t size) {
#ifdef REFHEAP_ASAN
  ASAN_POISON_MEMORY_REGION(address, size);
#else
  (void)address;
  (void)size;
#endif
}

inline void unpoison(const void* address, size_t size) {
#ifdef REFHEAP_ASAN
  ASAN_UNPOISON_MEMORY_REGION(address, size);
#else
  (void)address;
  (void)size;
#endif
}

}  // namespace refheap::sanitizer
