// The wrapper every heap function goes through: a closed heap is refused
// whatever the arguments, and the call runs inside a Heap::Operation, so
// that JavaScript run from inside it (finalizers, gc callbacks) can close
// the heap without pulling memory from under the call.
#pragma once

#include <napi.h>

#include "errors.h"
#include "heap_handle.h"

namespace refheap::binding {

using Method = Napi::Value (*)(HeapHandle&, const Napi::CallbackInfo&);

inline bool refuse_if_closed(HeapHandle& handle, Napi::Env env) {
  if (!handle.heap.closed()) return false;
  throw_refheap_error(env, "ERR_HEAP_CLOSED", "The heap is closed");
  return true;
}

template <Method method>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  auto* handle = static_cast<HeapHandle*>(info.Data());
  if (refuse_if_closed(*handle, info.Env())) return {};
  Heap::Operation operation(handle->heap);
  if (refuse_if_closed(*handle, info.Env())) return {};  // a finalizer run on entry closed it
  return method(*handle, info);
}

inline Napi::Value ref_value(Napi::Env env, const Heap& heap, const Block* block) {
  return block == nullptr ? env.Null() : Napi::Number::New(env, heap.ref_of(block));
}

}  // namespace refheap::binding
