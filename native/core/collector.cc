#include "collector.h"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cinttypes>
#include <cstdio>

#include "heap.h"

namespace refheap {
namespace {

constexpr uint32_t kListState = gc_bits::kTracked | gc_bits::kGenerationMask;
constexpr uint32_t kCollectionState = gc_bits::kCollecting | gc_bits::kUnknown | gc_bits::kDeferred;

std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));
// Sized to the line, so a long type name never cuts it (or a character).
std::string format(const char* pattern, ...) {
  va_list args;
  va_start(args, pattern);
  va_list again;
  va_copy(again, args);
  const int length = std::vsnprintf(nullptr, 0, pattern, args);
  va_end(args);
  std::string line(length > 0 ? static_cast<size_t>(length) : 0, '\0');
  if (length > 0) std::vsnprintf(line.data(), line.size() + 1, pattern, again);
  va_end(again);
  return line;
}

}  // namespace

void Collector::track(Block* block, unsigned generation) {
  std::vector<Block*>& list = generations_[generation];
  clear_gc_bits(block, kListState);
  set_gc_bits(block, gc_bits::kTracked | (generation << gc_bits::kGenerationShift));
  slotted(block)->gc_word = static_cast<uint32_t>(list.size());
  list.push_back(block);
}

void Collector::untrack(Block* block) {
  if (!has_gc_bit(block, gc_bits::kTracked)) return;
  std::vector<Block*>& list = generations_[generation_of(block)];
  const uint32_t index = slotted(block)->gc_word;
  Block* last = list.back();
  list[index] = last;
  slotted(last)->gc_word = index;
  list.pop_back();
  clear_gc_bits(block, kListState);
}

int Collector::note_tracked_alloc() {
  counts_[0]++;
  if (!enabled || thresholds[0] == 0 || collecting_ || delivering_late_ || counts_[0] <= thresholds[0]) return -1;
  for (int g = kGenerations - 1; g >= 0; g--) {
    if (counts_[g] <= thresholds[g]) continue;
    // CPython's rule: a full collection only once the blocks that entered
    // generation 2 since the last one are a quarter of those it kept.
    if (g == kGenerations - 1 && long_lived_pending_ < long_lived_total_ / 4) continue;
    return g;
  }
  return -1;
}

void Collector::debug_line(const std::string& line) {
  if (heap_.hooks() != nullptr) heap_.hooks()->debug_line(line);
}

std::string Collector::block_line(const char* kind, const Block* block) const {
  return format("gc: %s <%s 0x%" PRIx64 ">", kind, heap_.type_name(block->type)->c_str(), heap_.ref_bits(block));
}

void Collector::write_block_lines(const char* kind, const std::vector<Block*>& blocks, size_t begin, size_t end) {
  for (size_t i = begin; i < end; i++) debug_line(block_line(kind, blocks[i]));
}

// Moves generations 0..g onto the collection list; gc_word becomes gc_refs.
void Collector::gather(unsigned generation) {
  collecting_list_.clear();
  // Take the largest list over instead of copying it (no allocation, no
  // page faults); the others go around it, keeping generation order.
  unsigned largest = 0;
  size_t total = 0;
  for (unsigned g = 0; g <= generation; g++) {
    total += generations_[g].size();
    if (generations_[g].size() > generations_[largest].size()) largest = g;
  }
  collecting_list_.swap(generations_[largest]);
  if (total != collecting_list_.size()) {
    std::vector<Block*> younger;
    for (unsigned g = 0; g < largest; g++) younger.insert(younger.end(), generations_[g].begin(), generations_[g].end());
    if (collecting_list_.capacity() < total) collecting_list_.reserve(std::max(total, 2 * collecting_list_.capacity()));
    collecting_list_.insert(collecting_list_.begin(), younger.begin(), younger.end());
    for (unsigned g = largest + 1; g <= generation; g++) {
      collecting_list_.insert(collecting_list_.end(), generations_[g].begin(), generations_[g].end());
    }
  }
  for (unsigned g = 0; g <= generation; g++) generations_[g].clear();
  for (Block* block : collecting_list_) {
    clear_gc_bits(block, kListState);
    set_gc_bits(block, gc_bits::kCollecting);
    slotted(block)->gc_word = block->refcount;
  }
}


namespace {
inline void prefetch_targets(const Heap& heap, Block* block) {
  const SlotWord* slots = slots_of(block);
  for (uint32_t i = 0, n = slot_count(block); i < n; i++) heap.prefetch_bits(slots[i]);
}
}  // namespace

