// The native allocator benchmark: glibc malloc, mimalloc and refheap's core
// side by side, in one process, on the same workloads.
//
// The allocators, behind one two-call interface (alloc(size), free(p)):
//
//   glibc      glibc's malloc / free (looked up in libc.so.6, see below)
//   mimalloc   mi_malloc / mi_free (linked explicitly, never LD_PRELOADed)
//   refheap    Heap::alloc(size - 8, 0 slots, type 0) / Heap::release: the
//              whole block (8-byte header + data) is exactly `size` bytes,
//              so it lands in the size class of that size; data is zeroed
//   raw pool   SmallAllocator::allocate(size_class_of(size)) / free: the pool
//              allocator alone, without the heap's counters and zeroing
//   mi-zalloc  mi_zalloc / mi_free: mimalloc when, like refheap, it has to
//              hand out zeroed memory
//
// The workloads (block sizes 16, 64, 256, 512 bytes):
//
//   a)  warm pair: alloc then free at once, n times; ns per pair. Nothing
//       else of that size is live, so an allocator that gives an emptied
//       pool/page back at once pays for that here.
//   a2) the same with one other block of that size kept live meanwhile.
//   b)  burst: 1M allocs, then 1M frees in LIFO order; ns per alloc, per free.
//   b0) the same burst as the first thing a fresh process does (a forked
//       child per allocator and size): every allocator faults its memory in.
//   c)  1M allocs, then 1M frees in a pre-shuffled order; ns per free.
//   d)  mixed: 100k live blocks of random sizes 16..512; each op frees a
//       random live block and allocates one of a random size in its place;
//       ns per op (one free + one alloc). The random streams are generated
//       up front, outside the timed loops.
//
// Each timing is the minimum over --reps repetitions (the machine is shared
// and noisy); in each repetition the allocators run one after another on the
// same workload, so a noisy second hits them alike. One allocator instance
// per kind lives for the whole run, as malloc would.
//
// Memory: each allocator in a forked child of its own (so RSS does not mix),
// forked before the parent has used any of them: RSS from /proc/self/statm
// before, after allocating (and writing) 1M 64-byte blocks, and after
// freeing them all; glibc without malloc_trim, refheap with and without
// Heap::trim(), mimalloc also after mi_collect(true).
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <mimalloc.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "block.h"
#include "heap.h"
#include "page_source.h"
#include "registry.h"
#include "small_allocator.h"

using namespace refheap;

namespace {

// Keeps the compiler from proving a pointer unused (GCC deletes
// malloc/free pairs whose result is never looked at).
inline void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "alloc_bench: %s failed\n", what);
  std::exit(2);
}

// ---- the allocators -------------------------------------------------------

// glibc's own malloc and free. The shared libmimalloc exports malloc/free
// (and even __libc_malloc/__libc_free) and comes before libc in this
// binary's symbol scope, so a plain malloc() call here is mimalloc's. The
// glibc column therefore looks malloc/free up in libc.so.6 itself; a call
// through the pointer costs what a PLT call costs.
using MallocFn = void* (*)(size_t);
using FreeFn = void (*)(void*);
MallocFn glibc_malloc;
FreeFn glibc_free;

void bind_glibc() {
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (libc == nullptr) die("dlopen(libc.so.6)");
  glibc_malloc = reinterpret_cast<MallocFn>(dlsym(libc, "malloc"));
  glibc_free = reinterpret_cast<FreeFn>(dlsym(libc, "free"));
  Dl_info info{};
  if (glibc_malloc == nullptr || glibc_free == nullptr || dladdr(reinterpret_cast<void*>(glibc_malloc), &info) == 0 ||
      info.dli_fname == nullptr || std::strstr(info.dli_fname, "libc.so") == nullptr) {
    die("finding glibc's malloc");
  }
}

struct Glibc {
  static constexpr const char* kName = "glibc";
  void* alloc(size_t size) {
    void* p = glibc_malloc(size);
    if (p == nullptr) die("malloc");
    return p;
  }
  void free(void* p) { glibc_free(p); }
};

struct Mimalloc {
  static constexpr const char* kName = "mimalloc";
  void* alloc(size_t size) {
    void* p = mi_malloc(size);
    if (p == nullptr) die("mi_malloc");
    return p;
  }
  void free(void* p) { mi_free(p); }
};

