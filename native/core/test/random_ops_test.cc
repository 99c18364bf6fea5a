// Seeded random operations checked against a model of the heap: which
// blocks are alive, the exact count of each (counts held by the test plus
// slots pointing at it), what each slot holds and what each data area
// holds. The model works out on its own which blocks a release kills, so a
// cascade that frees too much or too little shows up at once.
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "heap.h"
#include "helpers.h"

using namespace refheap;
using namespace refheap::testing;

namespace {

constexpr int kNone = -1;

struct ModelBlock {
  Block* block = nullptr;
  double ref = 0;
  uint32_t held = 0;      // counts the test owns
  uint32_t pointed = 0;   // slots of live blocks pointing here
  std::vector<int> slots;
  std::vector<uint8_t> data;
  bool alive = false;
  uint32_t count() const { return held + pointed; }
};

class Model {
 public:
  // The model knows counts, not cycles: the collector stays out of its way
  // (no automatic collections, none before refusing for maxBytes).
  Model(Heap& heap, uint64_t seed) : heap_(heap), rng_(seed), seed_(seed) {
    heap_.gc().enabled = false;
    heap_.pages().set_pressure_handler(nullptr, nullptr);
  }

  void run(int operations) {
    for (int op = 0; op < operations && failures_in_current_test() < 20; op++) {
      step();
      if (heap_.stats().live_blocks != live_.size()) {
        fail(__FILE__, __LINE__, "live blocks differ after op " + std::to_string(op) + ", seed " + std::to_string(seed_));
        return;
      }
      if (op % 10000 == 0) check_everything();
    }
    check_everything();
  }

  // Gives back every count the test holds and clears every slot, so that
  // cycles die too; the model predicts each death on the way.
  void tear_down() {
    for (size_t id = 0; id < blocks_.size(); id++) {
      while (blocks_[id].alive && blocks_[id].held > 0) release(static_cast<int>(id));
    }
    for (size_t id = 0; id < blocks_.size(); id++) {
      for (size_t s = 0; blocks_[id].alive && s < blocks_[id].slots.size(); s++) set_ref(static_cast<int>(id), s, kNone);
    }
    check_everything();
    CHECK_EQ(live_.size(), size_t{0});
    const HeapStats stats = heap_.stats();
    CHECK_EQ(stats.allocations, uint64_t{blocks_.size()});  // refused allocs are not counted
    CHECK_EQ(stats.frees, uint64_t{blocks_.size()});
  }

  size_t blocks_ever() const { return blocks_.size(); }
  size_t refused() const { return refused_; }
  size_t allocated_after_refusal() const { return allocated_after_refusal_; }

 private:
  uint64_t random(uint64_t n) { return rng_() % n; }

  int random_live() { return live_.empty() ? kNone : live_[random(live_.size())]; }

  // A live block satisfying `want`, after a few tries, else kNone.
  template <typename Want>
  int pick(Want want) {
    for (int tries = 0; tries < 16; tries++) {
      const int id = random_live();
      if (id != kNone && want(blocks_[id])) return id;
    }
    return kNone;
  }