void Collector::subtract_internal_refs(const std::vector<Block*>& blocks) {
  const size_t count = blocks.size();
  for (size_t k = 0; k < count && k < kPrefetchDistance; k++) prefetch_targets(heap_, blocks[k]);
  for (size_t k = 0; k < count; k++) {
    Block* block = blocks[k];
    if (k + kPrefetchDistance < count) prefetch_targets(heap_, blocks[k + kPrefetchDistance]);
    const SlotWord* slots = slots_of(block);
    for (uint32_t i = 0, n = slot_count(block); i < n; i++) {
      if (slots[i] == 0) continue;
      Block* target = heap_.resolve_bits(slots[i]);
      // A count JavaScript released on a slot's behalf can leave fewer counts
      // than slots pointing in: never go below zero. A block at the largest
      // count is a root: the holds and garbage counts taken on unreachable
      // blocks below could not be added to it without wrapping.
      if (target != nullptr && has_gc_bit(target, gc_bits::kCollecting) && slotted(target)->gc_word > 0 &&
          target->refcount < kMaxRefcount) {
        slotted(target)->gc_word--;
      }
    }
  }
}

// Reorders `blocks` (all kCollecting) so that the roots (gc_word > 0) and
// everything reachable from them through slots come first; returns how
// many. The rest stay marked kUnknown, their gc_word their index.
size_t Collector::partition_reachable(std::vector<Block*>& blocks) {
  const size_t n = blocks.size();
  size_t reached = 0;
  // One pass: roots to the front; every other block marked kUnknown with
  // its index (a block the swap moves gets its new index).
  for (size_t i = 0; i < n; i++) {
    Block* block = blocks[i];
    if (slotted(block)->gc_word > 0) {
      if (reached != i) {
        Block* displaced = blocks[reached];  // kUnknown already: it was seen at `reached`
        blocks[i] = displaced;
        slotted(displaced)->gc_word = static_cast<uint32_t>(i);
        blocks[reached] = block;
      }
      reached++;
    } else {
      set_gc_bits(block, gc_bits::kUnknown);
      slotted(block)->gc_word = static_cast<uint32_t>(i);
    }
  }
  // Once every block is reached (the common case while JavaScript holds a
  // count on each) there is nothing left to find: skip the scan.
  for (size_t k = 0; k < reached && k < kPrefetchDistance; k++) prefetch_targets(heap_, blocks[k]);
  for (size_t scan = 0; scan < reached && reached < n; scan++) {
    Block* block = blocks[scan];
    if (scan + kPrefetchDistance < reached) prefetch_targets(heap_, blocks[scan + kPrefetchDistance]);
    const SlotWord* slots = slots_of(block);
    for (uint32_t s = 0, count = slot_count(block); s < count; s++) {
      if (slots[s] == 0) continue;
      Block* target = heap_.resolve_bits(slots[s]);
      if (target == nullptr || !has_gc_bit(target, gc_bits::kUnknown)) continue;
      // Swap the newly reached block in at the end of the reached part.
      const uint32_t from = slotted(target)->gc_word;
      Block* displaced = blocks[reached];
      blocks[from] = displaced;
      slotted(displaced)->gc_word = from;
      blocks[reached++] = target;
      clear_gc_bits(target, gc_bits::kUnknown);
    }
  }
  return reached;
}

// The first `count` blocks leave the collection for `generation`.
void Collector::survive(std::vector<Block*>& blocks, size_t count, unsigned generation) {
  std::vector<Block*>& list = generations_[generation];
  if (count == blocks.size() && list.empty() && &blocks == &collecting_list_) {
    // Everything survives into an empty list: hand the vector over.
    list.swap(blocks);
    for (size_t i = 0; i < count; i++) {
      Block* block = list[i];
      clear_gc_bits(block, kCollectionState | kListState);
      set_gc_bits(block, gc_bits::kTracked | (generation << gc_bits::kGenerationShift));
      slotted(block)->gc_word = static_cast<uint32_t>(i);
    }
    return;
  }
  for (size_t i = 0; i < count; i++) {
    clear_gc_bits(blocks[i], kCollectionState);
    track(blocks[i], generation);
  }
  blocks.erase(blocks.begin(), blocks.begin() + static_cast<ptrdiff_t>(count));
}

