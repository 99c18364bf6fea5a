// What the binding keeps per heap: the core Heap and the views that lend
// its memory to JavaScript. JavaScript holds the heap as an External (its
// token: heap_table.h) and passes it as argument 0 of the heap functions,
// which one environment shares across all its heaps. The handle is pinned
// by that External and by every live view, and is deleted when the last of
// them is finalized; the heap's memory goes at close() or then.
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
  AddonState* state;                   // nullptr once the environment's state is gone
  uint64_t token = 0;                  // in state->heaps
  napi_env env;                        // the environment (thread) the heap belongs to
  Napi::FunctionReference dispatcher;  // (kind, ...args) => void; weak but while a turn is queued
  uint32_t pins = 0;                   // the External's, one per live view, one while a turn is queued
  ViewRecord* views = nullptr;    // live views, so close() can detach them

  // Closes the heap and detaches its views (at environment teardown the
  // core's close() is called alone: no view can be used then).
  void close(Napi::Env env);
  void unpin();
  // While a fresh turn is queued (fresh_turn.h) the handle is pinned and
  // the dispatcher held strongly: what waits goes out even if JavaScript
  // drops the heap meanwhile (a subscriber still waits for its 'stop').
  void hold_for_turn();
  // From that turn: does what the heap kept for its next call, has the
  // dispatcher do what it kept, then lets both go.
  void catch_up();
  bool turn_asked = false;  // a fresh turn is queued for this heap (and holds it)
  // Weak: the dispatcher belongs to the Heap's gc object, which holds the
  // External; a strong reference would keep the heap alive forever. A
  // queued turn holds the new one strongly instead of the old.
  void set_dispatcher(Napi::Function function);

  bool run_finalizer(Block* block) override;
  bool collection_event(bool starting, const CollectionInfo& info) override;
  void debug_line(const std::string& line) override;

 private:
  // Whether the dispatcher ran (see call_dispatcher).
  bool dispatch(std::initializer_list<napi_value> args);
  bool call_dispatcher(napi_value function, const napi_value* args, size_t count);
  uint64_t lost_calls = 0;  // debug lines that could not be called, not yet reported
  bool dispatcher_waits = false;  // the dispatcher kept work it could not schedule (lib/gc.ts)
  bool dispatcher_held = false;   // made strong for a queued turn (hold_for_turn)
};

// Creates the native side of one heap: the External JavaScript holds it
// by. nullptr when there is no memory for it (`out_of_memory`), or when
// Node-API refuses (a worker being terminated).
napi_value create_heap_handle(napi_env env, AddonState* state, uint64_t max_bytes, bool* out_of_memory);

// One function shared by the heaps of an environment.
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

// Adds `functions` to `object`, each with `state` as its data. Plain
// Node-API with every status checked: while a worker is being terminated
// these calls fail, and node-addon-api's wrappers would abort the process.
bool add_functions(napi_env env, napi_value object, AddonState* state, const HeapFunction* functions, size_t count);

// The heap functions (heap_functions.cc) and the heap.gc ones
// (gc_functions.cc), added to `object`.
bool add_heap_functions(napi_env env, napi_value object, AddonState* state);
bool add_gc_functions(napi_env env, napi_value object, AddonState* state);

// The view of a block's data (heap_views.cc).
Napi::Value make_view(Napi::Env env, HeapHandle& handle, Block* block);
// Detaches every live view of the heap (close()).
void detach_views(Napi::Env env, HeapHandle& handle);
// Frees the records of views never made (AddonState::orphan_views), when
// the environment's state goes.
void free_orphan_views(AddonState* state);

}  // namespace refheap::binding
