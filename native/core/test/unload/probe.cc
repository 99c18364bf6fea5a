// The core as a shared library of its own, for unload_test.cc: the test
// dlopens it, uses its registry and statistics pages through these
// functions, and dlcloses it, as Node loads and unloads the addon. Linked
// with -Bsymbolic, so the library uses its own copy of the core's state.
#include <string>
#include <vector>

#include "heap.h"
#include "registry.h"
#include "stats_fields.h"
#include "stats_page.h"

using namespace refheap;

extern "C" {

// The registry's table, null while unmapped.
void* refheap_probe_table() { return g_registry_table.load(); }
size_t refheap_probe_table_bytes() { return sizeof(RegistryEntry) * kRegistrySlots; }

// A heap that maps arenas and large blocks, frees them all and closes:
// every slot it claimed goes back to the registry (its released FIFO).
int refheap_probe_cycle(int blocks) {
  Heap heap;
  std::vector<Block*> made;
  for (int i = 0; i < blocks; i++) {
    Block* block;
    const Status status = heap.alloc(i % 8 == 0 ? 100000 : 16 + (i % 20) * 16, 0, 0, &block);
    if (status != Status::kOk) return static_cast<int>(status);
    made.push_back(block);
  }
  for (Block* block : made) heap.release(block);
  heap.trim();
  return 0;
}

void* refheap_probe_heap_new() { return new Heap(); }
void refheap_probe_heap_delete(void* heap) { delete static_cast<Heap*>(heap); }

// Status of an allocation of `size` data bytes; its ref in *ref.
int refheap_probe_heap_alloc(void* heap, uint64_t size, double* ref) {
  Block* block;
  const Status status = static_cast<Heap*>(heap)->alloc(size, 0, 0, &block);
  if (status == Status::kOk) *ref = static_cast<Heap*>(heap)->ref_of(block);
  return static_cast<int>(status);
}

int refheap_probe_heap_resolves(void* heap, double ref) { return static_cast<Heap*>(heap)->resolve(ref) != nullptr; }

int refheap_probe_unload() { return Registry::unload() ? 1 : 0; }

// A statistics page in `dir`, left open (the test keeps the pointer).
void* refheap_probe_page_open(const char* dir, uint64_t heap_id) {
  std::vector<double> values(stats_fields().size(), 0);
  std::string error;
  return StatsPage::create(dir, "probe", heap_id, values.data(), &error).release();
}
void refheap_probe_page_close(void* page) { delete static_cast<StatsPage*>(page); }

}  // extern "C"
