#include "malloc_report.h"

#include <cstdio>

#include "block.h"
#include "large_allocator.h"
#include "small_allocator.h"

namespace refheap {
namespace {

std::string differs(const char* what, uint64_t counted, uint64_t reported) {
  return std::string(what) + ": " + std::to_string(counted) + " counted, " + std::to_string(reported) + " reported";
}

// Keeps the first difference found: later ones often follow from it.
void disagree(MallocReport& r, const char* what, uint64_t counted, uint64_t reported) {
  if (counted != reported && r.disagreement.empty()) r.disagreement = differs(what, counted, reported);
}

// The bytes of the pools in use of one class, from its row.
void add_class_bytes(MallocReport& r, unsigned size_class) {
  const MallocClassRow& row = r.classes[size_class];
  const uint64_t block_size = class_block_size(size_class);
  r.in_use_bytes += row.blocks_in_use * block_size;
  r.available_bytes += row.blocks_free * block_size;
  r.header_bytes += row.pools * kPoolHeaderSize;
  r.quantization_bytes += row.pools * ((kPoolSize - kPoolHeaderSize) % block_size);
}

// Free blocks of a pool in use: those on its free list and those never
// carved. The list is followed only while it stays on the pool's carved
// blocks, and at most as far as the pool could hold; a list that leaves
// them is reported (and not followed, which could leave mapped memory).
uint64_t free_blocks(const Pool* pool, MallocReport& r) {
  const uint64_t capacity = (kPoolSize - kPoolHeaderSize) / pool->block_size;
  uint64_t listed = 0;
  for (const Block* block = pool->free_list; block != nullptr && listed <= capacity; listed++) {
    const uintptr_t offset = reinterpret_cast<uintptr_t>(block) - reinterpret_cast<uintptr_t>(pool);
    if (pool_of(block) != pool || offset < kPoolHeaderSize || offset >= pool->next_offset ||
        (offset - kPoolHeaderSize) % pool->block_size != 0) {
      if (r.disagreement.empty()) r.disagreement = "a pool's free list leaves its carved blocks";
      break;
    }
    block = next_free(block);
  }
  return listed + (kPoolSize - pool->next_offset) / pool->block_size;
}

// "1,048,576", as CPython prints its byte counts.
std::string with_commas(uint64_t value) {
  std::string digits = std::to_string(value);
  for (size_t at = digits.size(); at > 3; at -= 3) digits.insert(at - 3, ",");
  return digits;
}

std::string line(const std::string& label, uint64_t value) {
  char out[128];
  std::snprintf(out, sizeof out, "%-35s= %19s\n", label.c_str(), with_commas(value).c_str());
  return out;
}

}  // namespace

uint64_t MallocReport::total() const {
  return in_use_bytes + available_bytes + unused_pools * kPoolSize + header_bytes + quantization_bytes;
}

std::string MallocReport::problem() const {
  if (!disagreement.empty()) return disagreement;
  if (total() != arena_bytes()) return differs("bytes in the arenas", total(), arena_bytes());
  uint64_t pools = unused_pools;
  for (const MallocClassRow& row : classes) pools += row.pools;
  if (pools != arenas_current * kPoolsPerArena) return differs("pools in the arenas", pools, arenas_current * kPoolsPerArena);
  if (arena_bytes() + large_bytes != mapped_bytes) return differs("bytes mapped", arena_bytes() + large_bytes, mapped_bytes);
  return "";
}

MallocReport walk_allocator(const SmallAllocator& small, const LargeAllocator& large, uint64_t mapped_bytes,
                            const HeapStats& counters) {
  MallocReport r;
  r.arenas_allocated_total = small.arenas_allocated_total();
  r.arenas_freed_total = small.arenas_freed_total();
  r.arenas_peak = small.arenas_peak();
  r.mapped_bytes = mapped_bytes;
  for (const Arena* arena = small.first_arena(); arena != nullptr; arena = arena->all_next) {
    r.arenas_current++;
    uint64_t unused = kPoolsPerArena - arena->pools_carved;
    for (const Pool* pool = arena->free_pool_list; pool != nullptr && unused <= kPoolsPerArena; pool = pool->next) unused++;
    r.unused_pools += unused;
    for (size_t index = 0; index < arena->pools_carved; index++) {
      const Pool* pool = pool_at(arena, index);
      // A pool in use is on no free-pool list and holds a block; one that
      // emptied went back to its arena at once.
      if (pool->used_blocks == 0 || pool->block_size == 0 || pool->size_class >= kSizeClasses) continue;
      MallocClassRow& row = r.classes[pool->size_class];
      row.pools++;
      row.blocks_in_use += pool->used_blocks;
      row.blocks_free += free_blocks(pool, r);
    }
  }
  for (unsigned c = 0; c < kSizeClasses; c++) add_class_bytes(r, c);
  for (const LargeBlock* block = large.first(); block != nullptr && r.large_blocks <= large.count(); block = block->next) {
    r.large_blocks++;
    r.large_bytes += block->mapping_size;
  }
  // What the walk counted must be what stats() says, class by class
  // (a class stats() leaves out has no pool).
  std::array<MallocClassRow, kSizeClasses> reported{};
  for (const SizeClassStats& row : counters.size_classes) {
    const unsigned c = row.block_size == 0 ? kSizeClasses : size_class_of(row.block_size);
    if (c < kSizeClasses) reported[c] = {row.pools, row.blocks_in_use, row.blocks_free};
  }
  uint64_t pools_used = 0;
  for (unsigned c = 0; c < kSizeClasses; c++) {
    const MallocClassRow& row = r.classes[c];
    pools_used += row.pools;
    disagree(r, "pools of a class", row.pools, reported[c].pools);
    disagree(r, "blocks in use of a class", row.blocks_in_use, reported[c].blocks_in_use);
    disagree(r, "free blocks of a class", row.blocks_free, reported[c].blocks_free);
  }
  disagree(r, "pools in use", pools_used, counters.pools_used);
  disagree(r, "arenas", r.arenas_current, counters.arenas_current);
  disagree(r, "large blocks", r.large_blocks, counters.large_blocks);
  disagree(r, "bytes of large blocks", r.large_bytes, counters.large_bytes);
  return r;
}

MallocReport report_of(const HeapStats& s) {
  MallocReport r;
  r.arenas_allocated_total = s.arenas_allocated_total;
  r.arenas_freed_total = s.arenas_freed_total;
  r.arenas_peak = s.arenas_peak;
  r.arenas_current = s.arenas_current;
  r.unused_pools = s.pools_free;
  r.large_blocks = s.large_blocks;
  r.large_bytes = s.large_bytes;
  r.mapped_bytes = s.mapped_bytes;
  // A page is another process's word: values no heap can reach are refused
  // before any sum, so that none wraps around and adds up by accident.
  const uint64_t most_bytes = uint64_t{1} << 53;  // a JavaScript number's integers
  const uint64_t most_pools = s.arenas_current * kPoolsPerArena;
  if (s.mapped_bytes > most_bytes || s.arenas_current > most_bytes / kArenaSize || s.large_bytes > s.mapped_bytes ||
      s.pools_free > most_pools || s.pools_used > most_pools) {
    r.disagreement = "a count is larger than the mapped bytes allow";
    return r;
  }
  disagree(r, "arenas allocated minus arenas freed", s.arenas_allocated_total - s.arenas_freed_total, s.arenas_current);
  if (s.arenas_peak < s.arenas_current || s.arenas_peak > s.arenas_allocated_total) {
    disagree(r, "peak arenas (between the current and the total)", s.arenas_peak, s.arenas_current);
  }
  uint64_t pools_used = 0;
  std::array<bool, kSizeClasses> seen{};
  for (const SizeClassStats& row : s.size_classes) {
    const unsigned c = row.block_size == 0 ? kSizeClasses : size_class_of(row.block_size);
    if (c >= kSizeClasses || class_block_size(c) != row.block_size || seen[c]) {
      r.disagreement = "a size-class row names no size class, or one twice (block size " + std::to_string(row.block_size) + ")";
      return r;
    }
    seen[c] = true;
    if (row.pools > most_pools || row.blocks_in_use > row.pools * blocks_per_pool(c) ||
        row.blocks_free != row.pools * blocks_per_pool(c) - row.blocks_in_use) {
      r.disagreement = "the blocks of a size class are not what its pools hold (block size " + std::to_string(row.block_size) + ")";
      return r;
    }
    r.classes[c] = {row.pools, row.blocks_in_use, row.blocks_free};
    pools_used += row.pools;
  }
  disagree(r, "pools in use", pools_used, s.pools_used);
  for (unsigned c = 0; c < kSizeClasses; c++) add_class_bytes(r, c);
  return r;
}

std::string format_report(const MallocReport& r) {
  std::string out = "Small block threshold = " + std::to_string(kSmallLimit) + ", in " + std::to_string(kSizeClasses) +
                    " size classes.\n\n"
                    "class   size   num pools   blocks in use  avail blocks\n"
                    "-----   ----   ---------   -------------  ------------\n";
  for (unsigned c = 0; c < kSizeClasses; c++) {
    const MallocClassRow& row = r.classes[c];
    if (row.pools == 0) continue;
    char text[128];
    std::snprintf(text, sizeof text, "%5u   %4zu   %9llu   %13llu  %12llu\n", c, class_block_size(c),
                  static_cast<unsigned long long>(row.pools), static_cast<unsigned long long>(row.blocks_in_use),
                  static_cast<unsigned long long>(row.blocks_free));
    out += text;
  }
  out += "\n";
  out += line("# arenas allocated total", r.arenas_allocated_total);
  out += line("# arenas reclaimed", r.arenas_freed_total);
  out += line("# arenas highwater mark", r.arenas_peak);
  out += line("# arenas allocated current", r.arenas_current);
  out += line(std::to_string(r.arenas_current) + " arenas * " + std::to_string(kArenaSize) + " bytes/arena", r.arena_bytes());
  out += "\n";
  out += line("# bytes in allocated blocks", r.in_use_bytes);
  out += line("# bytes in available blocks", r.available_bytes);
  out += line(std::to_string(r.unused_pools) + " unused pools * " + std::to_string(kPoolSize) + " bytes", r.unused_pools * kPoolSize);
  out += line("# bytes lost to pool headers", r.header_bytes);
  out += line("# bytes lost to quantization", r.quantization_bytes);
  out += line("# bytes lost to arena alignment", 0);  // arenas are mapped aligned to their size
  out += line("Total", r.total());
  out += "\n";
  out += line("# large blocks", r.large_blocks);
  out += line("# bytes mapped for large blocks", r.large_bytes);
  out += line("# bytes mapped in all", r.mapped_bytes);
  return out;
}

}  // namespace refheap