// Phase 5 (CPython: delete_garbage). Frees the unreachable blocks that are
// left: hold each, clear every slot (so the cycles fall apart), then drop
// the holds; under DEBUG_SAVEALL they go to gc.garbage instead. Returns how
// many (the collected). No JavaScript runs (deleting_): the finalizers of
// blocks this frees wait until it is done.
uint64_t Collector::delete_garbage(std::vector<Block*>& blocks, unsigned generation) {
  // Those freed by their counts in the finalize phase have left already.
  const uint64_t collected = blocks.size();
  if (debug & debug_flags::kSaveAll) {
    for (Block* block : blocks) add_to_garbage(block);
    survive(blocks, blocks.size(), generation);
    return collected;
  }
  // Hold each block and clear its slots in one pass: a block whose count
  // reaches zero meanwhile is still kCollecting, so it is only marked
  // (kDeferred) and the hold it gets when its turn comes brings it back to 1.
  deleting_ = true;
  const size_t count = blocks.size();
  for (size_t k = 0; k < count && k < kPrefetchDistance; k++) prefetch_targets(heap_, blocks[k]);
  for (size_t k = 0; k < count; k++) {
    Block* block = blocks[k];
    if (k + kPrefetchDistance < count) prefetch_targets(heap_, blocks[k + kPrefetchDistance]);
    block->refcount++;  // below kMaxRefcount: unreachable (subtract_internal_refs), and counts only fell since
    SlotWord* slots = slots_of(block);
    for (uint32_t i = 0, n = slot_count(block); i < n; i++) {
      const SlotWord word = slots[i];
      if (word == 0) continue;
      slots[i] = 0;
      if (Block* target = heap_.resolve_bits(word)) heap_.release(target);
    }
  }
  for (Block* block : blocks) {
    clear_gc_bits(block, kCollectionState);
    // A count of zero here: a finalizer released a count it did not own, and
    // clearing a slot took the hold above. Free it; never wrap below zero.
    if (block->refcount == 0 || --block->refcount == 0) {
      heap_.on_zero(block);
    } else {
      track(block, generation);  // something outside took a count meanwhile
    }
  }
  deleting_ = false;  // the finalizers this queued run when the collection ends
  blocks.clear();
  return collected;
}

bool Collector::leave_on_zero(Block* block) {
  if (!finalize_phase_) {
    set_gc_bits(block, gc_bits::kDeferred);
    return false;
  }
  collecting_list_[slotted(block)->gc_word] = nullptr;
  clear_gc_bits(block, kCollectionState);
  return true;
}

// Phase 3 (CPython: finalize_garbage). The finalizers of the unreachable
// `blocks` that have not run, each once, through Heap::finalize; whether
// JavaScript ran (then phase 4 looks at reachability again).
// A block whose count reaches zero meanwhile leaves (its entry becomes
// nullptr, see leave_on_zero) and is freed by its count, so the list is
// read afresh at every step and compacted at the end. Nothing to do when
// no finalizer is due and no JavaScript has run since the counts were
// taken (`lines_written`): the common case costs no pass over the list.
bool Collector::finalize_garbage(std::vector<Block*>& blocks, bool finalizers_due, bool lines_written) {
  if (!finalizers_due && !lines_written) return false;
  finalize_phase_ = true;
  for (size_t i = 0; i < blocks.size(); i++) {
    clear_gc_bits(blocks[i], gc_bits::kDeferred);
    slotted(blocks[i])->gc_word = static_cast<uint32_t>(i);
  }
  bool changed = lines_written;
  // Dropped to zero before this phase (by a debugOutput line's JavaScript):
  // they go now, the same way.
  for (size_t i = 0; lines_written && i < blocks.size() && !heap_.closed(); i++) {
    if (blocks[i] != nullptr && blocks[i]->refcount == 0) {
      changed = true;
      heap_.on_zero(blocks[i]);
    }
  }
  for (size_t i = 0; finalizers_due && i < blocks.size() && !heap_.closed(); i++) {
    Block* block = blocks[i];
    if (block == nullptr || !heap_.has_finalizer(block) || is_finalized(block)) continue;
    changed = true;
    const uint64_t ref = heap_.ref_bits(block);
    // It may free this block and others: their entries are nullptr then. A
    // finalizer that could not be called leaves the call's count on its
    // block, which makes it survive this collection; given back at its end.
    if (heap_.finalize(block) == Heap::Finalized::kNotCalled) unfinalized_.push_back(ref);
  }
  finalize_phase_ = false;
  blocks.erase(std::remove(blocks.begin(), blocks.end(), nullptr), blocks.end());
  return changed;
}

