#include "fresh_turn.h"

#include <cstdint>

#include "addon_state.h"
#include "heap_handle.h"

namespace refheap::binding {

// Who outlives whom at environment teardown is Node's choice, so the state
// and the thread-safe function each unlink themselves from the other.
struct FreshTurns {
  napi_threadsafe_function function = nullptr;
  AddonState* state = nullptr;
};

namespace {

// A heap is named by its token, never by a pointer (the turn's pin keeps
// the handle, but the environment may be going).
void run_turn(napi_env env, napi_value /*unused*/, void* context, void* data) {
  auto* turns = static_cast<FreshTurns*>(context);
  if (env == nullptr || turns->state == nullptr) return;  // the environment is being torn down
  HeapHandle* handle = turns->state->heaps.find(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data)));
  if (handle != nullptr) handle->catch_up();
}

void finalize_turns(napi_env /*env*/, void* data, void* /*hint*/) {
  auto* turns = static_cast<FreshTurns*>(data);
  if (turns->state != nullptr) turns->state->fresh_turns = nullptr;
  delete turns;
}

}  // namespace

bool start_fresh_turns(napi_env env, AddonState* state) {
  auto* turns = new (std::nothrow) FreshTurns;
  if (turns == nullptr) return false;
  napi_value name;
  if (napi_create_string_utf8(env, "refheap:fresh-turn", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, turns, finalize_turns, turns, run_turn,
                                      &turns->function) != napi_ok) {
    delete turns;
    return false;
  }
  if (napi_unref_threadsafe_function(env, turns->function) != napi_ok) {
    // Kept alive, it would hold the process open: not used (Node finalizes it with the environment).
    return true;
  }
  turns->state = state;
  state->fresh_turns = turns;
  return true;
}

void stop_fresh_turns(AddonState* state) {
  if (state->fresh_turns != nullptr) state->fresh_turns->state = nullptr;
  state->fresh_turns = nullptr;
}

void ask_fresh_turn(HeapHandle& handle) {
  if (handle.turn_asked || handle.state == nullptr || handle.state->fresh_turns == nullptr) return;
  void* token = reinterpret_cast<void*>(static_cast<uintptr_t>(handle.token));
  handle.turn_asked = napi_call_threadsafe_function(handle.state->fresh_turns->function, token, napi_tsfn_nonblocking) == napi_ok;
  if (handle.turn_asked) handle.hold_for_turn();
}

}  // namespace refheap::binding
