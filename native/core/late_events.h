// Collection events that JavaScript could not be given when they happened.
//
// A collection's 'start' and 'stop' go to JavaScript through GcHooks; near
// the stack limit the call cannot even be made. The event is then kept here
// and delivered, in order and marked late, before the next one and at the
// next call into the heap (or from a fresh stack, where the addon can
// schedule one). Whoever pairs them (a gc-duration metric) must see every
// 'start' followed by its 'stop': when there is no room, a start is dropped
// together with its stop, and the pairs dropped are counted and told with
// the next event delivered. Collections do not nest, so at most one start
// is ever waiting for its stop: room for that stop is reserved before the
// start is kept or goes out (where the stop may yet have to be kept). The
// list holds room for a few events once a collection has run, and grows
// only while events wait, up to kMaxLateEvents (a loop of collections run
// deep in the stack, with no turn in between).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "config.h"

namespace refheap {

struct CollectionInfo {
  unsigned generation = 0;
  uint64_t collected = 0;
  uint64_t uncollectable = 0;
  double duration_ms = 0;
  // Delivered after its moment: JavaScript publishes it, but the gc
  // callbacks, which were due then, are not called now (they are lost).
  bool late = false;
  // Collections whose start and stop were both dropped before this event
  // (no room here): told once, with the next event delivered.
  uint64_t dropped_before = 0;
};

class LateEvents {
 public:
  struct Event {
    bool starting;
    CollectionInfo info;
  };

  bool empty() const { return first_ == events_.size(); }
  const Event& front() const { return events_[first_]; }
  void pop() {
    if (empty()) return;
    if (++first_ == events_.size()) {
      events_.clear();  // the capacity stays for the next time
      first_ = 0;
    }
  }
  // The start of the collection running now was dropped: its stop must be too.
  bool dropping() const { return dropping_; }
  void add_dropped(uint64_t pairs) { dropped_ += pairs; }
  uint64_t take_dropped() {
    const uint64_t dropped = dropped_;
    dropped_ = 0;
    return dropped;
  }
  // Before a start goes out: room for its stop, should the stop have to be
  // kept. False: there is none (the start is then kept, which drops the pair).
  bool room_for_stop() { return room_for(1); }
  // Keeps an event that could not be delivered. A start needs room for its
  // stop too; a stop whose start was dropped is dropped with it.
  void keep(bool starting, const CollectionInfo& info) {
    if (starting) {
      dropping_ = !room_for(2);
      if (dropping_) {
        dropped_++;
        return;
      }
    } else if (dropping_) {
      dropping_ = false;
      return;
    }
    events_.push_back(Event{starting, info});  // room_for reserved it
  }

 private:
  // Whether `n` more fit, under kMaxLateEvents and in memory (reserved now,
  // so keeping the stop later cannot fail).
  bool room_for(size_t n) {
    if (events_.size() - first_ + n > kMaxLateEvents) return false;
    if (events_.size() + n > events_.capacity() && first_ > 0) {
      events_.erase(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(first_));  // those delivered
      first_ = 0;
    }
    if (events_.size() + n <= events_.capacity()) return true;
    try {
      events_.reserve(std::min(kMaxLateEvents, std::max<size_t>(8, events_.capacity() * 2) + n));
      return true;
    } catch (const std::bad_alloc&) {
      return false;
    }
  }

  std::vector<Event> events_;  // from first_ on; empty (no memory) in the usual case
  size_t first_ = 0;
  bool dropping_ = false;  // the start waiting for its stop was dropped
  uint64_t dropped_ = 0;
};

}  // namespace refheap
