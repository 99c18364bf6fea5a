// The vocabulary of the core: blocks, pools, arenas, large blocks, refs and
// the status codes every fallible operation returns.
//
//   arena (1 MiB, aligned to 1 MiB, mapped from the OS)
//   +-----------+-----------+-----------+-- ... --+-----------+
//   |  pool 0   |  pool 1   |  pool 2   |         |  pool 63  |
//   +-----------+-----------+-----------+-- ... --+-----------+
//   pool (16 KiB): one size class
//   +-------------+-------+-------+-------+-- ... ---+
//   | Pool header | block | block | block |  (uncarved)
//   +-------------+-------+-------+-------+-- ... ---+
//   block: | header (8, or 16 with slots) | slots (8 each) | data |
//
// A block larger than kSmallLimit lives alone in a mapping of its own,
// after a LargeBlock prefix. A block header stays readable for as long as
// its memory is mapped, even while the block is free, so that a ref can be
// checked against it (see the comment on refs in heap.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "config.h"

namespace refheap {

enum class Status : uint8_t {
  kOk = 0,
  kInvalidRef,        // a number that names no live block of this heap
  kOutOfRange,        // an offset, size, slot or count outside its range
  kHeapLimit,         // the mapping would pass the heap's maxBytes
  kOsMemory,          // the OS refused a mapping
  kRefcountOverflow,  // a count that would not fit 32 bits
  kHeapClosed,        // JavaScript closed the heap while the operation ran
};

namespace block_flags {
constexpr uint8_t kAllocated = 1 << 0;  // live; cleared when the block is freed
constexpr uint8_t kSlotted = 1 << 1;    // has a SlottedHeader and >= 1 slot
constexpr uint8_t kLarge = 1 << 2;      // lives in its own mapping
constexpr uint8_t kFinalized = 1 << 3;  // its type's finalizer has run
constexpr unsigned kPadShift = 4;       // high nibble: unused bytes at the end of a small block
}  // namespace block_flags

// Every block starts with this. 8 bytes.
struct BlockHeader {
  uint32_t refcount;  // exact count; the block is freed when it reaches 0
  uint16_t tag;       // bumped each time this memory is handed out: refs carry it
  uint8_t flags;      // block_flags
  uint8_t type;       // TypeId; 0 is the built-in "block"
};

// Blocks with slots carry 8 more bytes. 16 bytes in all.
struct SlottedHeader {
  BlockHeader base;
  uint32_t slot_word;   // low 25 bits: the number of slots; high 7: collector state (gc_bits)
  uint32_t gc_word;     // index in its generation's list; the collector's scratch while it runs
};

// The collector's state of a block with slots, in the high bits of slot_word.
namespace gc_bits {
constexpr uint32_t kSlotCountMask = (uint32_t{1} << 25) - 1;  // up to 2^24 slots
constexpr unsigned kGenerationShift = 25;                     // 0, 1, 2, or 3 (permanent)
constexpr uint32_t kGenerationMask = uint32_t{3} << kGenerationShift;
constexpr uint32_t kTracked = uint32_t{1} << 27;     // on its generation's list
constexpr uint32_t kCollecting = uint32_t{1} << 28;  // in the collection under way
constexpr uint32_t kUnknown = uint32_t{1} << 29;     // not yet found reachable (gc_word: its index)
constexpr uint32_t kDeferred = uint32_t{1} << 30;    // count reached zero while collecting
constexpr uint32_t kGarbage = uint32_t{1} << 31;     // listed in gc.garbage (counted there in O(1))
constexpr uint32_t kStateMask = ~kSlotCountMask;
}  // namespace gc_bits

static_assert(sizeof(BlockHeader) == 8, "plain block header is 8 bytes");
static_assert(sizeof(SlottedHeader) == 16, "slotted block header is 16 bytes");

using Block = BlockHeader;

struct Arena;

// The header at the start of every pool. Lives inside the arena, 48 bytes.
struct Pool {
  Block* free_list;      // freed blocks, LIFO, linked through their first data word
  Pool* next;            // used-pool list of the size class, or the arena's free-pool list
  Pool* prev;            // used-pool list of the size class
  Arena* arena;          // owning arena
  uint16_t used_blocks;  // blocks handed out and not yet freed
  uint16_t next_offset;  // first never-carved byte; blocks are carved lazily
  uint32_t arena_slot;   // registry slot of the arena, for making refs
  uint16_t size_class;   // index into the size-class table
  uint16_t block_size;   // bytes per block; 0 while the pool has no layout (never set up, or trimmed)
  uint16_t tag_seed;     // every tag of the current layout lies past it (small_allocator.cc)
};

constexpr size_t kPoolHeaderSize = 48;
static_assert(sizeof(Pool) == kPoolHeaderSize, "pool header layout changed");
static_assert(kPoolSize <= UINT16_MAX, "pool offsets and block counts are 16-bit");
static_assert(kPoolHeaderSize % kGranule == 0, "blocks must start on granules");

// Bookkeeping for one arena. Lives outside the arena, so that an arena with
// no pools in use can be unmapped without losing its place in any list.
struct Arena {
  uintptr_t base;          // first byte, aligned to kArenaSize
  uint32_t slot;           // registry slot: the high bits of its refs
  uint32_t free_pools;     // pools not in use: on free_pool_list or never carved
  uint32_t pools_carved;   // pools [0, pools_carved) have been set up at least once
  uint16_t tag_base;       // the registry slot's tag floor: this arena's tags start past it
  Pool* free_pool_list;    // emptied pools, linked through Pool::next
  Arena* bucket_next;      // the list of arenas with the same free_pools count
  Arena* bucket_prev;
  Arena* all_next;         // every arena of the heap
  Arena* all_prev;
};

// The prefix of a large block's mapping. 32 bytes, so the block that follows
// is granule-aligned.
struct LargeBlock {
  uint32_t data_size;      // exact data bytes requested (at most 2^30)
  uint32_t slot;           // registry slot: the high bits of its ref
  uint64_t mapping_size;   // bytes mapped, a multiple of the page size
  LargeBlock* next;        // every large block of the heap
  LargeBlock* prev;
  Block* block() { return reinterpret_cast<Block*>(this + 1); }
};
static_assert(sizeof(LargeBlock) == 32, "large block prefix layout changed");
static_assert(sizeof(LargeBlock) % kGranule == 0, "large blocks must start on granules");

}  // namespace refheap