  void step() {
    const uint64_t dice = random(100);
    // Keep the heap from growing without bound: release more when it is big.
    const uint64_t alloc_share = live_.size() > 20000 ? 15 : 32;
    if (live_.empty() || dice < alloc_share) return alloc();
    if (dice < 40) {
      const int id = random_live();
      if (heap_.retain(blocks_[id].block) == Status::kOk) blocks_[id].held++;
      else fail(__FILE__, __LINE__, "retain failed");
      return;
    }
    if (dice < 65) {
      const int id = pick([](const ModelBlock& b) { return b.held > 0; });
      if (id != kNone) release(id);
      return;
    }
    if (dice < 85) {
      const int id = pick([](const ModelBlock& b) { return !b.slots.empty(); });
      if (id == kNone) return;
      const size_t slots = blocks_[id].slots.size();
      if (random(20) == 0) {  // out of range: refused, nothing changes
        Block* target = blocks_[random_live()].block;
        const uint32_t before = target->refcount;
        if (heap_.set_ref(blocks_[id].block, slots + random(3), target) != Status::kOutOfRange) {
          fail(__FILE__, __LINE__, "set_ref past the last slot was accepted");
        }
        if (target->refcount != before) fail(__FILE__, __LINE__, "a refused set_ref changed a count");
        return;
      }
      set_ref(id, random(slots), random(5) == 0 ? kNone : random_live());
      return;
    }
    if (dice < 90) {
      const int id = pick([](const ModelBlock& b) { return !b.slots.empty(); });
      if (id == kNone) return;
      const size_t slot = random(blocks_[id].slots.size() + 1);
      Block* got = nullptr;
      const Status status = heap_.get_ref(blocks_[id].block, slot, &got);
      if (slot == blocks_[id].slots.size()) {
        if (status != Status::kOutOfRange) fail(__FILE__, __LINE__, "get_ref past the last slot was accepted");
      } else if (status != Status::kOk || got != block_or_null(blocks_[id].slots[slot])) {
        fail(__FILE__, __LINE__, "get_ref disagrees with the model");
      }
      return;
    }
    if (dice < 95) return write(random_live());
    const int id = random_live();
    ModelBlock& b = blocks_[id];
    if (b.block->refcount != b.count()) fail(__FILE__, __LINE__, "refcount disagrees with the model");
    if (heap_.resolve(b.ref) != b.block) fail(__FILE__, __LINE__, "a live ref does not resolve");
    if (!same_data(b)) fail(__FILE__, __LINE__, "data differs");
  }

  void alloc() {
    const size_t size = random(701);
    const size_t slots = random(5);
    Block* block = nullptr;
    const bool limited = heap_.pages().max_bytes() != 0;
    const HeapStats before = limited ? heap_.stats() : HeapStats{};
    const Status status = heap_.alloc(size, slots, 0, &block);
    if (status == Status::kHeapLimit && limited) {
      refused_++;
      const std::string difference = stats_difference(heap_.stats(), before);
      if (!difference.empty()) fail(__FILE__, __LINE__, "a refused alloc changed the stats: " + difference);
      return;
    }
    if (status != Status::kOk) {
      fail(__FILE__, __LINE__, "alloc failed");
      return;
    }
    if (refused_ > 0) allocated_after_refusal_++;
    if (data_size(block) != size || slot_count(block) != slots) fail(__FILE__, __LINE__, "wrong block shape");
    for (size_t i = 0; i < size; i++) {
      if (data_of(block)[i] != 0) {
        fail(__FILE__, __LINE__, "a new block's data is not zeroed");
        break;
      }
    }
    for (size_t s = 0; s < slots; s++) {
      if (slots_of(block)[s] != 0) fail(__FILE__, __LINE__, "a new block's slot is not empty");
    }
    ModelBlock b;
    b.block = block;
    b.ref = heap_.ref_of(block);
    b.held = 1;
    b.slots.assign(slots, kNone);
    b.data.assign(size, 0);
    b.alive = true;
    const int id = static_cast<int>(blocks_.size());
    blocks_.push_back(std::move(b));
    position_.push_back(live_.size());
    live_.push_back(id);
  }

  void write(int id) {
    ModelBlock& b = blocks_[id];
    const size_t size = b.data.size();
    const size_t offset = random(size + 2);
    const size_t length = random(size + 2);
    const bool fits = offset <= size && length <= size - offset;
    const bool accepted = heap_.check_range(b.block, offset, length) == Status::kOk;
    if (accepted != fits) {
      fail(__FILE__, __LINE__, "check_range disagrees");
      return;
    }
    if (!fits) return;
    for (size_t i = 0; i < length; i++) {
      const uint8_t byte = static_cast<uint8_t>(rng_());
      b.data[offset + i] = byte;
      data_of(b.block)[offset + i] = byte;
    }
  }

  void release(int id) {
    blocks_[id].held--;
    heap_.release(blocks_[id].block);
    if (blocks_[id].count() == 0) kill(id);
  }

  void set_ref(int id, size_t slot, int target) {
    ModelBlock& b = blocks_[id];
    if (heap_.set_ref(b.block, slot, block_or_null(target)) != Status::kOk) {
      fail(__FILE__, __LINE__, "set_ref failed");
      return;
    }
    if (target != kNone) blocks_[target].pointed++;
    const int previous = b.slots[slot];
    b.slots[slot] = target;
    if (previous != kNone) {
      blocks_[previous].pointed--;
      if (blocks_[previous].count() == 0) kill(previous);  // may kill `id` itself
    }
  }

