// Where things are inside a block. This is the one definition of the block
// layout: everything that needs an offset (the allocator, the heap, the
// binding, a future JavaScript fast path) asks these functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sanitizer.h"
#include "types.h"

namespace refheap {

// A ref names a block: slot:20 | granule:16 | tag:16 (config.h), the
// registry slot of its mapping, the granule where the block starts inside
// it, and the tag the block had when the ref was made. Only these functions
// take a ref apart or put one together.
constexpr unsigned kRefGranuleShift = kRefTagBits;
constexpr unsigned kRefSlotShift = kRefTagBits + kRefGranuleBits;
inline uint32_t ref_slot(uint64_t ref) { return static_cast<uint32_t>(ref >> kRefSlotShift); }
inline uint32_t ref_granule(uint64_t ref) {
  return static_cast<uint32_t>(ref >> kRefGranuleShift) & ((uint32_t{1} << kRefGranuleBits) - 1);
}
inline uint16_t ref_tag(uint64_t ref) { return static_cast<uint16_t>(ref & ((uint32_t{1} << kRefTagBits) - 1)); }
inline uint64_t compose_ref(uint64_t slot, uint64_t granule, uint64_t tag) {
  return slot << kRefSlotShift | granule << kRefGranuleShift | tag;
}

inline bool is_slotted(const Block* b) { return (b->flags & block_flags::kSlotted) != 0; }
inline bool is_finalized(const Block* b) { return (b->flags & block_flags::kFinalized) != 0; }
inline bool is_large(const Block* b) { return (b->flags & block_flags::kLarge) != 0; }
inline bool is_allocated(const Block* b) { return (b->flags & block_flags::kAllocated) != 0; }

inline size_t header_size(bool slotted) { return slotted ? sizeof(SlottedHeader) : sizeof(BlockHeader); }

inline uint32_t slot_count(const Block* b) {
  return is_slotted(b) ? reinterpret_cast<const SlottedHeader*>(b)->slot_word & gc_bits::kSlotCountMask : 0;
}

// The collector's view of a block with slots.
inline SlottedHeader* slotted(Block* b) { return reinterpret_cast<SlottedHeader*>(b); }
inline uint32_t gc_state(const Block* b) {
  return reinterpret_cast<const SlottedHeader*>(b)->slot_word & gc_bits::kStateMask;
}
inline bool has_gc_bit(const Block* b, uint32_t bit) { return is_slotted(b) && (gc_state(b) & bit) != 0; }
inline void set_gc_bits(Block* b, uint32_t bits) { slotted(b)->slot_word |= bits; }
inline void clear_gc_bits(Block* b, uint32_t bits) { slotted(b)->slot_word &= ~bits; }
inline unsigned generation_of(const Block* b) { return (gc_state(b) & gc_bits::kGenerationMask) >> gc_bits::kGenerationShift; }

// A slot holds its target's ref (the 52-bit number, 0 when empty), not a
// pointer: every read of a slot goes through Heap::resolve_bits, so a slot
// whose target was freed behind its back (JavaScript can release a count it
// does not own) reads as empty instead of leading into freed memory.
using SlotWord = uint64_t;

inline SlotWord* slots_of(Block* b) {
  return reinterpret_cast<SlotWord*>(reinterpret_cast<char*>(b) + sizeof(SlottedHeader));
}

inline uint8_t* data_of(Block* b) {
  const uint32_t slots = slot_count(b);
  return reinterpret_cast<uint8_t*>(b) + header_size(slots != 0) + size_t{slots} * sizeof(SlotWord);
}
inline const uint8_t* data_of(const Block* b) { return data_of(const_cast<Block*>(b)); }

// Bytes a block of this shape needs before rounding to its size class.
inline size_t block_bytes_needed(size_t data_size, size_t slots) {
  return header_size(slots != 0) + slots * sizeof(SlotWord) + data_size;
}

inline Pool* pool_of(const Block* b) {
  return reinterpret_cast<Pool*>(reinterpret_cast<uintptr_t>(b) & ~(uintptr_t{kPoolSize} - 1));
}

inline LargeBlock* large_of(Block* b) { return reinterpret_cast<LargeBlock*>(b) - 1; }
inline const LargeBlock* large_of(const Block* b) { return reinterpret_cast<const LargeBlock*>(b) - 1; }

// Exact data bytes the block was allocated with.
inline size_t data_size(const Block* b) {
  if (is_large(b)) return large_of(b)->data_size;
  const size_t pad = b->flags >> block_flags::kPadShift;
  return pool_of(b)->block_size - block_bytes_needed(0, slot_count(b)) - pad;
}

// The word a free block uses to link to the next free block of its pool.
inline Block** free_link_of(Block* b) {
  return reinterpret_cast<Block**>(reinterpret_cast<char*>(b) + sizeof(BlockHeader));
}

// The next free block, read by a check that walks a free list: the link is
// poisoned for AddressSanitizer (sanitizer.h), as the rest of a free block.
inline Block* next_free(const Block* b) {
  Block** link = free_link_of(const_cast<Block*>(b));
  sanitizer::unpoison(link, sizeof(Block*));
  Block* next = *link;
  sanitizer::poison(link, sizeof(Block*));
  return next;
}

inline unsigned size_class_of(size_t block_bytes) {
  return static_cast<unsigned>((block_bytes - 1) >> kGranuleShift);
}
inline size_t class_block_size(unsigned size_class) { return (size_t{size_class} + 1) * kGranule; }
// ceil(2^32 / block size): x / size == (x * reciprocal) >> 32 for every
// offset x inside a pool, so checking a ref needs no division.
inline uint64_t class_reciprocal(size_t block_size) { return ((uint64_t{1} << 32) + block_size - 1) / block_size; }
inline size_t blocks_per_pool(unsigned size_class) {
  return (kPoolSize - kPoolHeaderSize) / class_block_size(size_class);
}

// The smallest block must hold a header and a free-list link.
static_assert(sizeof(BlockHeader) + sizeof(Block*) <= kGranule, "smallest class cannot be freed");

}  // namespace refheap
