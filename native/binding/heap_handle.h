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

// The handle is also the core's GcHooks: finalizers, collection events and
// debug lines go to one JavaScript dispatcher per heap (lib/gc.ts), which
// catches whatever user code throws.
struct HeapHandle final : GcHooks {
  HeapHandle(AddonState* state, napi_env env, uint64_t max_bytes) : heap(max_bytes), state(state), env(env) {
    heap.set_hooks(this);
  }

  Heap heap;
  AddonState* state;
  napi_env env;                        // the environment (thread) the heap belongs to
  Napi::FunctionReference dispatcher;  // (kind, ...args) => void
  uint32_t pins = 0;              // one per function of the heap object + one per live view
  ViewRecord* views = nullptr;    // live views, so close() can detach them

  // Closes the heap. Views are detached when `detach_views` (not possible
  // while the environment is being torn down, nor needed then).
  void close(Napi::Env env, bool detach_views);
  void unpin();

  bool run_finalizer(Block* block) override;
  void collection_event(bool starting, const CollectionInfo& info) override;
  void debug_line(const std::string& line) override;

 private:
  // Whether the dispatcher ran (see call_dispatcher).
  bool dispatch(std::initializer_list<napi_value> args);
  bool call_dispatcher(napi_value function, const napi_value* args, size_t count);
  uint64_t lost_calls = 0;  // gc callbacks and debug lines that could not be called, not yet reported
};

// Creates the native side of one heap: an object whose functions carry the
// handle as their data, so no call needs to unwrap `this`. nullptr when
// Node-API refuses (a worker being terminated).
napi_value create_heap_object(napi_env env, AddonState* state, uint64_t max_bytes);

// One function of the heap object.
struct HeapFunction {
  const char* name;
  napi_callback callback;
};

// The Node-API callback of a node-addon-api style function.
template <Napi::Value (*function)(const Napi::CallbackInfo&)>
napi_value callback(napi_env env, napi_callback_info cbinfo) {
  Napi::CallbackInfo info(env, cbinfo);
  return function(info);
}

// Adds `functions` to `object`, each pinning the handle. Plain Node-API with
// every status checked: while a worker is being terminated these calls
// fail, and node-addon-api's wrappers would abort the process. False when
// one failed (those added so far keep their pins; their finalizers drop them).
bool add_heap_functions(napi_env env, napi_value object, HeapHandle* handle, const HeapFunction* functions,
                        size_t count);

// The heap.gc functions (gc_functions.cc), added to the heap object.
bool add_gc_functions(napi_env env, napi_value object, HeapHandle* handle);

// The view of a block's data (heap_views.cc).
Napi::Value make_view(Napi::Env env, HeapHandle& handle, Block* block);
void forget_views(Napi::Env env, HeapHandle& handle, bool detach);

}  // namespace refheap::binding
