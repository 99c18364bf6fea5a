// Per-environment state (main thread or worker), kept as Node-API instance
// data: never in a mutable static, so every worker has its own.
#pragma once

#include <napi.h>

#include "heap_table.h"

namespace refheap::binding {

struct AddonState {
  explicit AddonState(uint32_t seed) : heaps(seed) {}

  Napi::FunctionReference error_class;  // RefheapError, registered by lib/native.ts
  HeapTable heaps;                      // heaps of this environment not yet finalized

  static AddonState* of(Napi::Env env) { return env.GetInstanceData<AddonState>(); }
};

}  // namespace refheap::binding
