// Refs: every number that does not name a live block of this heap must
// resolve to nullptr, without touching memory the heap does not own (the
// suite runs under AddressSanitizer, which would stop on a read of a
// poisoned byte). Section 3 of the specification.
#include <cmath>
#include <cstring>
#include <limits>
#include <atomic>
#include <random>
#include <thread>
#include <unordered_set>
#include <vector>

#include "check.h"
#include "heap.h"
#include "helpers.h"
#include "registry.h"

using namespace refheap;
using namespace refheap::testing;

namespace {

uint32_t granule_in_arena(const void* p) {
  return static_cast<uint32_t>((address_of(p) & (kArenaSize - 1)) / kGranule);
}

// Writes bytes into a block's data that look exactly like a live block
// header carrying `tag`, at `offset` bytes into the data.
void plant_fake_header(Block* block, size_t offset, uint16_t tag) {
  BlockHeader fake{};
  fake.refcount = 1;
  fake.tag = tag;
  fake.flags = block_flags::kAllocated;
  std::memcpy(data_of(block) + offset, &fake, sizeof fake);
}

}  // namespace

TEST(refs_forged_numbers_are_rejected) {
  Heap heap;
  Block* block = must_alloc(heap, 24);
  Block* large = must_alloc(heap, 4000);
  const double ref = heap.ref_of(block);
  const double large_ref = heap.ref_of(large);
  CHECK(heap.resolve(ref) == block);
  CHECK(heap.resolve(large_ref) == large);
  CHECK(ref >= 1 && ref < 4503599627370496.0 && ref == std::floor(ref));

  const double two52 = 4503599627370496.0;
  const double forged[] = {
      0.0, -0.0, -1.0, -ref, -large_ref, 0.5, 1.0, 1.5,
      std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
      std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::min(),
      std::numeric_limits<double>::max(), -std::numeric_limits<double>::max(),
      two52, two52 - 1, two52 + ref, two52 + large_ref, 2 * two52, 9007199254740992.0, 9007199254740993.0,
      18446744073709551616.0, 1e300,
  };
  for (double value : forged) CHECK(heap.resolve(value) == nullptr);
  // The doubles next to a ref are fractional (refs stay below 2^52, where
  // the spacing of doubles is at most 1/2), so none of them names a block.
  for (double value : {ref, large_ref}) {
    for (double near : {std::nextafter(value, 0.0), std::nextafter(value, two52)}) {
      CHECK(near != std::floor(near));
      CHECK(heap.resolve(near) == nullptr);
    }
  }
  heap.release(block);
  heap.release(large);
}

TEST(refs_random_bits_never_name_a_wrong_block) {
  Heap heap;
  std::vector<Block*> blocks;
  for (int i = 0; i < 2000; i++) blocks.push_back(must_alloc(heap, (i * 37) % 300, i % 3));
  blocks.push_back(must_alloc(heap, 5000));
  const RefParts first = split_ref(heap.ref_of(blocks[0]));
  std::mt19937_64 rng(12345);
  int resolved = 0;
  for (int i = 0; i < 300000; i++) {
    double value;
    switch (i % 4) {
      case 0: value = static_cast<double>(rng() & ((uint64_t{1} << 52) - 1)); break;
      case 1: {  // any bit pattern at all, NaNs and infinities included
        const uint64_t bits = rng();
        std::memcpy(&value, &bits, sizeof value);
        break;
      }
      case 2: value = make_ref(first.slot, rng() & 0xffff, rng() & 0xffff); break;  // a real arena
      default: {  // a real block's granule with a random tag
        const RefParts parts = split_ref(heap.ref_of(blocks[rng() % blocks.size()]));
        value = make_ref(parts.slot, parts.granule, rng() & 0xffff);
      }
    }
    Block* found = heap.resolve(value);
    if (found != nullptr) {
      resolved++;
      CHECK(heap.ref_of(found) == value);  // only ever the block the number names
    }
  }
  // A real block's granule resolves for its own tag only.
  for (Block* block : {blocks[0], blocks[777], blocks.back()}) {
    const RefParts parts = split_ref(heap.ref_of(block));
    int hits = 0;
    for (uint64_t tag = 0; tag <= 0xffff; tag++) {
      if (heap.resolve(make_ref(parts.slot, parts.granule, tag)) != nullptr) hits++;
    }
    CHECK_EQ(hits, 1);
  }
  CHECK(resolved < 100);  // random hits are possible but must be rare
  for (Block* block : blocks) heap.release(block);
  CHECK_CONSISTENT(heap);
}

