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
extern RegistryEntry* g_registry_table;  // null until the first claim

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
  // with any slot number from any thread.
  static void* lookup(uint32_t slot, uint64_t heap_id, MappingKind* kind) {
    // Slots never claimed read as zero (an owner no heap has), so no lock is
    // needed: only the owning thread ever stores its own heap id. Inline:
    // every ref check, and the collector's every slot, comes through here.
    const RegistryEntry* table = g_registry_table;
    if (slot == 0 || slot >= kRegistrySlots || table == nullptr) return nullptr;
    const RegistryEntry& entry = table[slot];
    if (entry.owner.load(std::memory_order_acquire) != heap_id) return nullptr;
    const uintptr_t word = entry.object.load(std::memory_order_relaxed);
    *kind = static_cast<MappingKind>(word & 1);
    return reinterpret_cast<void*>(word & ~uintptr_t{1});
  }

  static uint64_t next_heap_id();
};

}  // namespace refheap
