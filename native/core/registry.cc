#include "registry.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace refheap {
namespace {

using Entry = RegistryEntry;

// Reserved once and touched only as slots are used: the pages of slots never
// claimed cost nothing.
Entry* entries() {
  static Entry* table = [] {
    void* p = mmap(nullptr, sizeof(Entry) * kRegistrySlots, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) abort();  // 24 MiB of address space at start-up
    g_registry_table = static_cast<Entry*>(p);
    return static_cast<Entry*>(p);
  }();
  return table;
}

std::mutex claim_mutex;
uint32_t high_water = 1;              // next never-used slot
std::vector<uint32_t>* released_slots = new std::vector<uint32_t>();  // reused FIFO once high_water is exhausted
size_t released_head = 0;
std::atomic<uint64_t> heap_ids{0};

}  // namespace

RegistryEntry* g_registry_table = nullptr;

uint32_t Registry::claim(uint64_t heap_id, MappingKind kind, void* object, uint32_t* claims, uint16_t* tag_floor) {
  Entry* table = entries();
  uint32_t slot = 0;
  {
    std::lock_guard<std::mutex> lock(claim_mutex);
    if (high_water < kRegistrySlots) {
      slot = high_water++;
    } else if (released_head < released_slots->size()) {
      slot = (*released_slots)[released_head++];
      if (released_head == released_slots->size()) {
        released_slots->clear();
        released_head = 0;
      }
    } else {
      return 0;
    }
    table[slot].claims++;
    if (claims != nullptr) *claims = table[slot].claims;
    if (tag_floor != nullptr) *tag_floor = table[slot].tag_floor;
  }
  table[slot].object.store(reinterpret_cast<uintptr_t>(object) | static_cast<uintptr_t>(kind),
                           std::memory_order_relaxed);
  table[slot].owner.store(heap_id, std::memory_order_release);
  return slot;
}

void Registry::release(uint32_t slot) {
  Entry* table = entries();
  table[slot].owner.store(0, std::memory_order_release);
  table[slot].object.store(0, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(claim_mutex);
  released_slots->push_back(slot);
}

void Registry::set_tag_floor(uint32_t slot, uint16_t tag_floor) {
  std::lock_guard<std::mutex> lock(claim_mutex);
  entries()[slot].tag_floor = tag_floor;
}

uint64_t Registry::next_heap_id() { return heap_ids.fetch_add(1) + 1; }

}  // namespace refheap
