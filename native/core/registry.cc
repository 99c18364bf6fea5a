#include "registry.h"

#include <sys/mman.h>

#include <mutex>
#include <type_traits>
#include <vector>

namespace refheap {
namespace {

using Entry = RegistryEntry;
constexpr size_t kTableBytes = sizeof(Entry) * kRegistrySlots;

// All of the registry's state, trivially destructible: no destructor of
// its own runs at exit under a thread still using it (registry.h,
// Unloading). Only unload() frees what it points to.
struct State {
  std::mutex lock;
  // Reserved by the first claim and touched only as slots are used: the
  // pages of slots never claimed cost nothing. Also g_registry_table.
  Entry* table = nullptr;
  bool unloaded = false;                       // unload() freed it all: claims fail
  uint32_t high_water = 1;                     // next never-used slot
  std::vector<uint32_t>* released = nullptr;   // reused FIFO once high_water is exhausted; made by the first release
  size_t released_head = 0;
  uint64_t users = 0;                          // claimed slots + open heaps
};
static_assert(std::is_trivially_destructible<State>::value, "no static destructor may free the registry at exit");
State state;
std::atomic<uint64_t> heap_ids{0};

// Whether the table is mapped, mapping it on first use. Under state.lock.
bool reserve_table() {
  if (state.table != nullptr) return true;
  if (state.unloaded) return false;
  void* p = mmap(nullptr, kTableBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;  // this claim fails; the next one tries again
  state.table = static_cast<Entry*>(p);
  g_registry_table.store(state.table, std::memory_order_release);
  return true;
}

// The one static object with a destructor: at unload of the library (and at
// process exit) it gives the table and the FIFO back, if nothing uses them.
struct Unloader {
  ~Unloader() { Registry::unload(); }
} unloader;

}  // namespace

std::atomic<RegistryEntry*> g_registry_table{nullptr};

uint32_t Registry::claim(uint64_t heap_id, MappingKind kind, void* object, uint32_t* claims, uint16_t* tag_floor) {
  Entry* table;
  uint32_t slot = 0;
  {
    std::lock_guard<std::mutex> lock(state.lock);
    if (!reserve_table()) return 0;
    table = state.table;
    if (state.high_water < kRegistrySlots) {
      slot = state.high_water++;
    } else if (state.released != nullptr && state.released_head < state.released->size()) {
      slot = (*state.released)[state.released_head++];
      if (state.released_head == state.released->size()) {
        state.released->clear();
        state.released_head = 0;
      }
    } else {
      return 0;
    }
    state.users++;
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
  // The slot is claimed: the table stays mapped until this returns.
  Entry* table = g_registry_table.load(std::memory_order_acquire);
  table[slot].owner.store(0, std::memory_order_release);
  table[slot].object.store(0, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(state.lock);
  if (state.released == nullptr) state.released = new std::vector<uint32_t>();
  state.released->push_back(slot);
  state.users--;
}

void Registry::set_tag_floor(uint32_t slot, uint16_t tag_floor) {
  std::lock_guard<std::mutex> lock(state.lock);
  state.table[slot].tag_floor = tag_floor;
}

uint64_t Registry::open_heap() {
  std::lock_guard<std::mutex> lock(state.lock);
  state.users++;
  return next_heap_id();
}

void Registry::close_heap() {
  std::lock_guard<std::mutex> lock(state.lock);
  state.users--;
}

uint64_t Registry::next_heap_id() { return heap_ids.fetch_add(1) + 1; }

bool Registry::unload() {
  std::lock_guard<std::mutex> lock(state.lock);
  if (state.users != 0) return false;  // a thread still running (process exit) may use it
  state.unloaded = true;
  if (state.table != nullptr) {
    g_registry_table.store(nullptr, std::memory_order_release);
    munmap(state.table, kTableBytes);
    state.table = nullptr;
  }
  delete state.released;
  state.released = nullptr;
  state.released_head = 0;
  return true;
}

}  // namespace refheap
