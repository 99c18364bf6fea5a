// The tunables of the allocator, in one place, with the invariants that tie
// them together checked at compile time. Change a number here and the
// static_asserts tell you which other number has to move with it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace refheap {

// Every block starts on a granule boundary and every block size is a
// multiple of it; refs name blocks by granule index inside their arena.
constexpr size_t kGranule = 16;
constexpr unsigned kGranuleShift = 4;

// Pools are carved into blocks of one size class; arenas are carved into
// pools. Arenas are aligned to their size, so the arena of any small block
// is its address rounded down, and the pool likewise.
constexpr size_t kPoolSize = size_t{16} << 10;   // 16 KiB
constexpr size_t kArenaSize = size_t{1} << 20;   // 1 MiB
constexpr size_t kPoolsPerArena = kArenaSize / kPoolSize;

// Requests whose block (header + slots + data) is at most this many bytes
// come from pools; larger ones get a mapping of their own.
constexpr size_t kSmallLimit = 512;
constexpr size_t kSizeClasses = kSmallLimit / kGranule;

// Request limits from the specification (section 4).
constexpr size_t kMaxDataBytes = size_t{1} << 30;
constexpr size_t kMaxSlots = size_t{1} << 24;
constexpr uint32_t kMaxTypes = 256;   // type ids are 0..255: they live in one header byte
// allocMany: blocks per call (its result, a Float64Array of refs, is then 1 GiB).
constexpr uint64_t kMaxBatch = uint64_t{1} << 27;

// The collector (SPEC section 6): CPython's thresholds, and its limit on them.
constexpr unsigned kGenerations = 3;
constexpr unsigned kPermanentGeneration = 3;  // where freeze() puts blocks, out of every collection
constexpr uint64_t kDefaultThresholds[kGenerations] = {700, 10, 10};
constexpr uint64_t kMaxThreshold = (uint64_t{1} << 31) - 1;
// How many blocks ahead the collector's scans prefetch the blocks that slots
// point at (measured: bench/native, RESULTS.md).
constexpr size_t kPrefetchDistance = 8;

// A block's count is 32 bits; retain() refuses to go past this. A core test
// build lowers it (-DREFHEAP_MAX_REFCOUNT=3) so that the paths that must not
// wrap it (the collector's holds, gc.garbage's counts) run without 2^32
// slots pointing at one block.
#ifdef REFHEAP_MAX_REFCOUNT
constexpr uint32_t kMaxRefcount = REFHEAP_MAX_REFCOUNT;
#else
constexpr uint32_t kMaxRefcount = UINT32_MAX;
#endif

// The live statistics page is refreshed at most this often while the heap
// is busy; the clock is looked at once every kPageCheckOps calls from
// JavaScript, which keeps the cost per call to a decrement.
constexpr uint64_t kPagePublishIntervalNs = 10'000'000;  // 10 ms
constexpr uint32_t kPageCheckOps = 256;
// A refresh that takes longer waits this many times its own cost before
// the next, so the page never takes more than about a tenth of a busy
// heap's time, however large its statistics are to gather.
constexpr uint64_t kPageCostShare = 10;

// A block freed by its count inside a finalizer has its own finalizer run
// at once, nested in that one, as CPython's dealloc path runs __del__; up to
// this depth. Deeper ones wait until the level above returns, so a chain of
// any length is finalized in bounded native stack (CPython's trashcan).
constexpr uint32_t kMaxNestedFinalizers = 16;

// Collection events JavaScript could not be given (the stack was
// exhausted) wait for a later call, at most this many (late_events.h).
constexpr size_t kMaxLateEvents = 4096;

// A ref is slot:20 | granule:16 | tag:16, 52 bits, so it is always a safe
// integer in JavaScript and can be split with plain arithmetic there.
constexpr unsigned kRefTagBits = 16;
constexpr unsigned kRefGranuleBits = 16;
constexpr unsigned kRefSlotBits = 20;
constexpr size_t kRegistrySlots = size_t{1} << kRefSlotBits;

static_assert(kArenaSize % kPoolSize == 0, "pools must tile an arena exactly");
static_assert(kPoolsPerArena == 64, "the arena free-pool bucket bitmap is one 64-bit word");
static_assert((kArenaSize & (kArenaSize - 1)) == 0, "arenas are aligned to their power-of-two size");
static_assert((kPoolSize & (kPoolSize - 1)) == 0, "pools are found by masking an address");
static_assert((size_t{1} << kGranuleShift) == kGranule, "granule shift and size disagree");
static_assert(kArenaSize / kGranule <= (size_t{1} << kRefGranuleBits),
              "every granule of an arena must be nameable by a ref");
static_assert(kRefSlotBits + kRefGranuleBits + kRefTagBits <= 53,
              "refs must stay safe integers in JavaScript");
static_assert(kSmallLimit % kGranule == 0, "size classes are whole granules");

}  // namespace refheap
