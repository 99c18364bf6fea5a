// Plain Node-API callbacks for the block calls a workload makes millions of
// times: alloc, release, the scalar getters and setters, getRef and setRef.
// Each skips Napi::CallbackInfo (which fetches six arguments and `this`),
// finds its heap, reads its other arguments as numbers with one Node-API
// call apiece and does the common case itself. Anything else (a missing, extra or odd argument, a
// bad ref, a closed heap) goes to the checked function before anything has
// changed, so every error still comes from one place.
#pragma once

#include <node_api.h>

#include <cmath>
#include <cstring>

#include "args.h"
#include "errors.h"
#include "guarded.h"

namespace refheap::binding {

enum class Fast {
  kDone,      // `result` holds the return value
  kThrown,    // an error is pending (the call itself failed: no retry)
  kFallback,  // not the common case: the checked function decides
};

// `args` holds `argc` numbers (at most the callback's kMaxArgs).
using FastOp = Fast (*)(napi_env env, Heap& heap, const double* args, size_t argc, napi_value* result);

// Argument 0 is the heap (guarded.h); `kMaxArgs` counts the others.
template <FastOp op, Method checked, size_t kMaxArgs>
napi_value fast_call(napi_env env, napi_callback_info cbinfo) {
  size_t argc = kMaxArgs + 2;
  napi_value argv[kMaxArgs + 2];
  void* data;
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, &data);
  HeapHandle* handle = argc >= 1 ? find_heap(env, data, argv[0]) : nullptr;
  double args[kMaxArgs];
  bool numbers = handle != nullptr && argc - 1 <= kMaxArgs && !handle->heap.closed();
  for (size_t i = 1; numbers && i < argc; i++) numbers = napi_get_value_double(env, argv[i], &args[i - 1]) == napi_ok;
  if (numbers) {
    Heap& heap = handle->heap;
    Heap::Operation operation(heap);
    if (!heap.closed()) {  // a finalizer run on entry may have closed it
      napi_value result = nullptr;
      const Fast outcome = op(env, heap, args, argc - 1, &result);
      if (outcome == Fast::kDone) return result;
      if (outcome == Fast::kThrown) return nullptr;
    }
  }
  return guarded<checked>(env, cbinfo);
}

// alloc(size), alloc(size, slots) and alloc(size, slots, type) with numbers.
inline Fast fast_alloc(napi_env env, Heap& heap, const double* args, size_t argc, napi_value* result) {
  uint64_t size, slots = 0, type = 0;
  if (argc < 1 || !integer_in_range(args[0], kMaxDataBytes, &size) ||
      (argc > 1 && !integer_in_range(args[1], kMaxSlots, &slots)) ||
      (argc > 2 && !integer_in_range(args[2], kMaxTypes - 1, &type))) {
    return Fast::kFallback;
  }
  Block* block;
  const Status status = heap.alloc(size, slots, type, &block);
  // Refused before anything changed (an undefined type): the checked call says so.
  if (status == Status::kOutOfRange) return Fast::kFallback;
  if (status != Status::kOk) {
    // Thrown here, never retried: a retry would map (and fail, or collect) again.
    throw_alloc_error(Napi::Env(env), status, size, slots, type);
    return Fast::kThrown;
  }
  napi_create_double(env, heap.ref_of(block), result);
  return Fast::kDone;
}

inline Fast fast_release(napi_env env, Heap& heap, const double* args, size_t argc, napi_value* result) {
  Block* block = argc == 1 ? heap.resolve(args[0]) : nullptr;
  if (block == nullptr || heap.release_held(block) != Status::kOk) return Fast::kFallback;
  napi_get_undefined(env, result);
  return Fast::kDone;
}

// The block `args[0]` names, and `args[1]` as an offset (Heap::load and
// Heap::store check that the scalar fits).
inline Block* fast_scalar_place(Heap& heap, const double* args, uint64_t* offset) {
  Block* block = heap.resolve(args[0]);
  return block != nullptr && integer_in_range(args[1], kMaxDataBytes, offset) ? block : nullptr;
}

template <typename T>
Fast fast_get_scalar(napi_env env, Heap& heap, const double* args, size_t argc, napi_value* result) {
  uint64_t offset;
  Block* block = argc == 2 ? fast_scalar_place(heap, args, &offset) : nullptr;
  T value;
  if (block == nullptr || Heap::load(block, offset, &value) != Status::kOk) return Fast::kFallback;
  napi_create_double(env, static_cast<double>(value), result);
  return Fast::kDone;
}

template <typename T>
Fast fast_set_scalar(napi_env env, Heap& heap, const double* args, size_t argc, napi_value* result) {
  uint64_t offset;
  Block* block = argc == 3 ? fast_scalar_place(heap, args, &offset) : nullptr;
  if (block == nullptr || Heap::store(block, offset, convert_for_store<T>(args[2])) != Status::kOk) return Fast::kFallback;
  napi_get_undefined(env, result);
  return Fast::kDone;
}

inline Fast fast_get_ref(napi_env env, Heap& heap, const double* args, size_t argc, napi_value* result) {
  Block* block = argc == 2 ? heap.resolve(args[0]) : nullptr;
  uint64_t slot;
  Block* target = nullptr;
  if (block == nullptr || !integer_in_range(args[1], UINT32_MAX, &slot) || heap.get_ref(block, slot, &target) != Status::kOk) {
    return Fast::kFallback;
  }
  if (target == nullptr) napi_get_null(env, result);
  else napi_create_double(env, heap.ref_of(target), result);
  return Fast::kDone;
}

// setRef(ref, slot, target) with a ref as target; null goes the checked way.
inline Fast fast_set_ref(napi_env env, Heap& heap, const double* args, size_t argc, napi_value* result) {
  Block* block = argc == 3 ? heap.resolve(args[0]) : nullptr;
  Block* target = block != nullptr ? heap.resolve(args[2]) : nullptr;
  uint64_t slot;
  // set_ref changes nothing when it fails, so the checked call can say why.
  if (target == nullptr || !integer_in_range(args[1], UINT32_MAX, &slot) || heap.set_ref(block, slot, target) != Status::kOk) {
    return Fast::kFallback;
  }
  napi_get_undefined(env, result);
  return Fast::kDone;
}

}  // namespace refheap::binding