TEST(refs_granule_inside_a_block_is_rejected_even_when_its_bytes_look_like_a_header) {
  Heap heap;
  // 8-byte header + 56 data bytes: a 64-byte block whose data covers three
  // granule boundaries.
  Block* block = must_alloc(heap, 56);
  CHECK_EQ(pool_of(block)->block_size, 64);
  const RefParts parts = split_ref(heap.ref_of(block));
  const uint16_t fake_tag = static_cast<uint16_t>(block->tag + 1000);
  plant_fake_header(block, 8, fake_tag);   // at block + 16
  plant_fake_header(block, 24, block->tag);  // at block + 32, with the block's own tag
  for (uint64_t g = 1; g < 4; g++) {
    CHECK(heap.resolve(make_ref(parts.slot, parts.granule + g, fake_tag)) == nullptr);
    CHECK(heap.resolve(make_ref(parts.slot, parts.granule + g, block->tag)) == nullptr);
  }
  CHECK(heap.resolve(heap.ref_of(block)) == block);
  // Every granule of the arena, with both tags: only the block itself resolves.
  int hits = 0;
  for (uint64_t g = 0; g < kArenaSize / kGranule; g++) {
    for (uint16_t tag : {fake_tag, block->tag}) {
      Block* found = heap.resolve(make_ref(parts.slot, g, tag));
      if (found != nullptr) {
        hits++;
        CHECK(found == block);
      }
    }
  }
  CHECK_EQ(hits, 1);
  heap.release(block);
}

TEST(refs_granules_of_a_pool_header_are_rejected) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  const RefParts parts = split_ref(heap.ref_of(block));
  const uint32_t pool_granule = granule_in_arena(pool_of(block));
  CHECK(parts.granule > pool_granule);
  for (uint32_t g = pool_granule; g < parts.granule; g++) {  // the pool header itself
    for (uint64_t tag = 0; tag <= 0xffff; tag++) CHECK(heap.resolve(make_ref(parts.slot, g, tag)) == nullptr);
  }
  heap.release(block);
}

TEST(refs_granules_past_the_carved_part_of_a_pool_are_rejected) {
  Heap heap;
  // A 64-byte block whose data holds, 32 bytes past the block, bytes that
  // look like a live header: exactly where a 32-byte block would start.
  Block* big = must_alloc(heap, 56);
  const uintptr_t pool = pool_base_of(big);
  plant_fake_header(big, 24, 4242);
  const RefParts big_parts = split_ref(heap.ref_of(big));
  heap.release(big);
  // The pool is empty now and is set up again for 32-byte blocks; only one
  // is carved, so the planted header lies past the carved part.
  Block* small = must_alloc(heap, 24);
  CHECK_EQ(pool_base_of(small), pool);
  CHECK_EQ(address_of(small), address_of(big));
  const uint32_t planted = big_parts.granule + 2;
  CHECK(heap.resolve(make_ref(big_parts.slot, planted, 4242)) == nullptr);
  // Nothing past the carved block resolves, whatever the tag.
  const uint32_t pool_end = granule_in_arena(reinterpret_cast<void*>(pool)) + kPoolSize / kGranule;
  for (uint32_t g = big_parts.granule + 1; g < pool_end; g++) {
    for (uint64_t tag : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{4242}, uint64_t{small->tag}}) {
      CHECK(heap.resolve(make_ref(big_parts.slot, g, tag)) == nullptr);
    }
  }
  CHECK(heap.resolve(heap.ref_of(small)) == small);
  heap.release(small);
}

TEST(refs_into_pools_never_carved_are_rejected) {
  Heap heap;
  Block* block = must_alloc(heap, 8);
  const RefParts parts = split_ref(heap.ref_of(block));
  const uint32_t first_pool = granule_in_arena(pool_of(block));
  const uint32_t granules_per_pool = kPoolSize / kGranule;
  for (uint32_t pool = 1; pool < kPoolsPerArena; pool++) {
    const uint32_t base = first_pool + pool * granules_per_pool;
    if (base >= kArenaSize / kGranule) break;
    for (uint32_t g = base; g < base + granules_per_pool; g++) {
      for (uint64_t tag = 0; tag < 3; tag++) CHECK(heap.resolve(make_ref(parts.slot, g, tag)) == nullptr);
    }
  }
  heap.release(block);
}

