// libFuzzer target: the input is decoded into a sequence of heap operations
// (alloc of every shape, retain, release, setRef, getRef, collect, freeze,
// views, forged refs, settings, faults), and into what finalizers and gc
// callbacks do when they run (resurrect, release, allocate, setRef, collect
// again). The fuzzer keeps a model of what it holds itself -- its counts,
// its views, the slots of the blocks it holds -- so it never releases a
// count it does not own, and after every operation it checks:
//
//   - heap.verify() is "" (also inside every finalizer, callback and debug
//     line, where a collection is half done);
//   - every block it holds is alive, with at least its counts, its shape,
//     the stamp written into its data at alloc (its own ref: two blocks
//     sharing memory show up), and the slots it stored;
//   - alloc hands out zeroed blocks and never the same ref twice; a ref seen
//     dead never resolves again; any number resolves to nullptr or to the
//     block whose ref it is exactly;
//   - finalizers run once per block, on live blocks of types that have one,
//     never by the collector on an uncollectable block, never on a block the
//     fuzzer could reach when the collection started;
//   - a full collection during which no callback did anything leaves only
//     what the fuzzer, the garbage list and the permanent generation reach,
//     and frees as many tracked blocks as it reports collected;
//   - collect() inside a collection returns 0; a top-level collect returns
//     what its stop event reported; getCount() follows its rules for the
//     operations it can predict.
//
// One input in two (the first byte says) is "chaos": it also releases
// counts it does not hold -- the finalizer's own count, slots' targets,
// garbage and getObjects blocks, a view's count -- as JavaScript may. The
// heap must stay safe then: only verify()'s count checks may fail, a block
// a view pins stays, what it holds may die (and its ref then never resolves
// again), and nothing touches freed memory (AddressSanitizer).
//
// The encoding is described with the hand-made seeds, fuzz/make_seeds.js.
//
// Finalizer calls may also fail as if the JavaScript stack were exhausted
// (run_finalizer returns false): the heap must keep the block and try again.
//
// Run a single input with REFHEAP_FUZZ_TRACE=1 to see it decoded.
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "heap.h"

using namespace refheap;