struct MimallocZeroed {
  static constexpr const char* kName = "mi-zalloc";
  void* alloc(size_t size) {
    void* p = mi_zalloc(size);
    if (p == nullptr) die("mi_zalloc");
    return p;
  }
  void free(void* p) { mi_free(p); }
};

struct Refheap {
  static constexpr const char* kName = "refheap";
  Heap heap;
  void* alloc(size_t size) {
    Block* block;
    if (heap.alloc(size - sizeof(BlockHeader), 0, 0, &block) != Status::kOk) die("Heap::alloc");
    return block;
  }
  void free(void* p) { heap.release(static_cast<Block*>(p)); }
};

struct RawPool {
  static constexpr const char* kName = "raw-pool";
  PageSource pages{0};
  SmallAllocator small{pages, Registry::next_heap_id()};
  ~RawPool() { small.release_all(); }
  void* alloc(size_t size) {
    Block* block;
    if (small.allocate(size_class_of(size), &block) != Status::kOk) die("SmallAllocator::allocate");
    return block;
  }
  void free(void* p) { small.free(static_cast<Block*>(p)); }
};

enum Kind { kGlibc, kMimalloc, kRefheap, kRawPool, kMiZalloc, kKinds };
const char* const kKindNames[kKinds] = {Glibc::kName, Mimalloc::kName, Refheap::kName, RawPool::kName,
                                        MimallocZeroed::kName};

// Calls f(Adapter{}-type tag) with the adapter type of `kind`.
template <class F>
void with_kind(Kind kind, F&& f) {
  switch (kind) {
    case kGlibc: f(static_cast<Glibc*>(nullptr)); break;
    case kMimalloc: f(static_cast<Mimalloc*>(nullptr)); break;
    case kRefheap: f(static_cast<Refheap*>(nullptr)); break;
    case kRawPool: f(static_cast<RawPool*>(nullptr)); break;
    case kMiZalloc: f(static_cast<MimallocZeroed*>(nullptr)); break;
    default: break;
  }
}

// ---- configuration ----------------------------------------------------------

constexpr size_t kSizes[] = {16, 64, 256, 512};
constexpr size_t kNumSizes = sizeof(kSizes) / sizeof(kSizes[0]);

struct Config {
  int reps = 7;
  int cold_reps = 3;
  size_t pairs = 5'000'000;
  size_t burst = 1'000'000;
  size_t mixed_live = 100'000;
  size_t mixed_ops = 2'000'000;
  bool kinds[kKinds] = {true, true, true, true, true};
  std::string workloads = "a,a2,b,b0,c,d,mem";  // which to run
  bool runs(const char* w) const {
    const std::string key = std::string(",") + w + ",";
    return (std::string(",") + workloads + ",").find(key) != std::string::npos;
  }
};

// ---- the workloads ----------------------------------------------------------

struct Inputs {
  std::vector<void*> ptrs;      // burst / random workloads
  std::vector<void*> shuffled;  // the same pointers in free order
  std::vector<uint32_t> perm;   // the free order
  std::vector<void*> live;      // mixed workload
  std::vector<uint16_t> initial_sizes;
  std::vector<uint32_t> op_index;
  std::vector<uint16_t> op_size;
};

template <class A>
double warm_pair(A& a, size_t size, size_t n, bool neighbour) {
  void* kept = neighbour ? a.alloc(size) : nullptr;
  for (size_t i = 0; i < 1000; i++) {  // warm-up
    void* p = a.alloc(size);
    escape(p);
    a.free(p);
  }
  const uint64_t t0 = now_ns();
  for (size_t i = 0; i < n; i++) {
    void* p = a.alloc(size);
    escape(p);
    a.free(p);
  }
  const uint64_t t1 = now_ns();
  if (kept != nullptr) a.free(kept);
  return double(t1 - t0) / double(n);
}

struct BurstResult {
  double alloc_ns, free_ns;
};

template <class A>
BurstResult burst_lifo(A& a, size_t size, void** ptrs, size_t n) {
  const uint64_t t0 = now_ns();
  for (size_t i = 0; i < n; i++) ptrs[i] = a.alloc(size);
  const uint64_t t1 = now_ns();
  escape(ptrs);
  for (size_t i = n; i-- > 0;) a.free(ptrs[i]);
  const uint64_t t2 = now_ns();
  return {double(t1 - t0) / double(n), double(t2 - t1) / double(n)};
}