TEST(refs_of_another_heap_are_rejected) {
  Heap a;
  Heap b;
  CHECK(a.id() != b.id());
  Block* in_a = must_alloc(a, 24, 1);
  Block* in_b = must_alloc(b, 24, 1);
  Block* large_a = must_alloc(a, 9000);
  Block* large_b = must_alloc(b, 9000);
  CHECK(a.resolve(a.ref_of(in_a)) == in_a);
  CHECK(b.resolve(b.ref_of(in_b)) == in_b);
  CHECK(a.resolve(b.ref_of(in_b)) == nullptr);
  CHECK(b.resolve(a.ref_of(in_a)) == nullptr);
  CHECK(a.resolve(b.ref_of(large_b)) == nullptr);
  CHECK(b.resolve(a.ref_of(large_a)) == nullptr);
  // Same granule and tag, other arena: the slot alone tells them apart.
  const RefParts pa = split_ref(a.ref_of(in_a));
  const RefParts pb = split_ref(b.ref_of(in_b));
  CHECK(pa.slot != pb.slot);
  CHECK(a.resolve(make_ref(pb.slot, pa.granule, pa.tag)) == nullptr);
  const double ref_a = a.ref_of(in_a);
  const double large_ref_a = a.ref_of(large_a);
  a.close();
  CHECK(a.resolve(ref_a) == nullptr);
  CHECK(a.resolve(large_ref_a) == nullptr);
  CHECK(b.resolve(ref_a) == nullptr);
  CHECK(b.resolve(b.ref_of(in_b)) == in_b);
  b.release(in_b);
  b.release(large_b);
  CHECK_CONSISTENT(b);
}

TEST(refs_of_freed_blocks_are_rejected) {
  Heap heap;
  Block* plain = must_alloc(heap, 10);
  Block* slotted = must_alloc(heap, 10, 2);
  Block* large = must_alloc(heap, 100000, 3);
  Block* child = must_alloc(heap, 0, 1);
  Block* grandchild = must_alloc(heap, 600);
  CHECK(heap.set_ref(slotted, 1, child) == Status::kOk);
  CHECK(heap.set_ref(child, 0, grandchild) == Status::kOk);
  heap.release(child);
  heap.release(grandchild);
  const double refs[] = {heap.ref_of(plain), heap.ref_of(slotted), heap.ref_of(large), heap.ref_of(child),
                         heap.ref_of(grandchild)};
  heap.release(plain);
  heap.release(large);
  CHECK(heap.resolve(refs[0]) == nullptr);
  CHECK(heap.resolve(refs[2]) == nullptr);
  CHECK(heap.resolve(refs[3]) == child);
  heap.release(slotted);  // the cascade frees child and grandchild
  for (double ref : refs) CHECK(heap.resolve(ref) == nullptr);
  CHECK_EQ(heap.stats().live_blocks, uint64_t{0});
  CHECK_CONSISTENT(heap);
}

// Reuses one block's memory 65,535 times; `keep_pool_busy` keeps a neighbour
// alive so the pool stays in use, otherwise the pool (and its arena) empties
// on every free.
static void check_stale_refs_over_reuse(bool keep_pool_busy) {
  Heap heap;
  Block* neighbour = keep_pool_busy ? must_alloc(heap, 40) : nullptr;
  Block* block = must_alloc(heap, 40);
  const uintptr_t address = address_of(block);
  std::vector<double> refs{heap.ref_of(block)};
  for (int i = 0; i < 65535; i++) {
    heap.release(block);
    if (heap.resolve(refs.back()) != nullptr) {
      CHECK(heap.resolve(refs.back()) == nullptr);
      break;
    }
    block = must_alloc(heap, 40);
    if (address_of(block) != address) {
      CHECK_EQ(address_of(block), address);  // the test needs the same memory every time
      break;
    }
    refs.push_back(heap.ref_of(block));
  }
  CHECK_EQ(refs.size(), size_t{65536});
  std::unordered_set<double> distinct(refs.begin(), refs.end());
  CHECK_EQ(distinct.size(), refs.size());
  size_t resolving = 0;
  for (size_t i = 0; i + 1 < refs.size(); i++) {
    if (heap.resolve(refs[i]) != nullptr) resolving++;
  }
  CHECK_EQ(resolving, size_t{0});
  CHECK(heap.resolve(refs.back()) == block);
  heap.release(block);
  if (neighbour != nullptr) heap.release(neighbour);
  CHECK_CONSISTENT(heap);
}