// Phase 1 (CPython: deduce_unreachable). Generations 0..g become the
// collection list; internal references are subtracted and the list is
// partitioned: returns how many blocks at its front are reachable from
// outside. The rest are unreachable, marked kUnknown. No JavaScript runs.
size_t Collector::deduce_unreachable(unsigned generation) {
  gather(generation);
  subtract_internal_refs(collecting_list_);
  return partition_reachable(collecting_list_);
}

// Phase 2 (CPython: move_legacy_finalizers and the blocks they reach). The
// list now holds only unreachable blocks. Those of uncollectable types, and
// all they reach, are kept: moved to `older` and counted as uncollectable
// (the return value); the uncollectable ones are listed in gc.garbage, and
// under DEBUG_SAVEALL all of them. Their DEBUG_UNCOLLECTABLE lines are
// formatted now, while they are certainly alive, into `lines`.
// `*finalizers_due`: whether any block has a finalizer still to run. No
// JavaScript runs.
size_t Collector::move_legacy_finalizers(unsigned older, bool* finalizers_due, std::vector<std::string>* lines) {
  std::vector<Block*>& blocks = collecting_list_;
  // One pass: uncollectable roots, and whether any finalizer is due.
  size_t uncollectable_roots = 0;
  const bool any_special_type = heap_.any_special_type();
  for (size_t i = 0; any_special_type && i < blocks.size(); i++) {
    Block* block = blocks[i];
    const bool keep = heap_.is_uncollectable(block);
    uncollectable_roots += keep;
    *finalizers_due |= heap_.has_finalizer(block) && !is_finalized(block);
    slotted(block)->gc_word = keep ? 1 : 0;
    clear_gc_bits(block, gc_bits::kUnknown);
  }
  const size_t kept = uncollectable_roots == 0 ? 0 : partition_reachable(blocks);
  // CPython's SAVEALL rule: every unreachable block goes to garbage, those
  // kept alive through an uncollectable one too.
  const bool save_all = (debug & debug_flags::kSaveAll) != 0;
  for (size_t i = 0; i < kept; i++) {
    if (save_all || heap_.is_uncollectable(blocks[i])) add_to_garbage(blocks[i]);
  }
  if (debug & debug_flags::kUncollectable) {
    for (size_t i = 0; i < kept; i++) lines->push_back(block_line("uncollectable", blocks[i]));
  }
  survive(blocks, kept, older);
  return kept;
}

// Phase 4 (CPython: handle_resurrected_objects). JavaScript ran (finalizers,
// debugOutput lines): whatever it made reachable again survives into
// `older`, uncounted. The blocks left are unreachable, as phase 1 left them.
// No JavaScript runs.
void Collector::handle_resurrected_objects(unsigned older) {
  std::vector<Block*>& blocks = collecting_list_;
  for (Block* block : blocks) {
    clear_gc_bits(block, gc_bits::kUnknown);
    slotted(block)->gc_word = block->refcount;
  }
  subtract_internal_refs(blocks);
  survive(blocks, partition_reachable(blocks), older);
}

