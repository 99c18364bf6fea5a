// Unloading the core: Node dlcloses the addon after the last worker that
// loaded it ends (when the main thread never did), and every worker
// generation loads a fresh copy. The copy must give back its process-wide
// state then: the registry's 24 MiB table, its released FIFO and the
// statistics pages' list (LeakSanitizer, which checks this suite at exit,
// reports the heap allocations of an unloaded copy; /proc/self/maps shows
// the table). The library is out/unload_probe.so (test/unload/probe.cc),
// the core built as a shared object of its own.
#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "check.h"
#include "types.h"

#ifndef REFHEAP_UNLOAD_PROBE
#error "REFHEAP_UNLOAD_PROBE: the path of out/unload_probe.so (the Makefile defines it)"
#endif

using namespace refheap;
using namespace refheap::testing;

namespace {

// Whether any mapping of this process covers `address`.
bool mapped(const void* address) {
  FILE* maps = std::fopen("/proc/self/maps", "r");
  if (maps == nullptr) return true;  // cannot tell: the checks fail
  const auto at = reinterpret_cast<uintptr_t>(address);
  char line[4096];
  bool found = false;
  while (!found && std::fgets(line, sizeof line, maps) != nullptr) {
    uintptr_t start, end;
    if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &start, &end) == 2 && start <= at && at < end) found = true;
  }
  std::fclose(maps);
  return found;
}

struct Probe {
  void* handle = nullptr;
  void* (*table)() = nullptr;
  int (*cycle)(int) = nullptr;
  void* (*heap_new)() = nullptr;
  void (*heap_delete)(void*) = nullptr;
  int (*heap_alloc)(void*, uint64_t, double*) = nullptr;
  int (*heap_resolves)(void*, double) = nullptr;
  int (*unload)() = nullptr;
  void* (*page_open)(const char*, uint64_t) = nullptr;

  template <typename F>
  void find(F** at, const char* name) {
    *at = reinterpret_cast<F*>(dlsym(handle, name));
    if (*at == nullptr) fail(__FILE__, __LINE__, std::string("dlsym ") + name);
  }
  bool open() {
    handle = dlopen(REFHEAP_UNLOAD_PROBE, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      fail(__FILE__, __LINE__, std::string("dlopen: ") + dlerror());
      return false;
    }
    find(&table, "refheap_probe_table");
    find(&cycle, "refheap_probe_cycle");
    find(&heap_new, "refheap_probe_heap_new");
    find(&heap_delete, "refheap_probe_heap_delete");
    find(&heap_alloc, "refheap_probe_heap_alloc");
    find(&heap_resolves, "refheap_probe_heap_resolves");
    find(&unload, "refheap_probe_unload");
    find(&page_open, "refheap_probe_page_open");
    return failures_in_current_test() == 0;
  }
  // dlclose, and whether the library really left the process.
  bool close() {
    const bool closed = dlclose(handle) == 0;
    handle = nullptr;
    return closed && dlopen(REFHEAP_UNLOAD_PROBE, RTLD_NOW | RTLD_NOLOAD) == nullptr;
  }
};

// Pages left open in an unloaded copy: their memory stays reachable from
// here (LeakSanitizer), as the addon's would from Node's heap wrappers.
void* kept_pages[4];

}  // namespace

// Three generations, as three workers one after another: each copy maps
// its table and frees it at dlclose, so the address space stays flat.
TEST(unload_dlclose_gives_back_the_registry_table) {
  for (int generation = 0; generation < 3; generation++) {
    Probe probe;
    if (!probe.open()) return;
    CHECK_EQ(probe.cycle(200), 0);  // slots claimed and released: the FIFO holds them
    void* table = probe.table();
    CHECK(table != nullptr);
    CHECK(mapped(table));
    CHECK(probe.close());
    CHECK(!mapped(table));
  }
}

// The unload, called directly as the static destructor calls it: it frees
// nothing while a heap is open (a thread still running at process exit may
// use the table), frees all once none is, and every claim after it fails as
// in a full registry, with a coded status.
TEST(unload_waits_for_open_heaps_and_then_refuses_claims) {
  Probe probe;
  if (!probe.open()) return;
  void* heap = probe.heap_new();
  double ref = 0, large_ref = 0, other = 0;
  CHECK_EQ(probe.heap_alloc(heap, 16, &ref), static_cast<int>(Status::kOk));
  CHECK_EQ(probe.heap_alloc(heap, 100000, &large_ref), static_cast<int>(Status::kOk));
  void* table = probe.table();
  CHECK(!probe.unload());  // slots claimed
  CHECK(mapped(table));
  CHECK(probe.heap_resolves(heap, ref));
  CHECK(probe.heap_resolves(heap, large_ref));
  CHECK_EQ(probe.heap_alloc(heap, 200000, &other), static_cast<int>(Status::kOk));  // claims still work
  probe.heap_delete(heap);

  void* idle = probe.heap_new();  // open, no mapping: it may still look refs up
  CHECK(!probe.unload());
  CHECK(mapped(table));
  CHECK(!probe.heap_resolves(idle, ref));
  probe.heap_delete(idle);

  CHECK(probe.unload());
  CHECK(!mapped(table));
  CHECK(probe.table() == nullptr);
  void* late = probe.heap_new();
  CHECK_EQ(probe.heap_alloc(late, 16, &other), static_cast<int>(Status::kOsMemory));
  CHECK_EQ(probe.heap_alloc(late, 100000, &other), static_cast<int>(Status::kOsMemory));
  CHECK(!probe.heap_resolves(late, ref));
  CHECK(!probe.heap_resolves(late, large_ref));
  probe.heap_delete(late);
  CHECK(probe.unload());  // again: nothing left to free
  CHECK(probe.close());   // and the static destructor's own call
}

// A page still open at dlclose is removed by the unload's handler, which
// frees the list of pages; the next copy makes its own list again.
TEST(unload_removes_open_pages_and_frees_their_list) {
  char name[] = "/tmp/refheap-unload-test-XXXXXX";
  const std::string dir = mkdtemp(name);
  for (int generation = 0; generation < 2; generation++) {
    Probe probe;
    if (!probe.open()) break;
    const uint64_t heap_id = 1000 + static_cast<uint64_t>(generation);
    kept_pages[generation] = probe.page_open(dir.c_str(), heap_id);
    CHECK(kept_pages[generation] != nullptr);
    const std::string path = dir + "/" + std::to_string(getpid()) + "." + std::to_string(heap_id);
    struct stat info;
    CHECK_EQ(stat(path.c_str(), &info), 0);
    CHECK(probe.close());
    CHECK(stat(path.c_str(), &info) != 0);
  }
  std::system(("rm -rf '" + dir + "'").c_str());
}