TEST(refs_stale_after_65535_reuses_of_a_block_in_a_busy_pool) { check_stale_refs_over_reuse(true); }
TEST(refs_stale_after_65535_reuses_of_a_block_whose_pool_empties) { check_stale_refs_over_reuse(false); }

// One pool is filled, emptied and set up again for other size classes, over
// and over. Every ref it ever handed out must stay invalid, including when the
// data written in one layout lies where a later layout puts block headers.
TEST(refs_stale_after_their_pool_is_set_up_for_other_size_classes) {
  Heap heap;
  const size_t class_sequence[] = {32, 48, 32, 64, 32, 16, 32, 512, 48, 32, 80, 16, 32};
  std::vector<double> stale;
  uintptr_t pool = 0;
  for (size_t round = 0; round < sizeof class_sequence / sizeof class_sequence[0]; round++) {
    const size_t block_size = class_sequence[round];
    const size_t count = (kPoolSize - kPoolHeaderSize) / block_size;
    std::vector<Block*> blocks;
    for (size_t i = 0; i < count; i++) blocks.push_back(must_alloc(heap, block_size - 8));
    if (round == 0) pool = pool_base_of(blocks[0]);
    for (Block* block : blocks) CHECK_EQ(pool_base_of(block), pool);
    size_t resolving = 0;
    for (double ref : stale) resolving += heap.resolve(ref) != nullptr;
    CHECK_EQ(resolving, size_t{0});
    // Data that a later layout might read as headers: every granule of the
    // data area holds a "header" with a tag one below a stale ref's.
    for (size_t i = 0; i < blocks.size(); i++) {
      Block* block = blocks[i];
      for (size_t offset = 8; offset + 8 <= data_size(block); offset += kGranule) {
        const uint16_t tag = stale.empty() ? 0 : split_ref(stale[(i + offset) % stale.size()]).tag;
        plant_fake_header(block, offset, static_cast<uint16_t>(tag - 1));
      }
    }
    for (Block* block : blocks) {
      stale.push_back(heap.ref_of(block));
      heap.release(block);
    }
  }
  size_t resolving = 0;
  for (double ref : stale) resolving += heap.resolve(ref) != nullptr;
  CHECK_EQ(resolving, size_t{0});
  CHECK_CONSISTENT(heap);
}

TEST(refs_stale_when_a_pool_returns_to_an_older_layout) {
  // The smallest case: 32-byte blocks, then one 48-byte block across the
  // second one's header, then 32-byte blocks again.
  Heap heap;
  Block* x0 = must_alloc(heap, 24);
  Block* x1 = must_alloc(heap, 24);
  const double r0 = heap.ref_of(x0);
  const double r1 = heap.ref_of(x1);
  heap.release(x0);
  heap.release(x1);
  Block* y = must_alloc(heap, 40);
  CHECK_EQ(address_of(y), address_of(x0));
  heap.release(y);
  Block* z0 = must_alloc(heap, 24);
  Block* z1 = must_alloc(heap, 24);
  CHECK_EQ(address_of(z1), address_of(x1));
  CHECK(heap.resolve(r0) == nullptr);
  CHECK(heap.resolve(r1) == nullptr);
  CHECK(heap.resolve(heap.ref_of(z1)) == z1);
  heap.release(z0);
  heap.release(z1);
}

