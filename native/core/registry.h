// The process-wide registry of mappings. Every arena and every large block
// owns one registry slot while it is mapped; the slot number is the high
// part of the refs of its blocks. A slot records which heap owns it, so a
// ref from another heap (in any thread) is rejected by comparing one word,
// before any of the mapping's memory is touched.
//
// Slots are handed out in increasing order and a released slot is reused
// only once all 2^20 have been used, so a ref into an unmapped arena stays
// invalid for as long as possible. When a slot is reused after all, an arena
// taking it starts its tags past those of the slot's earlier arenas (the
// tag floor), so their stale refs stay invalid still.
//
// Unloading. Node unloads the addon (dlclose) after the last worker that
// loaded it ends, when the main thread never did, and the next worker loads
// a fresh copy: each copy must give back its table (24 MiB of address space)
// and its released FIFO, or every worker generation leaks them. But the
// static destructor that does it runs at process exit too, while workers
// may still run and use the registry. So the state itself is trivially
// destructible (nothing is freed behind a thread's back), and the one
// static destructor calls unload(), which frees the table and the FIFO only
// when nothing can touch them: no slot claimed and no heap open (an open
// heap without a mapping still looks refs up in the table). At dlclose
// that always holds (Node has finalized the copy's heaps); at exit with a
// worker still running it does not, and everything stays as it was. After
// an unload that freed them every claim fails, as in a full registry (the
// caller's kOsMemory); so does a claim whose mmap of the table is refused.
#pragma once

#include <atomic>
#include <cstdint>

#include "config.h"

namespace refheap {

enum class MappingKind : uint8_t { kArena = 0, kLarge = 1 };

struct RegistryEntry {
  std::atomic<uint64_t> owner;     // heap id; 0 while free
  std::atomic<uintptr_t> object;   // Arena* or LargeBlock*, low bit = MappingKind
  uint32_t claims;
  uint16_t tag_floor;
};
// Null until the first claim, and again after unload(). An atomic (loaded
// without a fence on x86) because one thread maps it while others read it.
extern std::atomic<RegistryEntry*> g_registry_table;

class Registry {
 public:
  // Claims a slot for `heap_id`'s mapping `object` (an Arena* or LargeBlock*).
  // Returns 0 when every slot is taken (slot 0 is never used). `claims` (if
  // given) receives how many times this slot has been claimed, this time
  // included: a tag that differs for each mapping the slot ever names.
  // `tag_floor` (if given) receives the slot's tag floor.
  static uint32_t claim(uint64_t heap_id, MappingKind kind, void* object, uint32_t* claims = nullptr,
                        uint16_t* tag_floor = nullptr);
  static void release(uint32_t slot);

  // An arena about to release its slot records where its blocks' tags end.
  static void set_tag_floor(uint32_t slot, uint16_t tag_floor);

  // The mapping of `slot` when `heap_id` owns it, else nullptr. Safe to call
  // with any slot number from any thread that has a heap open (which keeps
  // unload() from freeing the table).
  static void* lookup(uint32_t slot, uint64_t heap_id, MappingKind* kind) {
    // Slots never claimed read as zero (an owner no heap has), so no lock is
    // needed: only the owning thread ever stores its own heap id. Inline:
    // every ref check, and the collector's every slot, comes through here.
    const RegistryEntry* table = g_registry_table.load(std::memory_order_acquire);
    if (slot == 0 || slot >= kRegistrySlots || table == nullptr) return nullptr;
    const RegistryEntry& entry = table[slot];
    if (entry.owner.load(std::memory_order_acquire) != heap_id) return nullptr;
    const uintptr_t word = entry.object.load(std::memory_order_relaxed);
    *kind = static_cast<MappingKind>(word & 1);
    return reinterpret_cast<void*>(word & ~uintptr_t{1});
  }

  // A new heap's id, and the heap counted as a user of the registry until
  // close_heap(): unload() frees nothing while a heap is open.
  static uint64_t open_heap();
  static void close_heap();
  // An id no heap has, not counted (tests that claim slots themselves).
  static uint64_t next_heap_id();

  // Frees the table and the released FIFO if no slot is claimed and no heap
  // is open, and then refuses every later claim; returns whether it did.
  // The static destructor of registry.cc calls it (unload of the library,
  // process exit); tests call it directly.
  static bool unload();
};

}  // namespace refheap