uint64_t Collector::collect(unsigned generation) {
  // A gc callback told of a collection late runs where CPython's would run
  // inside it: it cannot collect either (else each collection it started
  // would queue one more event for this same delivery, without end).
  if (collecting_ || delivering_late_ || heap_.closed() || generation >= kGenerations) return 0;
  // JavaScript run from here may close the heap: its memory must stay until
  // this collection is done, whoever called it.
  Heap::Operation operation(heap_);
  collecting_ = true;
  const auto start = std::chrono::steady_clock::now();
  CollectionInfo info;
  info.generation = generation;
  event(true, info);
  if (debug & debug_flags::kStats) {
    debug_line(format("gc: collecting generation %u...", generation));
    debug_line(format("gc: objects in each generation: %zu %zu %zu", generations_[0].size(), generations_[1].size(),
                      generations_[2].size()));
    debug_line(format("gc: objects in permanent generation: %zu", generations_[kPermanentGeneration].size()));
  }
  // CPython's counters, updated before the work: this generation and the
  // younger ones start over, the next older one has seen one more
  // collection. What finalizers allocate or free counts toward the next.
  if (generation + 1 < kGenerations) counts_[generation + 1]++;
  for (unsigned g = 0; g <= generation; g++) counts_[g] = 0;
  const unsigned older = generation + 1 < kGenerations ? generation + 1 : generation;
  std::vector<Block*>& blocks = collecting_list_;

  if (!heap_.closed()) {
    const size_t reachable = deduce_unreachable(generation);
    // What "survived" means for the 25% rule: this reachable set, nothing
    // that joins the old generation later in the collection.
    if (generation == kGenerations - 2) long_lived_pending_ += reachable;
    if (generation == kGenerations - 1) {
      long_lived_pending_ = 0;
      long_lived_total_ = reachable;
    }
    survive(blocks, reachable, older);
    bool finalizers_due = false;
    std::vector<std::string> uncollectable_lines;
    info.uncollectable = move_legacy_finalizers(older, &finalizers_due, &uncollectable_lines);
    // These lines run JavaScript (debugOutput), which may retain a block it
    // reads there: then reachability must be looked at again.
    const bool lines_written = (debug & debug_flags::kCollectable) != 0 && !blocks.empty() && heap_.hooks() != nullptr;
    if (lines_written) write_block_lines("collectable", blocks, 0, blocks.size());
    const bool changed = finalize_garbage(blocks, finalizers_due, lines_written);
    if (!heap_.closed()) {
      if (changed) handle_resurrected_objects(older);
      info.collected += delete_garbage(blocks, older);
      // Blocks outside the collection that the deletion freed by their
      // counts: finalized now, inside the collection, as CPython does.
      if (!heap_.closed()) heap_.run_finalizers();
    }
    // After the collectable lines and the deletion, in CPython's order.
    for (const std::string& line : uncollectable_lines) debug_line(line);
  }
  blocks.clear();
  // The counts of finalizer calls that could not be made (finalize_garbage);
  // a block whose count reaches zero here tries its finalizer again.
  std::vector<uint64_t> unfinalized;
  unfinalized.swap(unfinalized_);
  for (uint64_t ref : unfinalized) {
    Block* block = heap_.resolve_bits(ref);
    if (block != nullptr && block->refcount > 0 && !heap_.closed()) heap_.release(block);
  }

  stats_[generation].collections++;
  stats_[generation].collected += info.collected;
  stats_[generation].uncollectable += info.uncollectable;
  info.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  pauses_.last_ms = info.duration_ms;
  pauses_.total_ms += info.duration_ms;
  if (info.duration_ms > pauses_.max_ms) pauses_.max_ms = info.duration_ms;
  if (debug & debug_flags::kStats) {
    debug_line(format("gc: done, %" PRIu64 " unreachable, %" PRIu64 " uncollectable, %.4fs elapsed",
                      info.collected + info.uncollectable, info.uncollectable, info.duration_ms / 1000));
  }
  // Every 'start' has its 'stop' (SPEC 6), also when JavaScript closed the
  // heap meanwhile: the Operation keeps the heap, and its hooks, until we return.
  event(false, info);
  collecting_ = false;
  if (!heap_.closed()) heap_.run_finalizers();  // those whose counts reached zero while we ran
  return info.collected + info.uncollectable;
}

void Collector::event(bool starting, const CollectionInfo& info) {
  GcHooks* hooks = heap_.hooks();
  if (hooks == nullptr) return;
  // A stop whose start was dropped is dropped with it (counted with the
  // start), even if the events before it could be delivered now.
  if (!starting && late_.dropping()) {
    late_.keep(false, info);
    return;
  }
  // Those kept before go first: a subscriber sees them in order.
  deliver_late_events();
  if (late_.empty() && (!starting || late_.room_for_stop())) {
    CollectionInfo now = info;
    now.dropped_before = late_.take_dropped();
    // A stop goes out late if its start did: the gc callbacks see both or neither.
    if (!starting) now.late = start_late_;
    if (hooks->collection_event(starting, now)) {
      if (starting) start_late_ = false;
      return;
    }
    // Not told after all: told with the next one.
    late_.add_dropped(now.dropped_before);
  }
  if (starting) start_late_ = true;
  late_.keep(starting, info);
}