TEST(refs_stale_after_their_pool_was_trimmed) {
  Heap heap;
  Block* keeper = must_alloc(heap, 8);  // keeps the arena in use
  std::vector<Block*> blocks;
  for (int i = 0; i < 400; i++) blocks.push_back(must_alloc(heap, 24));
  const uintptr_t pool = pool_base_of(blocks[0]);
  CHECK(pool != pool_base_of(keeper));
  std::vector<double> stale;
  for (Block* block : blocks) {
    stale.push_back(heap.ref_of(block));
    heap.release(block);
  }
  CHECK(heap.trim() > 0);
  blocks.clear();
  for (int i = 0; i < 400; i++) blocks.push_back(must_alloc(heap, 24));
  CHECK_EQ(pool_base_of(blocks[0]), pool);
  size_t resolving = 0;
  for (double ref : stale) resolving += heap.resolve(ref) != nullptr;
  CHECK_EQ(resolving, size_t{0});
  for (Block* block : blocks) CHECK(heap.resolve(heap.ref_of(block)) == block);
  for (Block* block : blocks) heap.release(block);
  heap.release(keeper);
  CHECK_CONSISTENT(heap);
}

TEST(refs_stale_to_large_blocks_after_free) {
  Heap heap;
  std::vector<double> stale;
  for (int i = 0; i < 500; i++) {
    Block* large = must_alloc(heap, 600 + i * 50, i % 2);
    const double ref = heap.ref_of(large);
    CHECK(heap.resolve(ref) == large);
    for (double old : stale) {
      if (old == ref) CHECK(old != ref);
    }
    heap.release(large);
    CHECK(heap.resolve(ref) == nullptr);
    stale.push_back(ref);
  }
  Block* live = must_alloc(heap, 5000);
  for (double ref : stale) CHECK(heap.resolve(ref) == nullptr);
  heap.release(live);
  CHECK_EQ(heap.stats().large_blocks, uint64_t{0});
}

TEST(refs_into_unmapped_arenas_are_rejected) {
  Heap heap;
  // Two arenas' worth of 512-byte blocks, then everything freed: one arena
  // is unmapped at once, the other is cached until trim.
  const size_t per_arena = kPoolsPerArena * ((kPoolSize - kPoolHeaderSize) / 512);
  std::vector<Block*> blocks;
  for (size_t i = 0; i < 2 * per_arena; i++) blocks.push_back(must_alloc(heap, 504));
  CHECK_EQ(heap.stats().arenas_current, uint64_t{2});
  std::vector<double> refs;
  for (Block* block : blocks) refs.push_back(heap.ref_of(block));
  for (Block* block : blocks) heap.release(block);
  CHECK_EQ(heap.stats().arenas_current, uint64_t{1});
  for (double ref : refs) {
    if (heap.resolve(ref) != nullptr) {
      CHECK(heap.resolve(ref) == nullptr);
      break;
    }
  }
  CHECK(heap.trim() >= kArenaSize);
  CHECK_EQ(heap.stats().arenas_current, uint64_t{0});
  CHECK_EQ(heap.stats().mapped_bytes, uint64_t{0});
  for (double ref : refs) {
    if (heap.resolve(ref) != nullptr) {
      CHECK(heap.resolve(ref) == nullptr);
      break;
    }
  }
  // New arenas, possibly at the same addresses, must not revive the old refs.
  for (size_t i = 0; i < per_arena; i++) blocks[i] = must_alloc(heap, 504);
  size_t resolving = 0;
  for (double ref : refs) resolving += heap.resolve(ref) != nullptr;
  CHECK_EQ(resolving, size_t{0});
  for (size_t i = 0; i < per_arena; i++) heap.release(blocks[i]);
  CHECK_CONSISTENT(heap);
}

// Registry slots are reused once all 2^20 have been used (large blocks use
// one each, so a long-lived process gets there). To reach that point fast,
// the test claims every free slot itself and gives back just `wanted`,
// which the next mapping therefore gets.
namespace {

class SlotHog {
 public:
  explicit SlotHog(uint32_t wanted) {
    for (;;) {
      const uint32_t slot = Registry::claim(owner_, MappingKind::kLarge, nullptr);
      if (slot == 0) break;  // every slot is taken
      if (slot == wanted) found_ = true;
      else held_.push_back(slot);
    }
    if (found_) Registry::release(wanted);
  }
  ~SlotHog() {
    for (uint32_t slot : held_) Registry::release(slot);
  }
  bool found() const { return found_; }

 private:
  uint64_t owner_ = Registry::next_heap_id();
  std::vector<uint32_t> held_;
  bool found_ = false;
};

}  // namespace

