// Per-environment state (main thread or worker), kept as Node-API instance
// data: never in a mutable static, so every worker has its own.
#pragma once

#include <napi.h>

#include "heap_table.h"

namespace refheap::binding {

struct ViewRecord;
struct FreshTurns;

struct AddonState {
  explicit AddonState(uint32_t seed) : heaps(seed) {}

  Napi::FunctionReference error_class;  // RefheapError, registered by lib/native.ts
  HeapTable heaps;                      // heaps of this environment not yet finalized
  // Records of views whose ArrayBuffer could not be made (heap_views.cc):
  // Node calls their finalizer if it made the buffer after all; those it
  // never calls are freed with this state (free_orphan_views).
  ViewRecord* orphan_views = nullptr;
  FreshTurns* fresh_turns = nullptr;  // fresh_turn.h; nullptr if Node-API refused it

  static AddonState* of(Napi::Env env) { return env.GetInstanceData<AddonState>(); }
};

}  // namespace refheap::binding