  // The model's own cascade: everything whose count reaches zero dies.
  void kill(int first) {
    std::vector<int> dying{first};
    while (!dying.empty()) {
      const int id = dying.back();
      dying.pop_back();
      ModelBlock& b = blocks_[id];
      b.alive = false;
      for (int target : b.slots) {
        if (target == kNone) continue;
        ModelBlock& t = blocks_[target];
        if (!t.alive) {
          fail(__FILE__, __LINE__, "model: a dead block was pointed at");
          continue;
        }
        if (--t.pointed == 0 && t.held == 0) dying.push_back(target);
      }
      if (heap_.resolve(b.ref) != nullptr) fail(__FILE__, __LINE__, "a block the model says died still resolves");
      dead_refs_.push_back(b.ref);
      b.block = nullptr;
      b.slots.clear();
      b.data = std::vector<uint8_t>();
      const size_t at = position_[id];
      live_[at] = live_.back();
      position_[live_[at]] = at;
      live_.pop_back();
    }
  }

  static bool same_data(const ModelBlock& b) {
    return b.data.empty() || std::memcmp(data_of(b.block), b.data.data(), b.data.size()) == 0;
  }

  Block* block_or_null(int id) const { return id == kNone ? nullptr : blocks_[id].block; }

  void check_everything() {
    CHECK_CONSISTENT(heap_);
    uint64_t tracked = 0;
    for (int id : live_) {
      const ModelBlock& b = blocks_[id];
      tracked += !b.slots.empty();
      if (heap_.resolve(b.ref) != b.block) fail(__FILE__, __LINE__, "a live ref does not resolve");
      if (b.block->refcount != b.count()) {
        fail(__FILE__, __LINE__, "refcount " + std::to_string(b.block->refcount) + ", model " + std::to_string(b.count()));
      }
      for (size_t s = 0; s < b.slots.size(); s++) {
        if (heap_.resolve_bits(slots_of(b.block)[s]) != block_or_null(b.slots[s])) fail(__FILE__, __LINE__, "a slot differs");
      }
      if (!same_data(b)) fail(__FILE__, __LINE__, "data differs");
    }
    CHECK_EQ(heap_.stats().tracked_blocks, tracked);
    // Fewer than 65,536 allocations in all, so no dead ref can have come back.
    size_t resolving = 0;
    for (double ref : dead_refs_) resolving += heap_.resolve(ref) != nullptr;
    CHECK_EQ(resolving, size_t{0});
  }

  Heap& heap_;
  std::mt19937_64 rng_;
  uint64_t seed_;
  std::vector<ModelBlock> blocks_;  // by id, dead ones included
  std::vector<int> live_;           // ids of live blocks, any order
  std::vector<size_t> position_;    // id -> index in live_ while alive
  std::vector<double> dead_refs_;
  size_t refused_ = 0;                  // allocs refused for the heap limit
  size_t allocated_after_refusal_ = 0;
};

}  // namespace

TEST(random_ops_match_the_model) {
  for (uint64_t seed : {uint64_t{1}, uint64_t{20240601}}) {
    Heap heap;
    Model model(heap, seed);
    model.run(100000);
    CHECK(model.blocks_ever() < 65536);
    model.tear_down();
  }
}

TEST(random_ops_match_the_model_at_the_heap_limit) {
  // About half the memory the same operations reach without a limit: allocs
  // are refused now and then (changing nothing), and go on once releases
  // make room, while arenas come and go at the limit's edge.
  const uint64_t limit = 6 * kArenaSize;
  Heap heap(limit);
  Model model(heap, 7);
  model.run(60000);
  CHECK(model.refused() > 0);
  CHECK(model.allocated_after_refusal() > 0);
  CHECK(heap.stats().peak_mapped_bytes <= limit);
  heap.trim();
  model.run(20000);  // and on after trim
  CHECK(heap.stats().peak_mapped_bytes <= limit);
  model.tear_down();
}
