#include "heap.h"

#include <time.h>

#include <algorithm>
#include <cstring>

#include "registry.h"

namespace refheap {
namespace {

constexpr double kRefLimit = static_cast<double>(uint64_t{1} << (kRefSlotBits + kRefGranuleBits + kRefTagBits));  // above any ref

uint64_t coarse_now_ns() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

size_t allocated_size(const Block* block) {
  return is_large(block) ? block_bytes_needed(data_size(block), slot_count(block))
                         : pool_of(block)->block_size;
}

size_t requested_size(const Block* block) {
  return data_size(block) + size_t{slot_count(block)} * sizeof(SlotWord);
}

// Zeroes everything after the 8-byte header. Written as 16-byte stores:
// for blocks this small, the `rep stos` a plain memset of a variable size
// becomes costs more to start than the stores themselves.
void zero_after_header(Block* block, size_t block_size) {
  char* bytes = reinterpret_cast<char*>(block);
  std::memset(bytes + sizeof(BlockHeader), 0, sizeof(BlockHeader));
  for (size_t offset = kGranule; offset < block_size; offset += kGranule) std::memset(bytes + offset, 0, kGranule);
}

bool any_slot_filled(Block* block) {
  const SlotWord* slots = slots_of(block);
  for (uint32_t s = 0, n = slot_count(block); s < n; s++) {
    if (slots[s] != 0) return true;
  }
  return false;
}

}  // namespace

Heap::Heap(uint64_t max_bytes)
    : id_(registry_user_.id), pages_(max_bytes), small_(pages_, id_), large_(pages_, id_) {
  // Before refusing a mapping for maxBytes, collect everything (SPEC 8).
  pages_.set_pressure_handler([](void* heap) { static_cast<Heap*>(heap)->collector_.collect(kGenerations - 1); }, this);
}

Heap::~Heap() { close(); }

Status Heap::alloc(uint64_t size, uint64_t slots, uint64_t type, Block** out) {
  if (size > kMaxDataBytes || slots > kMaxSlots || type >= types_.size()) {
    return Status::kOutOfRange;
  }
  if (slots != 0) {
    // As in CPython 3.11, an automatic collection runs inside the allocating
    // call, and the new block is not part of it. It runs before the block
    // exists: refs are predictable, and JavaScript run by the collection
    // must not be able to reach (and free) the block this call returns.
    const int generation = collector_.note_tracked_alloc();
    if (generation >= 0) collector_.collect(static_cast<unsigned>(generation));
    if (closed_) return Status::kHeapClosed;  // a callback or finalizer closed it
  }
  const size_t needed = block_bytes_needed(size, slots);
  Block* block;
  Status status;
  if (needed <= kSmallLimit) {
    const unsigned size_class = size_class_of(needed);
    status = small_.allocate(size_class, &block);
    if (status == Status::kOk) {
      const size_t block_size = class_block_size(size_class);
      block->flags |= static_cast<uint8_t>((block_size - needed) << block_flags::kPadShift);
      zero_after_header(block, block_size);
    }
  } else {
    status = large_.allocate(needed, size, &block);  // the OS zero-fills it
  }
  if (status != Status::kOk) {
    if (slots != 0) collector_.note_tracked_free();  // no block: take back its count0
    // The full collection run before refusing for maxBytes closed the heap.
    return closed_ ? Status::kHeapClosed : status;
  }
  if (closed_) return Status::kHeapClosed;  // closed by that collection; the block goes with the heap
  block->refcount = 1;
  block->type = static_cast<uint8_t>(type);
  if (slots != 0) {
    block->flags |= block_flags::kSlotted;
    slotted(block)->slot_word = static_cast<uint32_t>(slots);
    tracked_blocks_++;
  }
  allocated_bytes_ += allocated_size(block);
  requested_bytes_ += size + slots * sizeof(SlotWord);
  live_blocks_++;
  allocations_++;
  if (slots != 0) collector_.track(block, 0);
  *out = block;
  return Status::kOk;
}

Status Heap::alloc_many(uint64_t count, uint64_t size, uint64_t slots, uint64_t type, double* refs) {
  note_bulk_call(count);
  for (uint64_t i = 0; i < count; i++) {
    Block* block;
    const Status status = alloc(size, slots, type, &block);
    if (status != Status::kOk) {
      // Undo. The caller never saw these refs, so a block nothing else
      // holds goes at once: no finalizer runs (it could keep a block the
      // caller never got), and it counts neither as an allocation nor as a
      // free. JavaScript run by a collection meanwhile may have found one
      // (gc.getObjects) and kept or freed it: that one is only released.
      for (uint64_t made = 0; made < i; made++) {
        Block* undone = resolve(refs[made]);
        // Gone, or at zero and only waiting (a view, a finalizer): JavaScript
        // already released the count this call held.
        if (undone == nullptr || undone->refcount == 0) continue;
        const bool held_elsewhere = undone->refcount != 1 || views_.count(undone) != 0 ||
                                    has_gc_bit(undone, gc_bits::kCollecting) || any_slot_filled(undone);
        if (held_elsewhere) {
          release(undone);
          continue;
        }
        count_freed(undone);
        free_block(undone);
        allocations_--;
        frees_--;
      }
      return status;
    }
    refs[i] = ref_of(block);
  }
  return Status::kOk;
}

Block* Heap::resolve(double ref) const {
  if (!(ref >= 1.0 && ref < kRefLimit)) return nullptr;  // also rejects NaN
  const uint64_t bits = static_cast<uint64_t>(ref);
  if (static_cast<double>(bits) != ref) return nullptr;  // fractional
  return resolve_bits(bits);
}

uint64_t Heap::ref_bits(const Block* block) const {
  const uint64_t slot = is_large(block) ? large_of(block)->slot : small_.slot_of(block);
  const uint64_t granule = is_large(block) ? 0 : small_.granule_of(block);
  return compose_ref(slot, granule, block->tag);
}

Status Heap::retain(Block* block) {
  if (block->refcount >= kMaxRefcount) return Status::kRefcountOverflow;
  // A block waiting at count 0 (pinned by a view, or its finalizer queued)
  // that is counted again is alive again: on a generation list, where the
  // collector can see the cycles through it.
  if (block->refcount++ == 0 && is_slotted(block) && !has_gc_bit(block, gc_bits::kTracked | gc_bits::kCollecting)) {
    collector_.track(block, 0);
  }
  return Status::kOk;
}

void Heap::release(Block* block) {
  // At 0 already: JavaScript released a count it did not own (a view's, a
  // slot's) and a pin kept the block; the slot's own release finds nothing
  // left to give back. Never below zero.
  if (block->refcount == 0) return;
  if (--block->refcount == 0) on_zero(block);
}

void Heap::on_zero(Block* block) {
  const size_t floor = finalizer_depth_ == 0 ? 0 : pending_finalizers_.size();
  if (can_free_now(block)) free_cascade(block);
  // Also when `block` itself was just queued: its finalizer runs now, once
  // the release that queued it is complete (not at some later free).
  if (pending_finalizers_.size() > floor) run_finalizers(floor);
}

Status Heap::add_view(Block* block) {
  const Status status = retain(block);
  if (status == Status::kOk) views_[block]++;
  return status;
}

bool Heap::can_free_now(Block* block) {
  // finalize() frees it when its finalizer returns.
  if (!finalizing_.empty() && std::find(finalizing_.begin(), finalizing_.end(), block) != finalizing_.end()) {
    return false;
  }
  if (!views_.empty() && views_.count(block) != 0) return false;  // pinned by a view (add_view)
  // Under collection: in the finalize phase it leaves the collection and
  // goes the ordinary way, as in CPython; otherwise the collector frees it.
  if (has_gc_bit(block, gc_bits::kCollecting) && !collector_.leave_on_zero(block)) return false;
  if (has_finalizer(block) && !is_finalized(block)) {
    if (is_slotted(block)) collector_.untrack(block);
    pending_finalizers_.push_back(ref_bits(block));
    return false;
  }
  return true;
}

void Heap::run_finalizers(size_t floor) {
  // Too deep: the level above picks them up. While a collection clears its
  // garbage's slots, the collection does, when that is done. Anywhere else
  // in a collection (its callbacks, its finalize phase) a block freed by its
  // count is finalized at once, as CPython's dealloc path does, so that what
  // its finalizer does is seen by the collection's second look at reachability.
  if (finalizer_depth_ >= kMaxNestedFinalizers || collector_.deleting()) return;
  finalizer_depth_++;
  while (pending_finalizers_.size() > floor && !closed_) {
    const uint64_t ref = pending_finalizers_.back();
    pending_finalizers_.pop_back();
    Block* block = resolve_bits(ref);
    // Queued twice (JavaScript retained and released it while it waited):
    // the first entry has run, and the block lives on or is gone.
    if (block == nullptr || is_finalized(block)) continue;
    if (block->refcount > 0) {
      // Retained while it waited: not about to be freed after all. Its
      // finalizer runs when its count next reaches zero.
      if (is_slotted(block) && !has_gc_bit(block, gc_bits::kTracked)) collector_.track(block, 0);
      continue;
    }
    const Finalized outcome = finalize(block);
    if (closed_) break;
    if (outcome == Finalized::kNotCalled) {
      // Waits, at count 0, for the next call from JavaScript to try again.
      block->refcount--;
      finalizers_to_retry_.push_back(ref);
    } else if (outcome == Finalized::kSurvived) {
      // Resurrected: tracked again, in generation 0. (Looked up again by its
      // ref: JavaScript may have freed it since, and reused its memory.)
      block = resolve_bits(ref);
      if (block != nullptr && is_slotted(block) && !has_gc_bit(block, gc_bits::kTracked | gc_bits::kCollecting)) {
        collector_.track(block, 0);
      }
    }
  }
  finalizer_depth_--;
}

Heap::Finalized Heap::finalize(Block* block) {
  block->flags |= block_flags::kFinalized;
  // The call's count. A count at its maximum has nothing to fear from the
  // call: the finalizer runs without one.
  const bool held = block->refcount < kMaxRefcount;
  if (held) block->refcount++;
  finalizing_.push_back(block);
  const bool called = hooks_ == nullptr || hooks_->run_finalizer(block);
  finalizing_.pop_back();
  if (!called) {
    // No JavaScript ran: the block is untouched, and keeps the call's count.
    block->flags &= static_cast<uint8_t>(~block_flags::kFinalized);
    return held ? Finalized::kNotCalled : Finalized::kSurvived;
  }
  if (closed_) return Finalized::kGone;
  if (!held) return Finalized::kSurvived;  // no call's count to give back: it lives on
  const bool survived = block->refcount > 1;
  // At zero: the finalizer released a count it did not own, and took the
  // call's. Never below zero.
  if (block->refcount == 0) on_zero(block);
  else release(block);
  return survived ? Finalized::kSurvived : Finalized::kGone;
}

void Heap::count_freed(Block* block) {
  allocated_bytes_ -= allocated_size(block);
  requested_bytes_ -= requested_size(block);
  live_blocks_--;
  frees_++;
  if (is_slotted(block)) {
    tracked_blocks_--;
    collector_.untrack(block);
    // Counted here, not in untrack: a block queued for its finalizer leaves
    // its list then, and is not freed if the finalizer resurrects it.
    collector_.note_tracked_free();
    collector_.note_freed(block);
    clear_gc_bits(block, gc_bits::kStateMask);  // the free walk uses the slot count as its cursor
  }
}

void Heap::free_block(Block* block) {
  if (is_large(block)) large_.free(block);
  else small_.free(block);
}

void Heap::free_cascade(Block* dying) {
  if ((dying->flags & (block_flags::kSlotted | block_flags::kLarge)) == 0) {
    // The common case, a small block without slots: nothing to walk, and
    // its sizes come straight from the pool and the header.
    const size_t block_size = pool_of(dying)->block_size;
    allocated_bytes_ -= block_size;
    requested_bytes_ -= block_size - sizeof(BlockHeader) - (dying->flags >> block_flags::kPadShift);
    live_blocks_--;
    frees_++;
    small_.free(dying);
    return;
  }
  count_freed(dying);
  Block* current = dying;
  Block* parents = nullptr;  // partly released ancestors, linked through a spent slot
  for (;;) {
    Block* dying_child = nullptr;  // a child with slots whose count just reached zero
    if (is_slotted(current)) {
      auto* header = reinterpret_cast<SlottedHeader*>(current);
      SlotWord* slots = slots_of(current);
      while (dying_child == nullptr && header->slot_word > 0) {
        const uint32_t index = --header->slot_word;
        if (slots[index] == 0) continue;
        Block* child = resolve_bits(slots[index]);
        // At 0 already: see release().
        if (child == nullptr || child->refcount == 0 || --child->refcount != 0 || !can_free_now(child)) continue;
        count_freed(child);
        if (is_slotted(child)) {
          // The slot is spent: it now links to the parent (a pointer, for
          // this walk only; the block is dead, nothing else reads it).
          slots[index] = reinterpret_cast<uintptr_t>(parents);
          parents = current;
          dying_child = child;
        } else {
          free_block(child);
        }
      }
    }
    if (dying_child != nullptr) {
      current = dying_child;
      continue;
    }
    // Every slot of `current` is released: free it and resume its parent.
    free_block(current);
    if (parents == nullptr) return;
    current = parents;
    parents = reinterpret_cast<Block*>(slots_of(current)[slotted(current)->slot_word]);
  }
}

Status Heap::release_many(const double* refs, size_t count, size_t* failed_at) {
  note_bulk_call(count);
  for (size_t i = 0; i < count; i++) {
    if (closed_) return Status::kHeapClosed;
    Block* block = resolve(refs[i]);
    if (block == nullptr || release_held(block) != Status::kOk) {
      *failed_at = i;
      return Status::kInvalidRef;
    }
  }
  return closed_ ? Status::kHeapClosed : Status::kOk;
}

Status Heap::set_ref(Block* block, uint64_t slot, Block* target) {
  if (slot >= slot_count(block)) return Status::kOutOfRange;
  if (target != nullptr) {
    const Status status = retain(target);
    if (status != Status::kOk) return status;
  }
  SlotWord* cell = &slots_of(block)[slot];
  Block* previous = resolve_bits(*cell);
  *cell = target != nullptr ? ref_bits(target) : 0;
  // Last, because releasing the previous occupant may free `block` itself.
  if (previous != nullptr) release(previous);
  return Status::kOk;
}

Status Heap::get_ref(Block* block, uint64_t slot, Block** out) const {
  if (slot >= slot_count(block)) return Status::kOutOfRange;
  *out = resolve_bits(slots_of(block)[slot]);
  return Status::kOk;
}

Status Heap::define_type(const std::string& name, bool has_finalizer, bool uncollectable, uint32_t* out) {
  if (types_.size() >= kMaxTypes) return Status::kOutOfRange;
  types_.push_back({name, has_finalizer, uncollectable});
  *out = static_cast<uint32_t>(types_.size() - 1);
  return Status::kOk;
}

const std::string* Heap::type_name(uint64_t type) const {
  return type < types_.size() ? &types_[type].name : nullptr;
}

HeapStats Heap::stats() const {
  HeapStats s;
  s.mapped_bytes = pages_.mapped_bytes();
  s.peak_mapped_bytes = pages_.peak_mapped_bytes();
  s.allocated_bytes = allocated_bytes_;
  s.requested_bytes = requested_bytes_;
  s.live_blocks = live_blocks_;
  s.tracked_blocks = tracked_blocks_;
  s.allocations = allocations_;
  s.frees = frees_;
  s.arenas_current = small_.arenas_current();
  s.arenas_peak = small_.arenas_peak();
  s.arenas_allocated_total = small_.arenas_allocated_total();
  s.arenas_freed_total = small_.arenas_freed_total();
  s.pools_used = small_.pools_used();
  s.pools_free = small_.arenas_current() * kPoolsPerArena - small_.pools_used();
  s.large_blocks = large_.count();
  s.large_bytes = large_.bytes();
  for (unsigned c = 0; c < kSizeClasses; c++) {
    const SizeClassCounters& counters = small_.class_counters(c);
    if (counters.pools == 0) continue;
    s.size_classes.push_back({static_cast<uint32_t>(class_block_size(c)), counters.pools,
                              counters.blocks_in_use,
                              counters.pools * blocks_per_pool(c) - counters.blocks_in_use});
  }
  s.gc.enabled = collector_.enabled;  // gc.isEnabled(), also while threshold0 is 0 (SPEC 7)
  s.gc.counts = collector_.counts();
  s.gc.thresholds = collector_.thresholds;
  s.gc.generations = collector_.stats();
  s.gc.frozen = collector_.freeze_count();
  s.gc.garbage = collector_.garbage_count();
  s.gc.pauses = collector_.pauses();
  return s;
}

bool Heap::publish_to(const std::string& dir, const std::string& name, std::string* error) {
  std::vector<double> values(stats_fields().size());
  write_stats_values(stats(), values.data());
  page_ = StatsPage::create(dir, name, id_, values.data(), error);
  return page_ != nullptr;
}

void Heap::take_snapshot(double* values) {
  write_stats_values(stats(), values);
  if (page_ != nullptr) page_->publish(values);
}

void Heap::publish_now() {
  if (page_ == nullptr) return;
  std::vector<double> values(stats_fields().size());
  take_snapshot(values.data());
}

void Heap::page_tick() {
  ops_until_page_check_ = kPageCheckOps;
  const uint64_t start_ns = coarse_now_ns();
  if (start_ns < next_publish_ns_) return;
  publish_now();
  // Spaced by its cost (the coarse clock's few milliseconds are precise
  // enough for the refreshes that matter, the slow ones).
  const uint64_t end_ns = coarse_now_ns();
  next_publish_ns_ = end_ns + page_refresh_gap_ns(end_ns - start_ns);
}

std::vector<Block*> Heap::referents(const std::vector<Block*>& sources) const {
  std::vector<Block*> found;
  for (Block* source : sources) {
    const SlotWord* slots = slots_of(source);
    for (uint32_t s = 0, n = slot_count(source); s < n; s++) {
      if (Block* target = slots[s] != 0 ? resolve_bits(slots[s]) : nullptr) found.push_back(target);
    }
  }
  return found;
}

std::vector<Block*> Heap::referrers(const std::vector<Block*>& targets) const {
  std::vector<Block*> found;
  for (unsigned g = 0; g < kGenerations; g++) {
    for (Block* block : collector_.generation(g)) {
      const SlotWord* slots = slots_of(block);
      for (uint32_t s = 0, n = slot_count(block); s < n; s++) {
        Block* target = slots[s] != 0 ? resolve_bits(slots[s]) : nullptr;
        if (target != nullptr && std::find(targets.begin(), targets.end(), target) != targets.end()) {
          found.push_back(block);
          break;
        }
      }
    }
  }
  return found;
}

size_t Heap::trim() { return small_.trim(); }

void Heap::close() {
  if (closed_) return;
  closed_ = true;
  page_.reset();  // the page goes at once, even if the memory waits for the outermost call
  if (depth_ == 0) release_memory();  // else the outermost Operation does it
}

void Heap::release_memory() {
  if (memory_released_) return;
  memory_released_ = true;
  collector_.forget_all();
  pending_finalizers_.clear();
  dropped_views_.clear();
  finalizers_to_retry_.clear();
  views_.clear();
  small_.release_all();
  large_.release_all();
  allocated_bytes_ = requested_bytes_ = live_blocks_ = tracked_blocks_ = 0;
}

void Heap::catch_up() { Operation operation(*this); }

Heap::Operation::Operation(Heap& heap) : heap_(heap) {
  if (heap_.depth_++ != 0) return;
  // Collection events first: they happened before anything below was due.
  // They need no heap memory, so they go out even after close(): a 'start'
  // delivered is never left without its 'stop' (SPEC 6).
  if (heap_.collector_.events_waiting()) heap_.collector_.deliver_late_events();
  if (heap_.closed_) return;
  // Counts given back by V8 finalizers, which may not run JavaScript, are
  // released here, where finalizers may run.
  while (!heap_.dropped_views_.empty() && !heap_.closed_) {
    Block* block = heap_.dropped_views_.back();
    heap_.dropped_views_.pop_back();
    auto view = heap_.views_.find(block);
    if (--view->second == 0) heap_.views_.erase(view);
    // A count of zero: JavaScript released the view's count itself and the
    // pin kept the block; it can go now.
    if (block->refcount == 0 || --block->refcount == 0) heap_.on_zero(block);
  }
  // Finalizers that could not be called last time (the stack was exhausted)
  // are tried again; those that fail again wait for the next call.
  if (!heap_.finalizers_to_retry_.empty() && !heap_.closed_) {
    std::vector<uint64_t> retry;
    retry.swap(heap_.finalizers_to_retry_);
    heap_.pending_finalizers_.insert(heap_.pending_finalizers_.end(), retry.begin(), retry.end());
    heap_.run_finalizers();
  }
}

Heap::Operation::~Operation() {
  if (--heap_.depth_ != 0) return;
  if (heap_.closed_) heap_.release_memory();
  else if (heap_.page_ != nullptr && --heap_.ops_until_page_check_ <= 0) heap_.page_tick();
}

}  // namespace refheap