void Collector::deliver_late_events() {
  // Delivering runs JavaScript, which cannot collect meanwhile (collect());
  // events it causes otherwise (none today) would queue behind the one being
  // delivered and go out after it, in order. Never two loops on one queue.
  if (delivering_late_) return;
  delivering_late_ = true;
  GcHooks* hooks = heap_.hooks();
  while (hooks != nullptr && !late_.empty()) {
    CollectionInfo info = late_.front().info;
    info.late = true;
    info.dropped_before = late_.take_dropped();
    if (!hooks->collection_event(late_.front().starting, info)) {
      late_.add_dropped(info.dropped_before);
      break;
    }
    late_.pop();
  }
  delivering_late_ = false;
}

void Collector::freeze() {
  for (unsigned g = 0; g < kGenerations; g++) {
    for (Block* block : generations_[g]) {
      clear_gc_bits(block, kListState);
      track(block, kPermanentGeneration);
    }
    generations_[g].clear();
    counts_[g] = 0;
  }
}

void Collector::unfreeze() {
  std::vector<Block*> frozen;
  frozen.swap(generations_[kPermanentGeneration]);
  for (Block* block : frozen) track(block, kGenerations - 1);
}

// Lists an unreachable block in gc.garbage, with a count of its own (a
// deferred block's 0 becomes 1; below kMaxRefcount, see delete_garbage). A
// block listed already was found unreachable again because JavaScript
// released the list's count: the list takes it again and lists it once, as
// in CPython, where gc.garbage itself keeps its objects reachable.
void Collector::add_to_garbage(Block* block) {
  block->refcount++;
  if (has_gc_bit(block, gc_bits::kGarbage)) return;
  set_gc_bits(block, gc_bits::kGarbage);
  garbage_count_++;
  // Entries of freed blocks stay until they outnumber the live ones.
  if (garbage_.size() >= 2 * garbage_count_ + 64) {
    garbage_.erase(std::remove_if(garbage_.begin(), garbage_.end(), [this](uint64_t ref) { return listed(ref) == nullptr; }),
                   garbage_.end());
  }
  garbage_.push_back(heap_.ref_bits(block));
}

// The live block an entry names; nullptr for a freed block's entry (also
// when its address now holds a block that is not listed).
Block* Collector::listed(uint64_t ref) const {
  Block* block = heap_.resolve_bits(ref);
  return block != nullptr && has_gc_bit(block, gc_bits::kGarbage) ? block : nullptr;
}

std::vector<Block*> Collector::objects(unsigned g) const {
  if (g != kAllGenerations) return generations_[g];
  std::vector<Block*> all;
  all.reserve(generations_[0].size() + generations_[1].size() + generations_[2].size());
  for (unsigned i = 0; i < kGenerations; i++) all.insert(all.end(), generations_[i].begin(), generations_[i].end());
  return all;
}

const std::vector<Block*>& Collector::garbage() const {
  live_garbage_.clear();
  for (uint64_t ref : garbage_) {
    if (Block* block = listed(ref)) live_garbage_.push_back(block);
  }
  return live_garbage_;
}

uint64_t Collector::clear_garbage() {
  std::vector<uint64_t> refs;
  refs.swap(garbage_);
  // Unlisted first, all of them: the releases below run finalizers, which
  // may collect and list blocks again.
  std::vector<uint64_t> live;
  for (uint64_t ref : refs) {
    if (Block* block = listed(ref)) {
      clear_gc_bits(block, gc_bits::kGarbage);
      live.push_back(ref);
    }
  }
  garbage_count_ -= live.size();
  uint64_t released = 0;
  for (uint64_t ref : live) {
    // Resolved one at a time: a release may run a finalizer that frees others.
    Block* block = heap_.resolve_bits(ref);
    if (block == nullptr || block->refcount == 0) continue;
    heap_.release(block);
    released++;
  }
  return released;
}

void Collector::forget_all() {
  for (auto& list : generations_) list.clear();
  collecting_list_.clear();
  unfinalized_.clear();
  garbage_.clear();
  garbage_count_ = 0;
  live_garbage_.clear();
}

std::string Collector::verify() const {
  for (unsigned g = 0; g <= kPermanentGeneration; g++) {
    const std::vector<Block*>& list = generations_[g];
    for (size_t i = 0; i < list.size(); i++) {
      const Block* block = list[i];
      if (!is_allocated(block) || !is_slotted(block)) return "a generation lists a block that is not live or has no slots";
      if (!has_gc_bit(block, gc_bits::kTracked) || generation_of(block) != g) return "a listed block's generation disagrees";
      if (reinterpret_cast<const SlottedHeader*>(block)->gc_word != i) return "a listed block's index disagrees";
    }
  }
  return "";
}

}  // namespace refheap