template <class A>
BurstResult burst_random(A& a, size_t size, Inputs& in, size_t n) {
  void** ptrs = in.ptrs.data();
  const uint64_t t0 = now_ns();
  for (size_t i = 0; i < n; i++) ptrs[i] = a.alloc(size);
  const uint64_t t1 = now_ns();
  void** order = in.shuffled.data();
  for (size_t i = 0; i < n; i++) order[i] = ptrs[in.perm[i]];
  escape(order);
  const uint64_t t2 = now_ns();
  for (size_t i = 0; i < n; i++) a.free(order[i]);
  const uint64_t t3 = now_ns();
  return {double(t1 - t0) / double(n), double(t3 - t2) / double(n)};
}

template <class A>
double mixed(A& a, Inputs& in, const Config& cfg) {
  void** live = in.live.data();
  for (size_t i = 0; i < cfg.mixed_live; i++) live[i] = a.alloc(in.initial_sizes[i]);
  const uint32_t* index = in.op_index.data();
  const uint16_t* sizes = in.op_size.data();
  const uint64_t t0 = now_ns();
  for (size_t k = 0; k < cfg.mixed_ops; k++) {
    const uint32_t i = index[k];
    a.free(live[i]);
    live[i] = a.alloc(sizes[k]);
  }
  const uint64_t t1 = now_ns();
  escape(live);
  for (size_t i = 0; i < cfg.mixed_live; i++) a.free(live[i]);
  return double(t1 - t0) / double(cfg.mixed_ops);
}

// Runs f() in a forked child and hands back its result, a plain struct.
template <class T, class F>
T in_child(F&& f) {
  int fds[2];
  if (pipe(fds) != 0) die("pipe");
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(fds[0]);
    const T result = f();
    const ssize_t w = write(fds[1], &result, sizeof result);
    _exit(w == ssize_t(sizeof result) ? 0 : 1);
  }
  close(fds[1]);
  T result{};
  const ssize_t got = read(fds[0], &result, sizeof result);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != ssize_t(sizeof result) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child process");
  return result;
}