TEST(refs_stale_when_a_new_arena_reuses_their_arenas_registry_slot) {
  Heap heap;
  std::vector<Block*> blocks;
  for (int i = 0; i < 100; i++) blocks.push_back(must_alloc(heap, 24));
  std::vector<double> stale;
  for (Block* block : blocks) stale.push_back(heap.ref_of(block));
  for (Block* block : blocks) heap.release(block);
  heap.trim();  // the arena is unmapped and its slot released
  CHECK_EQ(heap.stats().arenas_current, uint64_t{0});
  const uint64_t slot = split_ref(stale[0]).slot;
  SlotHog hog(static_cast<uint32_t>(slot));
  CHECK(hog.found());
  // A new arena in the same slot, with blocks at the same granules.
  for (int i = 0; i < 100; i++) blocks[i] = must_alloc(heap, 24);
  CHECK_EQ(split_ref(heap.ref_of(blocks[0])).slot, slot);
  CHECK_EQ(split_ref(heap.ref_of(blocks[0])).granule, split_ref(stale[0]).granule);
  size_t resolving = 0;
  for (double ref : stale) resolving += heap.resolve(ref) != nullptr;
  CHECK_EQ(resolving, size_t{0});
  for (Block* block : blocks) heap.release(block);
  CHECK_CONSISTENT(heap);
}

TEST(refs_of_a_closed_heap_stay_invalid_in_the_heap_that_reuses_its_slot) {
  std::vector<double> stale;
  uint64_t slot = 0;
  {
    Heap closing;
    for (int i = 0; i < 50; i++) {
      Block* block = must_alloc(closing, 40, 1);
      stale.push_back(closing.ref_of(block));
    }
    slot = split_ref(stale[0]).slot;
  }  // closed with its blocks still alive
  SlotHog hog(static_cast<uint32_t>(slot));
  CHECK(hog.found());
  Heap other;
  std::vector<Block*> blocks;
  for (int i = 0; i < 50; i++) blocks.push_back(must_alloc(other, 40, 1));
  CHECK_EQ(split_ref(other.ref_of(blocks[0])).slot, slot);
  size_t resolving = 0;
  for (double ref : stale) resolving += other.resolve(ref) != nullptr;
  CHECK_EQ(resolving, size_t{0});
  for (Block* block : blocks) other.release(block);
  CHECK_CONSISTENT(other);
}

TEST(refs_of_heaps_in_other_threads_are_rejected_while_they_churn) {
  // Each thread owns a heap, publishes refs of blocks it keeps alive, then
  // churns arenas and large blocks (claiming and releasing registry slots)
  // while it tries the other threads' live refs, which must never resolve
  // in its own heap.
  constexpr int kThreads = 4;
  std::vector<std::vector<double>> published(kThreads);
  std::atomic<int> ready{0};
  std::atomic<int> done{0};
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([t, &published, &ready, &done, &wrong] {
      Heap heap;
      std::mt19937 rng(t);
      std::vector<Block*> kept;
      for (int i = 0; i < 200; i++) {
        kept.push_back(must_alloc(heap, (i * 13 + t) % 900, i % 2));
        published[t].push_back(heap.ref_of(kept.back()));
      }
      ready++;
      while (ready.load() < kThreads) std::this_thread::yield();
      std::vector<Block*> churn;
      for (int round = 0; round < 3000; round++) {
        churn.push_back(must_alloc(heap, rng() % 1200, rng() % 3));
        if (churn.size() > 300 || rng() % 3 == 0) {
          const size_t victim = rng() % churn.size();
          heap.release(churn[victim]);
          churn[victim] = churn.back();
          churn.pop_back();
        }
        for (int other = 0; other < kThreads; other++) {
          if (other == t) continue;
          const std::vector<double>& refs = published[other];
          if (heap.resolve(refs[rng() % refs.size()]) != nullptr) wrong[t]++;
        }
      }
      for (Block* block : churn) heap.release(block);
      for (size_t i = 0; i < kept.size(); i++) {
        if (heap.resolve(published[t][i]) != kept[i]) wrong[t]++;
      }
      if (!heap.verify().empty()) wrong[t]++;
      // The blocks stay alive until every thread is done trying their refs.
      done++;
      while (done.load() < kThreads) std::this_thread::yield();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; t++) CHECK_EQ(wrong[t], 0);
}
