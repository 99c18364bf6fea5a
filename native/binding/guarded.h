// The wrappers every heap function goes through. Each finds the heap its
// argument 0 names (an unknown one is refused before anything is read);
// `guarded` also refuses a closed heap whatever the arguments, and runs
// the call inside a Heap::Operation, so that JavaScript run from inside it
// (finalizers, gc callbacks) can close the heap without pulling memory from
// under the call.
#pragma once

#include <napi.h>

#include "args.h"
#include "errors.h"
#include "heap_handle.h"

namespace refheap::binding {

using Method = Napi::Value (*)(HeapHandle&, const Arguments&);

// The live heap of this environment that `value` names, or nullptr.
// `data` is the function's data: the environment's AddonState.
inline HeapHandle* find_heap(napi_env env, void* data, napi_value value) {
  void* token;
  if (napi_get_value_external(env, value, &token) != napi_ok) return nullptr;
  return static_cast<AddonState*>(data)->heaps.find(reinterpret_cast<uintptr_t>(token));
}

// The heap of argument 0, or nullptr after throwing.
inline HeapHandle* heap_argument(const Napi::CallbackInfo& info) {
  HeapHandle* handle = find_heap(info.Env(), info.Data(), info[0]);
  if (handle == nullptr) throw_invalid_type(info.Env(), "heap", "a heap handle of this thread", info[0]);
  return handle;
}

inline bool refuse_if_closed(HeapHandle& handle, Napi::Env env) {
  if (!handle.heap.closed()) return false;
  throw_refheap_error(env, "ERR_HEAP_CLOSED", "The heap is closed");
  return true;
}

template <Method method>
napi_value guarded(napi_env env, napi_callback_info cbinfo) {
  Napi::CallbackInfo info(env, cbinfo);
  HeapHandle* handle = heap_argument(info);
  if (handle == nullptr || refuse_if_closed(*handle, info.Env())) return nullptr;
  Heap::Operation operation(handle->heap);
  if (refuse_if_closed(*handle, info.Env())) return nullptr;  // a finalizer run on entry closed it
  return method(*handle, Arguments(info, 1));
}

// For the calls a closed heap still answers (close, isClosed, heapId) and
// the one that must never run JavaScript (publishNow): no Operation.
template <Method method>
napi_value unguarded(napi_env env, napi_callback_info cbinfo) {
  Napi::CallbackInfo info(env, cbinfo);
  HeapHandle* handle = heap_argument(info);
  if (handle == nullptr) return nullptr;
  return method(*handle, Arguments(info, 1));
}

inline Napi::Value ref_value(Napi::Env env, const Heap& heap, const Block* block) {
  return block == nullptr ? env.Null() : Napi::Number::New(env, heap.ref_of(block));
}

}  // namespace refheap::binding