// The pointer array of a child, straight from the OS and touched, so that
// neither its allocation nor its page faults land in any measurement.
void** child_pointer_array(size_t n) {
  void* p = mmap(nullptr, n * sizeof(void*), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  std::memset(p, 0, n * sizeof(void*));
  return static_cast<void**>(p);
}

// ---- results ---------------------------------------------------------------

constexpr double kUnmeasured = 1e300;

struct Results {
  // [size][kind]
  double pair[kNumSizes][kKinds];
  double pair_neighbour[kNumSizes][kKinds];
  double lifo_alloc[kNumSizes][kKinds];
  double lifo_free[kNumSizes][kKinds];
  double cold_alloc[kNumSizes][kKinds];
  double cold_free[kNumSizes][kKinds];
  double rand_alloc[kNumSizes][kKinds];
  double rand_free[kNumSizes][kKinds];
  double mix[1][kKinds];
  Results() {
    for (auto* table : {&pair, &pair_neighbour, &lifo_alloc, &lifo_free, &cold_alloc, &cold_free, &rand_alloc,
                        &rand_free}) {
      for (auto& row : *table)
        for (double& v : row) v = kUnmeasured;
    }
    for (double& v : mix[0]) v = kUnmeasured;
  }
};

inline void keep_min(double& slot, double value) {
  if (value < slot) slot = value;
}

template <class A>
void run_rep(A& a, Kind kind, Inputs& in, const Config& cfg, Results& r) {
  for (size_t s = 0; s < kNumSizes; s++) {
    const size_t size = kSizes[s];
    if (cfg.runs("a")) keep_min(r.pair[s][kind], warm_pair(a, size, cfg.pairs, false));
    if (cfg.runs("a2")) keep_min(r.pair_neighbour[s][kind], warm_pair(a, size, cfg.pairs, true));
    if (cfg.runs("b")) {
      const BurstResult lifo = burst_lifo(a, size, in.ptrs.data(), cfg.burst);
      keep_min(r.lifo_alloc[s][kind], lifo.alloc_ns);
      keep_min(r.lifo_free[s][kind], lifo.free_ns);
    }
    if (cfg.runs("c")) {
      const BurstResult rnd = burst_random(a, size, in, cfg.burst);
      keep_min(r.rand_alloc[s][kind], rnd.alloc_ns);
      keep_min(r.rand_free[s][kind], rnd.free_ns);
    }
  }
  if (cfg.runs("d")) keep_min(r.mix[0][kind], mixed(a, in, cfg));
}

void run_cold(const Config& cfg, Results& r) {
  for (int rep = 0; rep < cfg.cold_reps; rep++) {
    std::fprintf(stderr, "b0 rep %d/%d\n", rep + 1, cfg.cold_reps);
    for (size_t s = 0; s < kNumSizes; s++) {
      for (int k = 0; k < kKinds; k++) {
        if (!cfg.kinds[k]) continue;
        with_kind(Kind(k), [&](auto* tag) {
          using A = std::remove_pointer_t<decltype(tag)>;
          const BurstResult b = in_child<BurstResult>([&] {
            void** ptrs = child_pointer_array(cfg.burst);
            A a;
            return burst_lifo(a, kSizes[s], ptrs, cfg.burst);
          });
          keep_min(r.cold_alloc[s][k], b.alloc_ns);
          keep_min(r.cold_free[s][k], b.free_ns);
        });
      }
    }
  }
}

// A figure, or "-" when its allocator or workload was not run.
const char* cell(char* buf, size_t n, double v, const char* fmt) {
  if (v >= kUnmeasured) std::snprintf(buf, n, "-");
  else std::snprintf(buf, n, fmt, v);
  return buf;
}

void print_row(const char* workload, const char* size, const double* v) {
  const double g = v[kGlibc], m = v[kMimalloc], h = v[kRefheap], p = v[kRawPool], z = v[kMiZalloc];
  auto ratio = [](double a, double b) { return a >= kUnmeasured || b >= kUnmeasured ? kUnmeasured : a / b; };
  char b[9][32];
  std::printf("| %-24s | %6s | %7s | %8s | %7s | %7s | %8s | %8s | %7s | %9s | %7s |\n", workload, size,
              cell(b[0], 32, g, "%.1f"), cell(b[1], 32, m, "%.1f"), cell(b[2], 32, h, "%.1f"),
              cell(b[3], 32, ratio(h, m), "%.2fx"), cell(b[4], 32, ratio(h, g), "%.2fx"), cell(b[5], 32, p, "%.1f"),
              cell(b[6], 32, ratio(p, m), "%.2fx"), cell(b[7], 32, z, "%.1f"), cell(b[8], 32, ratio(h, z), "%.2fx"));
}

void print_timings(const Results& r, const Config& cfg) {
  std::printf("\nTimings in ns, best of %d (b0: best of %d fresh processes); lower is better\n\n", cfg.reps,
              cfg.cold_reps);
  std::printf(
      "| workload                 |   size |   glibc | mimalloc | refheap |   rh/mi | rh/glibc | raw pool |  raw/mi | "
      "mi-zalloc | rh/mi-z |\n"
      "|--------------------------|-------:|--------:|---------:|--------:|--------:|---------:|---------:|--------:|"
      "----------:|--------:|\n");
  auto group = [&](const char* workload, const char* name, const double (*table)[kKinds]) {
    if (!cfg.runs(workload)) return;
    char size[16];
    for (size_t s = 0; s < kNumSizes; s++) {
      std::snprintf(size, sizeof size, "%zu", kSizes[s]);
      print_row(name, size, table[s]);
    }
  };
  group("a", "a) warm pair", r.pair);
  group("a2", "a2) pair, 1 neighbour", r.pair_neighbour);
  group("b", "b) 1M burst: alloc", r.lifo_alloc);
  group("b", "b) 1M burst: LIFO free", r.lifo_free);
  group("b0", "b0) fresh process: alloc", r.cold_alloc);
  group("b0", "b0) fresh process: free", r.cold_free);
  group("c", "c) 1M: alloc", r.rand_alloc);
  group("c", "c) 1M: random free", r.rand_free);
  if (cfg.runs("d")) print_row("d) mixed 100k live, op", "16-512", r.mix[0]);
  std::printf(
      "\na) ns per alloc+free pair; b), b0), c) ns per alloc or per free; d) ns per op (1 free + 1 alloc).\n"
      "rh = refheap (Heap::alloc/release, data zeroed); raw pool = SmallAllocator alone (not zeroed);\n"
      "mi-zalloc = mimalloc asked for zeroed memory, refheap's like-for-like peer.\n");
}

// ---- memory ----------------------------------------------------------------

size_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) die("open /proc/self/statm");
  unsigned long size = 0, resident = 0;
  if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) die("read /proc/self/statm");
  std::fclose(f);
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

