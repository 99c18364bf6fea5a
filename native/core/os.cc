#include "os.h"

#include <sys/mman.h>
#include <unistd.h>

#include "sanitizer.h"

namespace refheap {

size_t OsPages::page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

void* OsPages::map(size_t size, size_t alignment) {
  if (fail_countdown_ != 0 && --fail_countdown_ == 0) return nullptr;

  // Over-map by the alignment, then give back the misaligned head and tail.
  const size_t span = alignment > page_size() ? size + alignment : size;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  if (span == size) return raw;

  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + alignment - 1) & ~(uintptr_t{alignment} - 1);
  const size_t head = aligned - start;
  const size_t tail = span - head - size;
  if (head != 0) munmap(raw, head);
  if (tail != 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  return reinterpret_cast<void*>(aligned);
}

void OsPages::unmap(void* address, size_t size) {
  sanitizer::unpoison(address, size);
  munmap(address, size);
}

void OsPages::discard(void* address, size_t size) {
  madvise(address, size, MADV_DONTNEED);
}

}  // namespace refheap
