// The live statistics page: a small shared file through which other
// processes read a heap's statistics without stopping it (SPEC section 9),
// the way the JVM's jstat reads hsperfdata.
//
// The file is <dir>/<pid>.<heapId>, mode 0600. It is filled under a
// temporary name and linked into place, so a reader never sees a half-made
// page and a live page is never replaced. Its layout, all numbers little-endian as written by this machine:
//
//   PageHeader (256 bytes, below)
//   paths   field_count slots of kPathSlot bytes: each field's HeapStats
//           path, NUL-padded (stats_fields.h)
//   kinds   field_count bytes: FieldKind of each field
//   values  field_count doubles, 8-byte aligned
//
// The page describes itself, so a reader needs only the header's offsets,
// never its own copy of the field list. Versions only ever add fields.
//
// Consistency: one writer (the heap's thread) bumps `sequence` to an odd
// number, writes the snapshot (values and published_ms), and bumps it to
// the next even number. A reader reads `sequence`, the page, and `sequence`
// again, and keeps the copy only if both reads are the same even number;
// otherwise it tries again. The writer never waits for anyone.
//
// Distrust: any process of the user can write to the file. So the writer
// never maps it and never reads it back: it writes with pwrite() from its
// own copy of the page, so a truncated file costs it no SIGBUS (the next
// snapshot writes the page whole again, or fails quietly on a full file
// system), a sequence someone set odd is fixed by the next snapshot, and a
// changed pid does not keep close() from removing the file.
//
// Removal: the destructor removes the file; so does exit() for every page
// still open (a process.exit() skips the heaps' own cleanup), and the
// unload of the library (dlclose), which also frees the list of pages. A
// killed process leaves its files behind: readers check that the pid is
// alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "stats_fields.h"

namespace refheap {

// The time from the end of a refresh that cost `cost_ns` to the next one.
inline uint64_t page_refresh_gap_ns(uint64_t cost_ns) {
  return cost_ns > kPagePublishIntervalNs / kPageCostShare ? cost_ns * kPageCostShare : kPagePublishIntervalNs;
}

constexpr char kPageMagic[8] = {'r', 'e', 'f', 'h', 'e', 'a', 'p', 'S'};
constexpr uint32_t kPageVersion = 1;
constexpr size_t kPathSlot = kMaxFieldPath + 1;
constexpr size_t kPageNameBytes = 128;

struct PageHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;     // sizeof(PageHeader)
  uint64_t page_bytes;       // the whole file
  uint64_t sequence;         // odd while a snapshot is being written
  uint64_t pid;
  uint64_t thread_id;        // the Linux thread id of the heap's thread
  uint64_t heap_id;
  double created_ms;         // when the heap was created, ms since the Unix epoch
  uint64_t process_start;    // field 22 of /proc/<pid>/stat (tells a reused pid apart); 0: unknown
  double published_ms;       // when the current snapshot was written
  uint32_t field_count;
  uint32_t path_slot_bytes;  // kPathSlot
  uint32_t paths_offset;
  uint32_t kinds_offset;
  uint32_t values_offset;
  uint32_t name_bytes;       // UTF-8 bytes of `name` in use
  char name[kPageNameBytes];
  char reserved[24];
};
// The binding exports the offsets (statsPageLayout) for the reader in
// lib/stats-page.ts; the size is part of the format.
static_assert(sizeof(PageHeader) == 256, "the header's size is part of the file format");

class StatsPage {
 public:
  // Creates and maps the page of heap `heap_id`, named `name` (cut to
  // kPageNameBytes on a character boundary), in directory `dir`, which the
  // caller has checked (ours, 0700), holding `initial_values` from the
  // start. nullptr with `error` set on failure.
  static std::unique_ptr<StatsPage> create(const std::string& dir, const std::string& name, uint64_t heap_id,
                                           const double* initial_values, std::string* error);
  ~StatsPage();
  StatsPage(const StatsPage&) = delete;
  StatsPage& operator=(const StatsPage&) = delete;

  // Writes one snapshot: stats_fields().size() values.
  void publish(const double* values);

  const std::string& path() const { return path_; }

 private:
  StatsPage(std::string path, int fd, std::vector<char> image, size_t values_offset, size_t field_count);
  PageHeader* header() { return reinterpret_cast<PageHeader*>(image_.data()); }

  std::string path_;
  int fd_;  // open for writing; never mapped
  // What the file should hold, kept here and never read back from it: the
  // sequence (even between snapshots), the pid that made it (a forked child
  // does not remove it), everything a truncation would take.
  std::vector<char> image_;
  size_t values_offset_;
  size_t field_count_;
  uint64_t pid_;
};

}  // namespace refheap