struct MemResult {
  double base, allocated, freed, after_extra;  // RSS bytes
  double extra_released;                       // refheap: what trim() returned
};

constexpr size_t kMemBlocks = 1'000'000;
constexpr size_t kMemSize = 64;

template <class A>
MemResult measure_memory(A& a, void** ptrs, size_t data_offset) {
  MemResult m{};
  m.base = double(rss_bytes());
  for (size_t i = 0; i < kMemBlocks; i++) {
    void* p = a.alloc(kMemSize);
    std::memset(static_cast<char*>(p) + data_offset, 0xa5, kMemSize - data_offset);  // the data is used
    ptrs[i] = p;
  }
  m.allocated = double(rss_bytes());
  for (size_t i = 0; i < kMemBlocks; i++) a.free(ptrs[i]);
  m.freed = double(rss_bytes());
  m.after_extra = m.freed;
  return m;
}

void print_memory() {
  const MemResult glibc = in_child<MemResult>([] {
    Glibc a;
    return measure_memory(a, child_pointer_array(kMemBlocks), 0);
  });
  const MemResult mimalloc = in_child<MemResult>([] {
    Mimalloc a;
    MemResult m = measure_memory(a, child_pointer_array(kMemBlocks), 0);
    mi_collect(true);
    m.after_extra = double(rss_bytes());
    return m;
  });
  const MemResult refheap = in_child<MemResult>([] {
    Refheap a;
    MemResult m = measure_memory(a, child_pointer_array(kMemBlocks), sizeof(BlockHeader));
    m.extra_released = double(a.heap.trim());
    m.after_extra = double(rss_bytes());
    return m;
  });
  constexpr double MiB = 1024.0 * 1024.0;
  std::printf("\nMemory: 1M live 64-byte blocks (data written), each allocator in a fresh child process\n\n");
  std::printf(
      "| allocator                       | RSS growth, MiB | bytes/block | RSS left after free-all, MiB | growth returned |\n"
      "|---------------------------------|----------------:|------------:|-----------------------------:|----------------:|\n");
  auto line = [&](const char* name, const MemResult& r, double after) {
    const double growth = r.allocated - r.base;
    const double left = after - r.base;
    std::printf("| %-31s | %15.1f | %11.1f | %28.1f | %14.1f%% |\n", name, growth / MiB, growth / double(kMemBlocks),
                left / MiB, 100.0 * (growth - left) / growth);
  };
  line("glibc (no malloc_trim)", glibc, glibc.freed);
  line("mimalloc (as is)", mimalloc, mimalloc.freed);
  line("mimalloc after mi_collect(true)", mimalloc, mimalloc.after_extra);
  line("refheap without trim()", refheap, refheap.freed);
  line("refheap after trim()", refheap, refheap.after_extra);
  std::printf("\nrefheap's trim() reported %.2f MiB released. Block = the whole allocation: 64 bytes asked of\n"
              "malloc/mi_malloc; 8-byte header + 56 data bytes for refheap.\n",
              refheap.extra_released / MiB);
}

// ---- main ------------------------------------------------------------------

void print_environment(const Config& cfg) {
  utsname u;
  uname(&u);
  char model[256] = "?";
  if (FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
      if (std::strncmp(line, "model name", 10) == 0) {
        const char* colon = std::strchr(line, ':');
        if (colon) std::snprintf(model, sizeof model, "%s", colon + 2);
        model[std::strcspn(model, "\n")] = 0;
        break;
      }
    }
    std::fclose(f);
  }
  const int v = mi_version();
  std::printf("cpu: %s, %ld online; kernel %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release);
  std::printf("glibc %s; mimalloc %d.%d.%d; compiler %s\n", gnu_get_libc_version(), v / 100, (v / 10) % 10, v % 10,
              __VERSION__);
  Dl_info info{};
  void* process_malloc = dlsym(RTLD_DEFAULT, "malloc");
  const bool found = process_malloc != nullptr && dladdr(process_malloc, &info) != 0 && info.dli_fname != nullptr;
  std::printf("plain malloc() in this process is %s's; the glibc column calls libc.so.6's own\n",
              found ? info.dli_fname : "?");
  std::printf("reps %d (b0: %d); pairs %zu; burst %zu; mixed %zu live, %zu ops; workloads %s\n", cfg.reps,
              cfg.cold_reps, cfg.pairs, cfg.burst, cfg.mixed_live, cfg.mixed_ops, cfg.workloads.c_str());
}

