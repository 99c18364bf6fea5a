// Under AddressSanitizer, memory of a pool that holds no live block is
// poisoned, so a use-after-free inside a still-mapped pool is reported.
// The 8-byte header of a freed block stays readable: refs are checked
// against it. Without AddressSanitizer there is nothing to test here.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

#include <vector>

#include "check.h"
#include "heap.h"
#include "helpers.h"

using namespace refheap;
using namespace refheap::testing;

namespace {

// Counts the poisoned bytes of [address, address + size).
size_t poisoned_bytes(const void* address, size_t size) {
  size_t poisoned = 0;
  for (size_t i = 0; i < size; i++) poisoned += __asan_address_is_poisoned(static_cast<const char*>(address) + i);
  return poisoned;
}

}  // namespace

TEST(sanitizer_freed_block_is_poisoned_except_its_header) {
  Heap heap;
  Block* neighbour = must_alloc(heap, 56);  // keeps the pool in use
  Block* block = must_alloc(heap, 56, 0);
  Block* slotted = must_alloc(heap, 40, 3);
  const size_t block_bytes = pool_of(block)->block_size;
  const size_t slotted_bytes = pool_of(slotted)->block_size;
  CHECK_EQ(poisoned_bytes(block, block_bytes), size_t{0});
  CHECK_EQ(poisoned_bytes(slotted, slotted_bytes), size_t{0});
  const double ref = heap.ref_of(block);
  heap.release(block);
  heap.release(slotted);
  // The data (and the slots) are poisoned, the header is not.
  CHECK_EQ(poisoned_bytes(block, sizeof(BlockHeader)), size_t{0});
  CHECK_EQ(poisoned_bytes(reinterpret_cast<char*>(block) + sizeof(BlockHeader), block_bytes - sizeof(BlockHeader)),
           block_bytes - sizeof(BlockHeader));
  CHECK_EQ(poisoned_bytes(slotted, sizeof(BlockHeader)), size_t{0});
  CHECK_EQ(poisoned_bytes(reinterpret_cast<char*>(slotted) + sizeof(BlockHeader), slotted_bytes - sizeof(BlockHeader)),
           slotted_bytes - sizeof(BlockHeader));
  // Resolving the stale ref reads the header only (ASan would stop otherwise).
  CHECK(heap.resolve(ref) == nullptr);
  // Handed out again: the whole block is usable.
  Block* again = must_alloc(heap, 56);
  CHECK(again == block);
  CHECK_EQ(poisoned_bytes(again, block_bytes), size_t{0});
  heap.release(again);
  heap.release(neighbour);
}

TEST(sanitizer_uncarved_and_emptied_pool_memory_is_poisoned) {
  Heap heap;
  Block* first = must_alloc(heap, 24);  // a 32-byte block
  Pool* pool = pool_of(first);
  char* base = reinterpret_cast<char*>(pool);
  // Never carved: everything after the first block.
  CHECK_EQ(poisoned_bytes(base + kPoolHeaderSize + 32, kPoolSize - kPoolHeaderSize - 32),
           kPoolSize - kPoolHeaderSize - 32);
  // The pool header stays readable: resolve reads it for any ref.
  CHECK_EQ(poisoned_bytes(base, kPoolHeaderSize), size_t{0});
  // Emptied, then set up for 128-byte blocks: only the new block is usable.
  heap.release(first);
  Block* other = must_alloc(heap, 120);
  CHECK(pool_of(other) == pool);
  CHECK_EQ(poisoned_bytes(other, 128), size_t{0});
  CHECK_EQ(poisoned_bytes(base + kPoolHeaderSize + 128, kPoolSize - kPoolHeaderSize - 128),
           kPoolSize - kPoolHeaderSize - 128);
  heap.release(other);
  CHECK_CONSISTENT(heap);  // verify walks free lists through poisoned links
}

TEST(sanitizer_trimmed_pool_is_poisoned_again_when_reused) {
  Heap heap;
  Block* keeper = must_alloc(heap, 8);
  std::vector<Block*> blocks;
  for (int i = 0; i < 300; i++) blocks.push_back(must_alloc(heap, 40));
  Pool* pool = pool_of(blocks[0]);
  CHECK(pool != pool_of(keeper));
  for (Block* block : blocks) heap.release(block);
  CHECK(heap.trim() > 0);
  Block* reused = must_alloc(heap, 200);  // another class, into the trimmed pool
  CHECK(pool_of(reused) == pool);
  char* base = reinterpret_cast<char*>(pool);
  CHECK_EQ(poisoned_bytes(reused, 208), size_t{0});
  CHECK_EQ(poisoned_bytes(base + kPoolHeaderSize + 208, kPoolSize - kPoolHeaderSize - 208),
           kPoolSize - kPoolHeaderSize - 208);
  heap.release(reused);
  heap.release(keeper);
  CHECK_CONSISTENT(heap);
}

#endif  // __SANITIZE_ADDRESS__