namespace {

bool g_trace = false;

void trace(const char* format, ...) __attribute__((format(printf, 1, 2)));
void trace(const char* format, ...) {
  if (!g_trace) return;
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
}

[[noreturn]] void failure(const std::string& what) {
  std::fprintf(stderr, "\nheap_ops_fuzz: FAILED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

#define EXPECT(cond, what)                     \
  do {                                         \
    if (!(cond)) failure(std::string(what));   \
  } while (0)

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return position_ >= size_; }
  uint8_t byte() { return position_ < size_ ? data_[position_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(byte() | byte() << 8); }
  uint32_t u32() { return static_cast<uint32_t>(u16() | static_cast<uint32_t>(u16()) << 16); }
  uint64_t u64() { return u32() | static_cast<uint64_t>(u32()) << 32; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
};

// What the fuzzer itself holds on one block.
struct Held {
  uint32_t counts = 0;
  uint32_t views = 0;
  uint64_t size = 0;
  uint32_t slot_count = 0;
  uint8_t type = 0;
  std::vector<uint64_t> slots;  // ref bits stored in each slot, as far as the fuzzer knows
  size_t index = 0;             // in Fuzzer::handles_
};

constexpr size_t kMaxTypes = 16;
constexpr uint64_t kMaxHookActions = 20000;

class Fuzzer final : public GcHooks {
 public:
  Fuzzer(const uint8_t* data, size_t size) : in_(data, size) {}

  void run() {
    const uint8_t config = in_.byte();
    static const uint64_t kLimits[4] = {0, 0, 3 << 20, 8 << 20};
    heap_ = new Heap(kLimits[config & 3]);
    chaos_ = (config & 0x80) != 0;
    heap_->set_hooks(this);
    Collector& gc = heap_->gc();
    gc.thresholds = {static_cast<uint64_t>((config >> 2) & 7) * 3, 3, 3};
    gc.debug = (config & 0x20) ? debug_flags::kStats | debug_flags::kCollectable | debug_flags::kUncollectable : 0;
    if (config & 0x40) gc.debug |= debug_flags::kSaveAll;
    trace("heap: maxBytes %" PRIu64 ", thresholds %" PRIu64 " 3 3, debug %" PRIu64 "%s\n", kLimits[config & 3],
          gc.thresholds[0], gc.debug, chaos_ ? ", chaos" : "");
    define("Final", true, false);
    define("Keep", false, true);
    define("KeepFinal", true, true);
    define("Final2", true, false);
    while (!in_.empty()) {
      step();
      check_all("after op " + std::to_string(ops_));
    }
    tear_down();
    delete heap_;
  }

  // GcHooks.
  bool run_finalizer(Block* block) override {
    // Now and then the call cannot be made (the stack is exhausted).
    if (!tearing_down_ && !in_.empty() && in_.byte() % 16 == 15) {
      trace("    finalizer %#" PRIx64 " could not be called\n", heap_->ref_bits(block));
      hook_actions_++;
      refused_.insert(heap_->ref_bits(block));
      EXPECT(is_finalized(block), "a block is not marked finalized while its finalizer is called");
      return false;
    }
    finalizer(block);
    return true;
  }
  void finalizer(Block* block) {
    const uint64_t ref = heap_->ref_bits(block);
    trace("    finalizer %#" PRIx64 " (type %u)%s\n", ref, block->type, has_gc_bit(block, gc_bits::kCollecting) ? " by the collector" : "");
    EXPECT(heap_->resolve(static_cast<double>(ref)) == block, "a finalizer runs on a block that does not resolve");
    EXPECT(heap_->has_finalizer(block), "a finalizer runs on a block whose type has none");
    EXPECT(is_finalized(block), "a block is not marked finalized while its finalizer runs");
    EXPECT(block->refcount > 0, "a block's count is zero while its finalizer runs");
    EXPECT(finalized_.insert(ref).second, "a finalizer runs twice on one block");
    refused_.erase(ref);
    EXPECT(chaos_ || held_.count(ref) == 0, "a finalizer runs on a block the fuzzer holds");
    check_stamp(block, "a block being finalized");
    if (has_gc_bit(block, gc_bits::kCollecting)) {
      EXPECT(heap_->gc().collecting(), "a block is under collection while no collection runs");
      EXPECT(!heap_->is_uncollectable(block), "the collector finalizes a block of an uncollectable type");
      if (snapshot_valid_ && !chaos_) {
        EXPECT(reachable_at_start_.count(ref) == 0, "the collector finalizes a block the fuzzer could reach when it started");
      }
    }
    verify_here("in a finalizer");
    hook_action(block);
    verify_here("in a finalizer, after its action");
  }

  bool collection_event(bool starting, const CollectionInfo& info) override {
    // Now and then the call cannot be made: the event must come later, late, in order.
    if (!tearing_down_ && !in_.empty() && in_.byte() % 16 == 14) {
      trace("    gc %s could not be called\n", starting ? "start" : "stop");
      hook_actions_++;
      if (!starting && !info.late) {
        last_stop_ = info;  // what collect() returns, told or not
        stop_seen_ = true;
      }
      return false;
    }
    trace("    gc %s generation %u (collected %" PRIu64 ", uncollectable %" PRIu64 ")%s\n", starting ? "start" : "stop",
          info.generation, info.collected, info.uncollectable, info.late ? " late" : "");
    EXPECT(info.late || heap_->gc().collecting(), "a collection event outside a collection");
    EXPECT(info.generation < kGenerations, "a collection event names no generation");
    // Every start is followed by its stop, late ones and dropped pairs included.
    EXPECT(starting != in_collection_, "collection events do not alternate start, stop");
    in_collection_ = starting;
    events_++;
    if (info.late) late_events_++;
    verify_here(starting ? "in a start callback" : "in a stop callback");
    if (info.late) {
      // A collection whose start was kept gives its own stop late too, in
      // place; it is the last stop seen during the collection.
      if (!starting && heap_->gc().collecting()) {
        last_stop_ = info;
        stop_seen_ = true;
        stop_late_ = true;
      }
      // What JavaScript given a late event may do (collect among it: its
      // events must queue behind this one).
      if (!in_.empty() && in_.byte() % 4 == 0) {
        hook_action(nullptr);
        verify_here("in a late event, after its action");
      }
      return true;
    }
    if (starting) {
      hook_action(nullptr);
      verify_here("in a start callback, after its action");
      // What the fuzzer can reach now is alive for this collection: nothing
      // runs between here and the reachability pass but debug lines.
      take_snapshot();
    } else {
      last_stop_ = info;
      stop_seen_ = true;
      snapshot_valid_ = false;
      hook_action(nullptr);
      verify_here("in a stop callback, after its action");
    }
    return true;
  }

  void debug_line(const std::string& line) override {
    trace("    %s\n", line.c_str());
    EXPECT(line.compare(0, 4, "gc: ") == 0, "a debug line does not start with \"gc: \"");
    verify_here("in a debug line");
    const uint64_t before = hook_actions_;
    hook_action(nullptr);
    if (hook_actions_ != before) snapshot_valid_ = false;  // it may have dropped what the snapshot counted on
    verify_here("in a debug line, after its action");
  }

 private:
  // ---- the model ----------------------------------------------------------

  // The block of a held ref. Under chaos a block the fuzzer holds may die
  // (it released others' counts): then it is forgotten and nullptr returned.
  Block* block_of(uint64_t ref, const char* what) {
    Block* block = heap_->resolve(static_cast<double>(ref));
    if (block != nullptr) return block;
    auto it = held_.find(ref);
    if (!chaos_ || it == held_.end() || it->second.views > 0) {
      failure(std::string(what) + ": a block the fuzzer " + (it != held_.end() && it->second.views > 0 ? "has a view of" : "holds") +
              " is gone (ref " + std::to_string(ref) + ")");
    }
    trace("    (%#" PRIx64 " died under chaos)\n", ref);
    dead_.insert(ref);
    forget(ref);
    return nullptr;
  }

  void forget(uint64_t ref) {
    auto it = held_.find(ref);
    const uint64_t last = handles_.back();
    handles_[it->second.index] = last;
    held_[last].index = it->second.index;
    handles_.pop_back();
    held_.erase(ref);
  }

  // verify()'s answer is fine: "", or under chaos one of its count checks,
  // which a heap whose counts JavaScript released may fail (verify.cc).
  bool acceptable(const std::string& problem) const {
    if (problem.empty()) return true;
    if (!chaos_) return false;
    for (const char* allowed : {"count at least the slots", "a slot holds the ref of a block that is not live",
                                "a live block has a zero count"}) {
      if (problem.compare(0, std::strlen(allowed), allowed) == 0) return true;
    }
    return false;
  }

  // Adds one count (or one view) the fuzzer now holds on `block`.
  Held& hold(Block* block, bool view) {
    const uint64_t ref = heap_->ref_bits(block);
    auto [it, inserted] = held_.try_emplace(ref);
    Held& h = it->second;
    if (inserted) {
      h.size = data_size(block);
      h.slot_count = slot_count(block);
      h.type = block->type;
      h.slots.resize(h.slot_count);
      for (uint32_t s = 0; s < h.slot_count; s++) {
        const SlotWord word = slots_of(block)[s];
        h.slots[s] = heap_->resolve_bits(word) != nullptr ? word : 0;
      }
      h.index = handles_.size();
      handles_.push_back(ref);
    }
    (view ? h.views : h.counts)++;
    return h;
  }

  // The fuzzer gives up one count (or view) on `ref`; true if it holds nothing more.
  void unhold(uint64_t ref, bool view) {
    auto it = held_.find(ref);
    if (it == held_.end()) failure("model: unhold of a ref not held");
    Held& h = it->second;
    (view ? h.views : h.counts)--;
    if (h.counts == 0 && h.views == 0) forget(ref);
  }

  // A held ref, chosen by the input; 0 when none.
  uint64_t pick() {
    if (handles_.empty()) return 0;
    const size_t n = handles_.size();
    const size_t choice = n <= 256 ? in_.byte() : in_.u16();
    return handles_[choice % n];
  }
  uint64_t pick_counted() {
    for (int tries = 0; tries < 4; tries++) {
      const uint64_t ref = pick();
      if (ref != 0 && held_[ref].counts > 0) return ref;
    }
    return 0;
  }

  void define(const char* name, bool finalizer, bool uncollectable) {
    uint32_t id;
    EXPECT(heap_->define_type(name, finalizer, uncollectable, &id) == Status::kOk, "define_type failed");
    types_++;
  }

  static bool stamped(uint64_t size) { return size >= sizeof(uint64_t); }
  // (Not yet stamped: a block allocMany made, seen by a callback of a later
  // alloc's collection before allocMany returned.)
  void check_stamp(Block* block, const char* what) {
    if (!stamped(data_size(block)) || seen_refs_.count(heap_->ref_bits(block)) == 0) return;
    uint64_t stamp;
    std::memcpy(&stamp, data_of(block), sizeof stamp);
    if (stamp != heap_->ref_bits(block)) failure(std::string(what) + ": its data lost the stamp written at alloc (overlapping blocks?)");
  }

  void check_all(const std::string& when) {
    EXPECT(!heap_->gc().collecting(), when + ": a collection is still marked running");
    EXPECT(!in_collection_ || heap_->gc().events_waiting(), when + ": a collection started and never stopped");
    const std::string problem = heap_->verify();
    if (!acceptable(problem)) failure(when + ": verify: " + problem);
    const std::vector<uint64_t> refs = handles_;
    for (const uint64_t ref : refs) {
      Block* block = block_of(ref, when.c_str());
      if (block == nullptr) continue;
      const Held& h = held_[ref];
      check_stamp(block, when.c_str());
      EXPECT(data_size(block) == h.size && slot_count(block) == h.slot_count && block->type == h.type,
             when + ": a held block changed shape");
      if (chaos_) continue;  // its counts and slots may have been released behind its back
      EXPECT(block->refcount >= uint64_t{h.counts} + h.views, when + ": a held block's count is below the fuzzer's counts");
      for (uint32_t s = 0; s < h.slot_count; s++) {
        Block* got = nullptr;
        EXPECT(heap_->get_ref(block, s, &got) == Status::kOk, "get_ref of a slot in range failed");
        const uint64_t expected = h.slots[s];
        if (expected == 0) {
          EXPECT(got == nullptr, when + ": a slot the fuzzer emptied holds a block");
        } else {
          EXPECT(got != nullptr && heap_->ref_bits(got) == expected, when + ": a slot of a held block lost what the fuzzer stored");
        }
      }
    }
    for (const uint64_t ref : dead_) {
      EXPECT(heap_->resolve(static_cast<double>(ref)) == nullptr, when + ": a ref seen dead resolves again");
    }
  }

  void verify_here(const char* where) {
    const std::string problem = heap_->verify();
    if (!acceptable(problem)) failure(std::string("verify ") + where + " (op " + std::to_string(ops_) + "): " + problem);
  }

  // The blocks reachable through real slots from the given refs.
  std::unordered_set<uint64_t> closure(std::vector<Block*> work) {
    std::unordered_set<uint64_t> seen;
    for (Block* b : work) seen.insert(heap_->ref_bits(b));
    while (!work.empty()) {
      Block* block = work.back();
      work.pop_back();
      for (uint32_t s = 0; s < slot_count(block); s++) {
        Block* target = heap_->resolve_bits(slots_of(block)[s]);
        if (target != nullptr && seen.insert(heap_->ref_bits(target)).second) work.push_back(target);
      }
    }
    return seen;
  }

  std::vector<Block*> roots(bool with_frozen) {
    std::vector<Block*> roots;
    const std::vector<uint64_t> refs = handles_;
    for (const uint64_t ref : refs) {
      if (Block* block = block_of(ref, "roots")) roots.push_back(block);
    }
    for (Block* b : heap_->gc().garbage()) roots.push_back(b);
    if (with_frozen) {
      for (Block* b : heap_->gc().generation(kPermanentGeneration)) roots.push_back(b);
      // Blocks whose finalizer could not be called wait for it.
      for (uint64_t ref : refused_) {
        if (Block* b = heap_->resolve(static_cast<double>(ref))) roots.push_back(b);
      }
    }
    return roots;
  }

  void take_snapshot() {
    reachable_at_start_ = closure(roots(false));
    snapshot_valid_ = true;
  }

  // ---- operations -----------------------------------------------------------

  struct Shape {
    uint64_t size, slots, type;
  };

  Shape decode_shape(bool small_only) {
    Shape shape{};
    const uint8_t selector = in_.byte();
    switch (small_only ? selector % 4 : selector % 8) {
      case 0: shape.slots = 0; break;
      case 1: case 2: shape.slots = 1 + selector / 8 % 4; break;
      case 3: shape.slots = in_.byte() % 40; break;
      case 4: shape.slots = in_.byte(); break;
      case 5: shape.slots = in_.u16() % 5000; break;
      case 6: shape.slots = 0; break;
      case 7: shape.slots = (selector & 0x80) ? kMaxSlots + 1 : in_.u16() % 70; break;
    }
    const uint8_t sizing = in_.byte();
    const uint64_t header = block_bytes_needed(0, shape.slots);
    switch (small_only ? sizing % 4 : sizing % 8) {
      case 0: shape.size = 0; break;
      case 1: shape.size = sizing / 8; break;
      case 2: shape.size = in_.byte(); break;
      case 3: {  // around the small limit
        const int64_t size = static_cast<int64_t>(kSmallLimit) - static_cast<int64_t>(header) + (in_.byte() % 33) - 16;
        shape.size = size < 0 ? 0 : static_cast<uint64_t>(size);
        break;
      }
      case 4: shape.size = in_.u16() % 600; break;
      case 5: shape.size = 512 + in_.u16(); break;
      case 6: shape.size = in_.u32() % (uint64_t{1} << 20); break;
      case 7: shape.size = (sizing & 0x80) ? kMaxDataBytes + 1 + in_.byte() : kMaxDataBytes - in_.byte() % 2; break;
    }
    if (shape.size >= kMaxDataBytes - 1 && shape.size <= kMaxDataBytes) shape.size = in_.byte() % 2 ? shape.size : 100;  // rarely a real GiB
    shape.type = in_.byte() % (types_ + 1);  // one past the last: out of range
    if (shape.slots > 1000 && shape.size > 100000) shape.size = 100;  // keep blocks of many slots modest
    return shape;
  }

  // Checks a block alloc just returned and takes it into the model.
  void adopt_new(Block* block, const Shape& shape, const char* what) {
    const uint64_t ref = heap_->ref_bits(block);
    EXPECT(seen_refs_.insert(ref).second, std::string(what) + ": a ref was handed out twice");
    EXPECT(heap_->resolve(static_cast<double>(ref)) == block, std::string(what) + ": a new block does not resolve");
    EXPECT(block->refcount == 1, std::string(what) + ": a new block's count is not 1");
    EXPECT(data_size(block) == shape.size && slot_count(block) == shape.slots && block->type == shape.type,
           std::string(what) + ": a new block has the wrong shape");
    EXPECT(!is_finalized(block), std::string(what) + ": a new block is marked finalized");
    for (uint32_t s = 0; s < shape.slots; s++) EXPECT(slots_of(block)[s] == 0, std::string(what) + ": a new block's slot is not empty");
    const uint8_t* data = data_of(block);
    const uint64_t checked = shape.size < 4096 ? shape.size : 4096;
    for (uint64_t i = 0; i < checked; i++) EXPECT(data[i] == 0, std::string(what) + ": a new block's data is not zeroed");
    if (stamped(shape.size)) std::memcpy(data_of(block), &ref, sizeof ref);
    hold(block, false);
  }

  struct Counters {
    uint64_t live, allocated, requested, allocations, frees;
  };
  Counters counters() const {
    const HeapStats s = heap_->stats();
    return {s.live_blocks, s.allocated_bytes, s.requested_bytes, s.allocations, s.frees};
  }

  void alloc(bool small_only, const char* what) {
    const Shape shape = decode_shape(small_only);
    trace("%s alloc(%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")", what, shape.size, shape.slots, shape.type);
    const Counters before = counters();
    const uint64_t events_before = events_;
    Block* block = nullptr;
    allocating_++;
    const Status status = heap_->alloc(shape.size, shape.slots, shape.type, &block);
    allocating_--;
    const bool out_of_range = shape.size > kMaxDataBytes || shape.slots > kMaxSlots || shape.type > types_;
    if (out_of_range) {
      trace(" -> out of range\n");
      EXPECT(status == Status::kOutOfRange, "alloc out of range was not refused with kOutOfRange");
    } else if (status == Status::kOk) {
      trace(" -> %#" PRIx64 "\n", heap_->ref_bits(block));
      adopt_new(block, shape, what);
      return;
    } else {
      trace(" -> refused (%d)\n", static_cast<int>(status));
      EXPECT((status == Status::kHeapLimit && heap_->pages().max_bytes() != 0) || (status == Status::kOsMemory && faults_armed_),
             "alloc failed with status " + std::to_string(static_cast<int>(status)));
    }
    if (events_ == events_before) {
      const Counters after = counters();
      EXPECT(after.live == before.live && after.allocated == before.allocated && after.requested == before.requested &&
                 after.allocations == before.allocations && after.frees == before.frees,
             "a refused alloc changed the statistics");
    }
  }

  void alloc_many() {
    const uint64_t count = in_.byte() % 9;
    const Shape shape = decode_shape(true);
    trace("allocMany(%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64 ")", count, shape.size, shape.slots, shape.type);
    std::vector<double> refs(count + 1);
    allocating_++;
    const Status status = heap_->alloc_many(count, shape.size, shape.slots, shape.type, refs.data());
    allocating_--;
    if (shape.type > types_) {
      trace(" -> out of range\n");
      EXPECT(status == Status::kOutOfRange || count == 0, "allocMany out of range was not refused");
      return;
    }
    if (status != Status::kOk) {
      trace(" -> refused (%d)\n", static_cast<int>(status));
      EXPECT((status == Status::kHeapLimit && heap_->pages().max_bytes() != 0) || (status == Status::kOsMemory && faults_armed_),
             "allocMany failed with status " + std::to_string(static_cast<int>(status)));
      return;
    }
    trace(" -> %" PRIu64 " blocks\n", count);
    for (uint64_t i = 0; i < count; i++) {
      Block* block = heap_->resolve(refs[i]);
      // Under chaos a callback of a later alloc's collection may have found
      // it (getObjects) and released its count.
      if (block == nullptr && chaos_) continue;
      EXPECT(block != nullptr, "a block allocMany returned does not resolve");
      if (chaos_ && (block->refcount != 1 || is_finalized(block) || held_.count(heap_->ref_bits(block)) != 0)) {
        // Found, released, finalized, maybe resurrected meanwhile: no longer new.
        const uint64_t ref = heap_->ref_bits(block);
        seen_refs_.insert(ref);
        if (stamped(data_size(block))) std::memcpy(data_of(block), &ref, sizeof ref);
        continue;
      }
      adopt_new(block, shape, "allocMany");
    }
  }

  void release(uint64_t ref, const char* what, bool checked_call) {
    Block* block = block_of(ref, what);
    if (block == nullptr) return;
    trace("%s release(%#" PRIx64 ")\n", what, ref);
    unhold(ref, false);
    if (checked_call || chaos_) {
      const bool at_zero = block->refcount == 0;  // under chaos: all its counts were released by others
      EXPECT(heap_->release_held(block) == (at_zero ? Status::kInvalidRef : Status::kOk), "release_held of a held block failed");
    } else {
      heap_->release(block);
    }
  }

  void set_ref(uint64_t from, uint64_t target, uint64_t slot, const char* what) {
    Block* block = block_of(from, what);
    if (block == nullptr) return;
    Block* to = target != 0 ? heap_->resolve(static_cast<double>(target)) : nullptr;
    if (target != 0 && to == nullptr) {
      if (!chaos_) failure(std::string(what) + ": setRef's target is gone");
      return;
    }
    trace("%s setRef(%#" PRIx64 ", %" PRIu64 ", %#" PRIx64 ")\n", what, from, slot, target);
    const uint32_t before = to != nullptr ? to->refcount : 0;
    auto it = held_.find(from);
    const bool in_range = slot < slot_count(block);  // (under chaos the call may free `block` itself)
    if (in_range && it != held_.end()) it->second.slots[slot] = target;  // before: releasing may run finalizers
    const Status status = heap_->set_ref(block, slot, to);
    if (!in_range) {
      EXPECT(status == Status::kOutOfRange, "setRef past the last slot was accepted");
      EXPECT(to == nullptr || to->refcount == before, "a refused setRef changed a count");
    } else {
      EXPECT(status == Status::kOk, "setRef failed");
    }
  }

  void forged_resolve() {
    const uint8_t kind = in_.byte();
    double number = 0;
    uint64_t base = pick();
    switch (kind % 8) {
      case 0: number = static_cast<double>(in_.u64()); break;
      case 1: number = static_cast<double>(in_.u64() & ((uint64_t{1} << 52) - 1)); break;
      case 2: number = static_cast<double>(base ^ (uint64_t{1} << (in_.byte() % 52))); break;
      case 3: number = static_cast<double>(base + static_cast<int8_t>(in_.byte())); break;
      case 4: number = static_cast<double>(base + (static_cast<uint64_t>(static_cast<int8_t>(in_.byte())) << 16)); break;
      case 5: {
        static const double kOdd[] = {NAN, -1.0, 0.0, 0.5, 4503599627370496.0, 9007199254740993.0, INFINITY, -0.0};
        number = kOdd[in_.byte() % 8];
        if (base != 0 && in_.byte() % 2) number = static_cast<double>(base) + 0.5;
        break;
      }
      case 6: {
        if (!seen_refs_.empty()) {
          // A ref handed out earlier: alive, or dead (and then never again alive).
          auto it = seen_refs_.begin();
          std::advance(it, in_.byte() % seen_refs_.size() % 64);
          number = static_cast<double>(*it);
        }
        break;
      }
      case 7: number = static_cast<double>((base & ~uint64_t{0xffff}) | in_.u16()); break;
    }
    Block* block = heap_->resolve(number);
    trace("resolve(%.17g) -> %s\n", number, block != nullptr ? "a block" : "nullptr");
    if (block == nullptr) {
      if (std::isfinite(number) && number >= 0 && number < 4503599627370496.0 && std::floor(number) == number) {
        const uint64_t bits = static_cast<uint64_t>(number);
        if (seen_refs_.count(bits) != 0) dead_.insert(bits);
        if (held_.count(bits) != 0) block_of(bits, "resolve");  // fails, unless chaos killed it
      }
      return;
    }
    EXPECT(std::floor(number) == number && number >= 1 && number < 4503599627370496.0, "a non-integer resolves");
    const uint64_t bits = static_cast<uint64_t>(number);
    EXPECT(heap_->ref_bits(block) == bits, "a number resolves to a block whose ref it is not");
    EXPECT(is_allocated(block), "a number resolves to a freed block");
    EXPECT(dead_.count(bits) == 0, "a ref seen dead resolves again");
    // The block an alloc is about to return resolves before alloc returns
    // (from a callback of its automatic collection).
    EXPECT(seen_refs_.count(bits) != 0 || allocating_ > 0, "a number resolves to a block alloc never returned");
    check_stamp(block, "a block a forged ref resolved to");
  }

  void settings() {
    Collector& gc = heap_->gc();
    const uint8_t what = in_.byte();
    switch (what % 4) {
      case 0: gc.thresholds[0] = in_.byte() % 12; break;
      case 1: gc.thresholds[in_.byte() % 3] = in_.byte() % 6; break;
      case 2: gc.enabled = !gc.enabled; break;
      case 3: {
        const uint8_t flags = in_.byte();
        gc.debug = (flags & 1 ? debug_flags::kStats : 0) | (flags & 2 ? debug_flags::kCollectable : 0) |
                   (flags & 4 ? debug_flags::kUncollectable : 0) | (flags & 8 ? debug_flags::kSaveAll : 0);
        break;
      }
    }
    trace("settings: enabled %d, thresholds %" PRIu64 " %" PRIu64 " %" PRIu64 ", debug %" PRIu64 "\n", gc.enabled,
          gc.thresholds[0], gc.thresholds[1], gc.thresholds[2], gc.debug);
  }

  void collect(unsigned generation) {
    Collector& gc = heap_->gc();
    const auto counts_before = gc.counts();
    const uint64_t actions_before = hook_actions_;
    const uint64_t tracked_before = heap_->stats().tracked_blocks;
    const bool frozen_before = gc.freeze_count() != 0;
    const uint64_t events_before = events_;
    const uint64_t late_before = late_events_;
    trace("collect(%u)\n", generation);
    stop_seen_ = false;
    stop_late_ = false;
    const uint64_t found = gc.collect(generation);
    trace("  -> %" PRIu64 "\n", found);
    if (generation >= kGenerations) {
      EXPECT(found == 0 && events_ == events_before, "collect of no generation did something");
      return;
    }
    // A stop queued behind a start that could not be told is not offered now: it waits, in order.
    // A late stop seen may be an earlier collection's if this one's waits.
    if (stop_seen_ && !(stop_late_ && gc.events_waiting())) {
      EXPECT(found == last_stop_.collected + last_stop_.uncollectable, "collect's result differs from its stop event");
    } else {
      EXPECT(gc.events_waiting(), "a collection ended with no stop event, told, refused or waiting");
    }
    if (hook_actions_ != actions_before || chaos_) return;
    // (Events an earlier collection kept may go first: they are its own.)
    EXPECT(events_ - (late_events_ - late_before) == events_before + 2,
           "a collection did not report start and stop once each");
    // Nothing ran but the collector: its counters are predictable...
    const auto counts = gc.counts();
    for (unsigned g = 0; g <= generation; g++) EXPECT(counts[g] == 0, "a collected generation's count is not 0 after it");
    if (generation + 1 < kGenerations) {
      EXPECT(counts[generation + 1] == counts_before[generation + 1] + 1, "a collection did not add one to the next count");
    }
    // ... and a full one leaves only what is reachable from the fuzzer,
    // the garbage list and the permanent generation.
    if (generation == kGenerations - 1) {
      // Every tracked block was in it: those freed are those collected.
      if (!frozen_before && (gc.debug & debug_flags::kSaveAll) == 0) {
        const uint64_t freed = tracked_before - heap_->stats().tracked_blocks;
        if (freed != last_stop_.collected) {
          failure("a full collection freed " + std::to_string(freed) + " tracked blocks and reported " +
                  std::to_string(last_stop_.collected) + " collected");
        }
      }
      const uint64_t reachable = closure(roots(true)).size();
      const uint64_t live = heap_->stats().live_blocks;
      if (live != reachable) {
        failure("a full collection left " + std::to_string(live) + " live blocks, " + std::to_string(reachable) +
                " reachable from the fuzzer, garbage and frozen blocks");
      }
    }
  }

  void step() {
    ops_++;
    Heap::Operation operation(*heap_);  // as the binding brackets every call
    const uint8_t op = in_.byte();
    const auto counts_before = heap_->gc().counts();
    const uint64_t tracked_before = heap_->stats().tracked_blocks;
    const uint64_t events_before = events_;
    const uint64_t actions_before = hook_actions_;
    uint64_t tracked_allocs = 0;
    bool predictable = false;  // getCount()[0] follows from the op alone
    switch (op % 25) {
      case 0: break;
      case 1: case 2: case 3: {
        const uint64_t live_tracked = heap_->stats().tracked_blocks;
        alloc(false, "");
        tracked_allocs = heap_->stats().tracked_blocks > live_tracked ? 1 : 0;
        predictable = true;
        break;
      }
      case 4: {
        const uint64_t ref = pick_counted();
        if (ref == 0) break;
        trace("retain(%#" PRIx64 ")\n", ref);
        Block* block = block_of(ref, "retain");
        if (block == nullptr) break;
        EXPECT(heap_->retain(block) == Status::kOk, "retain failed");
        hold(block, false);
        break;
      }
      case 5: case 6: case 20: {
        const uint64_t ref = pick_counted();
        if (ref != 0) release(ref, "", op % 24 == 20);
        predictable = true;
        break;
      }
      case 7: case 8: {
        const uint64_t from = pick();
        if (from == 0) break;
        const uint8_t choice = in_.byte();
        const uint64_t target = choice % 4 == 0 ? 0 : pick();
        const uint32_t slots = held_[from].slot_count;
        const uint64_t slot = choice & 0x80 ? slots + in_.byte() % 3 : (slots == 0 ? 0 : in_.u16() % slots);
        set_ref(from, target, slot, "");
        predictable = true;
        break;
      }
      case 9: {
        const uint64_t from = pick();
        if (from == 0) break;
        Block* block = block_of(from, "getRef");
        if (block == nullptr) break;
        const uint64_t slot = in_.u16() % (slot_count(block) + 2);
        Block* got = nullptr;
        const Status status = heap_->get_ref(block, slot, &got);
        trace("getRef(%#" PRIx64 ", %" PRIu64 ")\n", from, slot);
        if (slot >= slot_count(block)) EXPECT(status == Status::kOutOfRange, "getRef past the last slot was accepted");
        else EXPECT(status == Status::kOk, "getRef failed");
        if (got != nullptr) check_stamp(got, "a block getRef returned");
        break;
      }
      case 10: collect(in_.byte() % 4); break;
      case 11: {
        const uint8_t what = in_.byte() % 3;
        if (what == 0) {
          trace("freeze()\n");
          heap_->gc().freeze();
          for (uint64_t c : heap_->gc().counts()) EXPECT(c == 0, "freeze did not zero the counts");
          for (unsigned g = 0; g < kGenerations; g++) EXPECT(heap_->gc().generation(g).empty(), "freeze left a block in a generation");
        } else if (what == 1) {
          trace("unfreeze()\n");
          heap_->gc().unfreeze();
          EXPECT(heap_->gc().freeze_count() == 0, "unfreeze left frozen blocks");
        } else {
          trace("clearGarbage()\n");
          heap_->gc().clear_garbage();
          EXPECT(heap_->gc().garbage().empty(), "clearGarbage left garbage");
        }
        break;
      }
      case 12: settings(); break;
      case 13: forged_resolve(); break;
      case 14: {
        const uint64_t ref = pick();
        if (ref == 0) break;
        trace("view(%#" PRIx64 ")\n", ref);
        Block* block = block_of(ref, "view");
        if (block == nullptr) break;
        const uint32_t count = block->refcount;
        const Status status = heap_->add_view(block);
        EXPECT(status == Status::kOk, "add_view failed with status " + std::to_string(static_cast<int>(status)) + " on a block of count " + std::to_string(count));
        hold(block, true);
        break;
      }
      case 15: {
        for (int tries = 0; tries < 4; tries++) {
          const uint64_t ref = pick();
          if (ref == 0 || held_[ref].views == 0) continue;
          trace("drop view(%#" PRIx64 ")\n", ref);
          Block* block = block_of(ref, "drop view");  // a view pins its block: never nullptr
          unhold(ref, true);
          heap_->drop_view_later(block);  // given back when the next call starts
          break;
        }
        break;
      }
      case 16: alloc_many(); break;
      case 17: {
        const uint64_t n = 1 + in_.byte() % 4;
        trace("fail mapping %" PRIu64 " from now\n", n);
        heap_->pages().os().fail_nth_mapping(n);
        faults_armed_ = true;
        break;
      }
      case 18: {
        const uint8_t what = in_.byte() % 3;
        if (what == 0) {
          trace("trim()\n");
          heap_->trim();
        } else if (what == 1) {
          std::vector<Block*> targets;
          for (int i = 0; i < 3; i++) {
            if (const uint64_t ref = pick()) {
              if (Block* block = block_of(ref, "referrers")) targets.push_back(block);
            }
          }
          trace("getReferrers(%zu blocks)\n", targets.size());
          for (Block* found : heap_->referrers(targets)) {
            EXPECT(heap_->resolve(heap_->ref_of(found)) == found, "getReferrers returned a block that does not resolve");
            EXPECT(has_gc_bit(found, gc_bits::kTracked) && generation_of(found) < kGenerations,
                   "getReferrers returned a block outside generations 0-2");
            check_stamp(found, "a block getReferrers returned");
          }
        } else {
          trace("garbage, getObjects\n");
          for (Block* b : heap_->gc().garbage()) check_stamp(b, "a garbage block");
          for (unsigned g = 0; g <= kPermanentGeneration; g++) {
            for (Block* b : heap_->gc().generation(g)) check_stamp(b, "a listed block");
          }
        }
        break;
      }
      case 19: {
        // Everything the fuzzer holds, released once: long cascades.
        trace("release all\n");
        std::vector<uint64_t> refs;
        for (uint64_t ref : handles_) {
          if (held_[ref].counts > 0) refs.push_back(ref);
        }
        for (uint64_t ref : refs) {
          auto it = held_.find(ref);
          if (it != held_.end() && it->second.counts > 0) release(ref, " ", false);
        }
        break;
      }
      case 21: {
        if (types_ + 1 >= kMaxTypes) break;
        const uint8_t flags = in_.byte();
        trace("defineType(finalizer %d, uncollectable %d)\n", flags & 1, (flags >> 1) & 1);
        define("Fuzzed", flags & 1, flags & 2);
        break;
      }
      case 22: {
        const uint64_t ref = pick();
        if (ref == 0) break;
        Block* block = block_of(ref, "check_range");
        if (block == nullptr) break;
        const uint64_t size = data_size(block);
        const uint64_t offset = in_.u16() % (size + 3);
        const uint64_t length = in_.u16() % (size + 3);
        const Status status = heap_->check_range(block, offset, length);
        trace("write(%#" PRIx64 ", %" PRIu64 ", %" PRIu64 " bytes)\n", ref, offset, length);
        const bool inside = offset <= size && length <= size - offset;
        EXPECT((status == Status::kOk) == inside, "check_range is wrong");
        // Writes past the stamp only.
        if (inside && offset + length > 0) {
          const uint64_t from = offset < 8 && stamped(size) ? 8 : offset;
          if (from < offset + length) std::memset(data_of(block) + from, 0xa5, offset + length - from);
        }
        break;
      }
      case 23: {
        // The check of one op's counts: a release to zero that frees a tracked chain.
        const uint64_t ref = pick_counted();
        if (ref == 0) break;
        while (held_.count(ref) != 0 && held_[ref].counts > 0) release(ref, "drain", false);
        predictable = true;
        break;
      }
    }
    if (op % 25 == 24) steal(nullptr);
    if (predictable && events_ == events_before && hook_actions_ == actions_before) {
      // count0: tracked allocations minus tracked frees, never below 0.
      const uint64_t tracked_after = heap_->stats().tracked_blocks;
      const uint64_t frees = tracked_before + tracked_allocs - tracked_after;
      const uint64_t up = counts_before[0] + tracked_allocs;
      const uint64_t expected = tracked_allocs != 0 ? up : (counts_before[0] > frees ? counts_before[0] - frees : 0);
      if (heap_->gc().counts()[0] != expected) {
        failure("getCount()[0] is " + std::to_string(heap_->gc().counts()[0]) + ", expected " + std::to_string(expected) +
                " (was " + std::to_string(counts_before[0]) + ", tracked allocs " + std::to_string(tracked_allocs) +
                ", tracked frees " + std::to_string(frees) + ")");
      }
    }
  }

  // What a finalizer (block != nullptr), callback or debug line does.
  void hook_action(Block* finalizing) {
    if (tearing_down_ || hook_actions_ >= kMaxHookActions || in_.empty()) return;
    const uint8_t action = in_.byte();
    if (action % 12 < 3) return;
    hook_actions_++;
    const bool collecting = heap_->gc().collecting();
    switch (action % 12) {
      case 3:  // resurrect
        if (finalizing == nullptr) break;
        trace("    -> resurrect (retain)\n");
        EXPECT(heap_->retain(finalizing) == Status::kOk, "retain in a finalizer failed");
        hold(finalizing, false);
        break;
      case 4: {
        const uint64_t ref = pick_counted();
        if (ref != 0) release(ref, "    ->", false);
        break;
      }
      case 5: alloc(true, "    ->"); break;
      case 6: {
        const uint64_t from = pick();
        if (from == 0 || held_[from].slot_count == 0) break;
        const uint64_t target = finalizing != nullptr ? heap_->ref_bits(finalizing) : pick();
        set_ref(from, target, in_.byte() % held_[from].slot_count, "    ->");
        break;
      }
      case 7: {
        if (finalizing == nullptr || slot_count(finalizing) == 0) break;
        const uint64_t target = in_.byte() % 2 ? pick() : 0;
        set_ref(heap_->ref_bits(finalizing), target, in_.byte() % slot_count(finalizing), "    -> (own slot)");
        break;
      }
      case 8: {
        const unsigned generation = in_.byte() % 3;
        trace("    -> collect(%u)%s\n", generation, collecting ? " inside a collection" : "");
        const bool was_valid = snapshot_valid_;
        const auto saved_snapshot = reachable_at_start_;
        const CollectionInfo saved_stop = last_stop_;
        const bool saved_stop_seen = stop_seen_;
        const bool saved_stop_late = stop_late_;
        const uint64_t found = heap_->gc().collect(generation);
        if (collecting) EXPECT(found == 0, "collect inside a collection did something");
        snapshot_valid_ = was_valid;
        reachable_at_start_ = saved_snapshot;
        last_stop_ = saved_stop;
        stop_seen_ = saved_stop_seen;
        stop_late_ = saved_stop_late;
        break;
      }
      case 9: {
        Block* block = finalizing;
        if (block == nullptr) {
          const uint64_t ref = pick();
          if (ref == 0) break;
          block = block_of(ref, "view in a hook");
          if (block == nullptr) break;
        }
        trace("    -> view(%#" PRIx64 ")\n", heap_->ref_bits(block));
        EXPECT(heap_->add_view(block) == Status::kOk, "add_view in a hook failed");
        hold(block, true);
        break;
      }
      case 10: {
        const uint64_t ref = pick_counted();
        if (ref == 0) break;
        trace("    -> retain(%#" PRIx64 ")\n", ref);
        Block* block = block_of(ref, "retain in a hook");
        if (block == nullptr) break;
        EXPECT(heap_->retain(block) == Status::kOk, "retain in a hook failed");
        hold(block, false);
        break;
      }
      case 11:
        trace("    -> ");
        if (chaos_ && action & 0x80) steal(finalizing);
        else forged_resolve();
        break;
    }
  }

  // Chaos: releases a count the fuzzer does not hold, on a block it finds
  // somewhere JavaScript could: a slot, the garbage list, a generation list,
  // its own handles (a view's count), a forged ref, the block being finalized.
  void steal(Block* finalizing) {
    if (!chaos_) return;
    const uint8_t source = in_.byte();
    Block* block = nullptr;
    const char* where = "";
    switch (source % 6) {
      case 0: {
        const uint64_t ref = pick();
        Block* from = ref != 0 ? block_of(ref, "steal") : nullptr;
        if (from != nullptr && slot_count(from) != 0) heap_->get_ref(from, in_.byte() % slot_count(from), &block);
        where = "a slot's target";
        break;
      }
      case 1: {
        const std::vector<Block*>& garbage = heap_->gc().garbage();
        if (!garbage.empty()) block = garbage[in_.byte() % garbage.size()];
        where = "a garbage block";
        break;
      }
      case 2: {
        const std::vector<Block*>& list = heap_->gc().generation(in_.byte() % 4);
        if (!list.empty()) block = list[in_.u16() % list.size()];
        where = "a listed block";
        break;
      }
      case 3: case 4: {
        if (const uint64_t ref = pick()) block = block_of(ref, "steal");
        where = "a handle's block";
        break;
      }
      case 5:
        block = finalizing;
        where = "the block being finalized";
        break;
    }
    if (block == nullptr) return;
    trace("steal: release(%#" PRIx64 "), %s, count %u\n", heap_->ref_bits(block), where, block->refcount);
    const bool at_zero = block->refcount == 0;
    EXPECT(heap_->release_held(block) == (at_zero ? Status::kInvalidRef : Status::kOk), "release_held gave the wrong status");
  }

  void tear_down() {
    tearing_down_ = true;
    trace("tear down\n");
    // Every view and count the fuzzer holds goes back.
    while (!handles_.empty()) {
      const uint64_t ref = handles_.back();
      Block* block = block_of(ref, "tear down");
      if (block == nullptr) continue;
      if (held_[ref].views > 0) {
        unhold(ref, true);
        heap_->drop_view_later(block);
        Heap::Operation drop(*heap_);
      } else {
        release(ref, "tear down", false);
      }
    }
    { Heap::Operation call(*heap_); }  // runs the finalizers that could not be called before
    check_all("after releasing everything");
    heap_->gc().debug &= ~debug_flags::kSaveAll;
    heap_->pages().os().fail_nth_mapping(0);
    {
      Heap::Operation call(*heap_);
      collect(kGenerations - 1);  // checks that only garbage and frozen blocks (and what they reach) are left
    }
    check_all("after the last collection");
    {
      Heap::Operation call(*heap_);
      heap_->gc().clear_garbage();
      heap_->gc().unfreeze();
      collect(kGenerations - 1);
    }
    check_all("after clearing the garbage");
  }

  Input in_;
  Heap* heap_ = nullptr;
  uint32_t types_ = 0;  // defined besides type 0
  std::unordered_map<uint64_t, Held> held_;
  std::vector<uint64_t> handles_;         // the keys of held_, to pick from
  std::unordered_set<uint64_t> seen_refs_;  // every ref alloc returned
  std::unordered_set<uint64_t> dead_;       // refs seen not to resolve
  std::unordered_set<uint64_t> finalized_;
  std::unordered_set<uint64_t> refused_;         // finalizer calls refused, not yet made
  std::unordered_set<uint64_t> reachable_at_start_;
  bool snapshot_valid_ = false;
  bool in_collection_ = false;
  CollectionInfo last_stop_;
  bool stop_seen_ = false;  // the last collect()'s own stop reached the hook (told or refused)
  bool stop_late_ = false;  // ... as a late event, which may be an earlier collection's
  uint64_t events_ = 0;
  uint64_t late_events_ = 0;  // of events_, those delivered late
  uint64_t hook_actions_ = 0;
  uint64_t ops_ = 0;
  bool faults_armed_ = false;
  int allocating_ = 0;  // alloc calls on the stack
  bool tearing_down_ = false;
  bool chaos_ = false;  // releases counts it does not hold, too
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_trace = std::getenv("REFHEAP_FUZZ_TRACE") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fuzzer(data, size).run();
  return 0;
}
