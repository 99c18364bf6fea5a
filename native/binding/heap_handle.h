// What the binding keeps per heap: the core Heap and the views that lend
// its memory to JavaScript. The handle is shared by the functions of the
// JavaScript heap object and by every live view, and is deleted when the
// last of them is finalized; the heap's memory goes at close() or then.
#pragma once

#include <napi.h>

#include "../core/heap.h"
#include "addon_state.h"

namespace refheap::binding {

struct ViewRecord;

struct HeapHandle {
  HeapHandle(AddonState* state, uint64_t max_bytes) : heap(max_bytes), state(state) {}

  Heap heap;
  AddonState* state;
  uint32_t pins = 0;              // one per function of the heap object + one per live view
  ViewRecord* views = nullptr;    // live views, so close() can detach them

  // Closes the heap. Views are detached when `detach_views` (not possible
  // while the environment is being torn down, nor needed then).
  void close(Napi::Env env, bool detach_views);
  void unpin();
};

// Creates the native side of one heap: an object whose functions carry the
// handle as their data, so no call needs to unwrap `this`.
Napi::Object create_heap_object(Napi::Env env, AddonState* state, uint64_t max_bytes);

// The view of a block's data (heap_views.cc).
Napi::Value make_view(Napi::Env env, HeapHandle& handle, Block* block);
void forget_views(Napi::Env env, HeapHandle& handle, bool detach);

}  // namespace refheap::binding