void fill_inputs(Inputs& in, const Config& cfg) {
  std::mt19937_64 rng(20240601);
  in.ptrs.assign(cfg.burst, nullptr);
  in.shuffled.assign(cfg.burst, nullptr);
  in.perm.resize(cfg.burst);
  for (size_t i = 0; i < cfg.burst; i++) in.perm[i] = uint32_t(i);
  std::shuffle(in.perm.begin(), in.perm.end(), rng);
  std::uniform_int_distribution<uint32_t> size_dist(16, 512);
  std::uniform_int_distribution<uint32_t> index_dist(0, uint32_t(cfg.mixed_live - 1));
  in.live.assign(cfg.mixed_live, nullptr);
  in.initial_sizes.resize(cfg.mixed_live);
  for (auto& s : in.initial_sizes) s = uint16_t(size_dist(rng));
  in.op_index.resize(cfg.mixed_ops);
  in.op_size.resize(cfg.mixed_ops);
  for (size_t k = 0; k < cfg.mixed_ops; k++) {
    in.op_index[k] = index_dist(rng);
    in.op_size[k] = uint16_t(size_dist(rng));
  }
}

[[noreturn]] void usage(int code = 2) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: alloc_bench [--reps N] [--quick] [--only ALLOCATOR] [--workloads LIST]\n"
               "  --quick            fewer repetitions and iterations: a smoke test, not a measurement\n"
               "  --only ALLOCATOR   glibc, mimalloc, refheap, raw-pool or mi-zalloc (for profiling)\n"
               "  --workloads LIST   comma-separated, of a,a2,b,b0,c,d,mem (default: all)\n");
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      cfg.reps = std::atoi(argv[++i]);
      if (cfg.reps < 1) usage();
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      usage(0);
    } else if (!std::strcmp(argv[i], "--quick")) {
      cfg.reps = 2;
      cfg.cold_reps = 1;
      cfg.pairs = 200'000;
      cfg.mixed_ops = 200'000;
    } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
      const char* name = argv[++i];
      bool known = false;
      for (int k = 0; k < kKinds; k++) {
        cfg.kinds[k] = !std::strcmp(name, kKindNames[k]);
        known |= cfg.kinds[k];
      }
      if (!known) usage();
    } else if (!std::strcmp(argv[i], "--workloads") && i + 1 < argc) {
      cfg.workloads = argv[++i];
    } else {
      usage();
    }
  }
  bind_glibc();
  print_environment(cfg);

  // The child processes first, so each starts from a parent that has not
  // used the allocators yet.
  if (cfg.runs("mem")) print_memory();
  Results r;
  if (cfg.runs("b0")) run_cold(cfg, r);

  if (cfg.runs("a") || cfg.runs("a2") || cfg.runs("b") || cfg.runs("c") || cfg.runs("d")) {
    Inputs in;
    fill_inputs(in, cfg);
    Glibc glibc;
    Mimalloc mimalloc;
    Refheap refheap;
    RawPool raw;
    MimallocZeroed mi_zeroed;
    for (int rep = 0; rep < cfg.reps; rep++) {
      std::fprintf(stderr, "rep %d/%d\n", rep + 1, cfg.reps);
      if (cfg.kinds[kGlibc]) run_rep(glibc, kGlibc, in, cfg, r);
      if (cfg.kinds[kMimalloc]) run_rep(mimalloc, kMimalloc, in, cfg, r);
      if (cfg.kinds[kRefheap]) run_rep(refheap, kRefheap, in, cfg, r);
      if (cfg.kinds[kRawPool]) run_rep(raw, kRawPool, in, cfg, r);
      if (cfg.kinds[kMiZalloc]) run_rep(mi_zeroed, kMiZalloc, in, cfg, r);
    }
  }
  if (cfg.workloads != "mem") print_timings(r, cfg);
  return 0;
}
