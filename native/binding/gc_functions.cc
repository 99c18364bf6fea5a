// The functions behind heap.gc (SPEC section 6): argument checks and
// conversions around the core's Collector.
#include "args.h"
#include "errors.h"
#include "guarded.h"
#include "heap_handle.h"

namespace refheap::binding {
namespace {

constexpr uint64_t kMaxThreshold = (uint64_t{1} << 31) - 1;
constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;
constexpr uint64_t kOldest = kGenerations - 1;

Napi::Array ref_array(Napi::Env env, const Heap& heap, const std::vector<Block*>& blocks) {
  Napi::Array out = Napi::Array::New(env, blocks.size());
  for (size_t i = 0; i < blocks.size(); i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, heap.ref_of(blocks[i])));
  return out;
}

Napi::Array number_array(Napi::Env env, const uint64_t* values, size_t count) {
  Napi::Array out = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(values[i])));
  return out;
}

// Every element of the array argument `index` as a live block, or throws.
bool read_ref_list(const Napi::CallbackInfo& info, size_t index, const Heap& heap, std::vector<Block*>* out) {
  if (!info[index].IsArray()) {
    throw_invalid_type(info.Env(), "refs", "an array of refs", info[index]);
    return false;
  }
  Napi::Array list = info[index].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value element = list.Get(i);
    if (!element.IsNumber()) {
      throw_invalid_type(info.Env(), "ref", "of type number", element);
      return false;
    }
    Block* block = heap.resolve(element.As<Napi::Number>().DoubleValue());
    if (block == nullptr) {
      throw_invalid_ref(info.Env(), element, i);
      return false;
    }
    out->push_back(block);
  }
  return true;
}

Napi::Value collect(HeapHandle& h, const Napi::CallbackInfo& info) {
  uint64_t generation;
  if (!read_integer(info, 0, "generation", kOldest, &generation, &kOldest)) return {};
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.gc().collect(static_cast<unsigned>(generation))));
}

Napi::Value set_enabled(HeapHandle& h, const Napi::CallbackInfo& info) {
  h.heap.gc().enabled = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

Napi::Value is_enabled(HeapHandle& h, const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), h.heap.gc().enabled);
}

Napi::Value get_count(HeapHandle& h, const Napi::CallbackInfo& info) {
  return number_array(info.Env(), h.heap.gc().counts().data(), kGenerations);
}

Napi::Value get_threshold(HeapHandle& h, const Napi::CallbackInfo& info) {
  return number_array(info.Env(), h.heap.gc().thresholds.data(), kGenerations);
}

Napi::Value set_threshold(HeapHandle& h, const Napi::CallbackInfo& info) {
  auto thresholds = h.heap.gc().thresholds;
  static const char* const names[] = {"threshold0", "threshold1", "threshold2"};
  for (size_t g = 0; g < kGenerations; g++) {
    const uint64_t* keep = g == 0 ? nullptr : &thresholds[g];  // threshold0 is required
    if (!read_integer(info, g, names[g], kMaxThreshold, &thresholds[g], keep)) return {};
  }
  h.heap.gc().thresholds = thresholds;
  return info.Env().Undefined();
}

Napi::Value get_debug(HeapHandle& h, const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.gc().debug));
}

Napi::Value set_debug(HeapHandle& h, const Napi::CallbackInfo& info) {
  uint64_t flags;
  if (!read_integer(info, 0, "flags", kMaxSafeInteger, &flags)) return {};
  h.heap.gc().debug = flags;
  return info.Env().Undefined();
}

Napi::Value garbage(HeapHandle& h, const Napi::CallbackInfo& info) {
  return ref_array(info.Env(), h.heap, h.heap.gc().garbage());
}

Napi::Value clear_garbage(HeapHandle& h, const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.gc().clear_garbage()));
}

Napi::Value get_objects(HeapHandle& h, const Napi::CallbackInfo& info) {
  const Collector& gc = h.heap.gc();
  if (info[0].IsUndefined() || info[0].IsNull()) {
    std::vector<Block*> all;
    for (unsigned g = 0; g < kGenerations; g++) all.insert(all.end(), gc.generation(g).begin(), gc.generation(g).end());
    return ref_array(info.Env(), h.heap, all);
  }
  uint64_t generation;
  if (!read_integer(info, 0, "generation", kOldest, &generation)) return {};
  return ref_array(info.Env(), h.heap, gc.generation(static_cast<unsigned>(generation)));
}

Napi::Value get_referrers(HeapHandle& h, const Napi::CallbackInfo& info) {
  std::vector<Block*> targets;
  if (!read_ref_list(info, 0, h.heap, &targets)) return {};
  return ref_array(info.Env(), h.heap, h.heap.referrers(targets));
}

Napi::Value get_referents(HeapHandle& h, const Napi::CallbackInfo& info) {
  std::vector<Block*> sources;
  if (!read_ref_list(info, 0, h.heap, &sources)) return {};
  std::vector<Block*> out;
  for (Block* source : sources) {
    for (uint32_t s = 0; s < slot_count(source); s++) {
      Block* target = nullptr;
      h.heap.get_ref(source, s, &target);
      if (target != nullptr) out.push_back(target);
    }
  }
  return ref_array(info.Env(), h.heap, out);
}

Napi::Value is_tracked(HeapHandle& h, const Napi::CallbackInfo& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return Napi::Boolean::New(info.Env(), is_slotted(block));
}

Napi::Value is_finalized(HeapHandle& h, const Napi::CallbackInfo& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return Napi::Boolean::New(info.Env(), (block->flags & block_flags::kFinalized) != 0);
}

Napi::Value freeze(HeapHandle& h, const Napi::CallbackInfo& info) {
  h.heap.gc().freeze();
  return info.Env().Undefined();
}

Napi::Value unfreeze(HeapHandle& h, const Napi::CallbackInfo& info) {
  h.heap.gc().unfreeze();
  return info.Env().Undefined();
}

Napi::Value get_freeze_count(HeapHandle& h, const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.gc().freeze_count()));
}

Napi::Value set_dispatcher(HeapHandle& h, const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    throw_invalid_type(info.Env(), "dispatcher", "a function", info[0]);
    return {};
  }
  // Weak: the dispatcher belongs to the Heap's gc object, which holds this
  // heap's functions; a strong reference would keep the heap alive forever.
  h.dispatcher = Napi::Weak(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

bool add_gc_functions(napi_env env, napi_value object, HeapHandle* handle) {
  static const HeapFunction functions[] = {
      {"gcCollect", callback<guarded<collect>>},
      {"gcSetEnabled", callback<guarded<set_enabled>>},
      {"gcIsEnabled", callback<guarded<is_enabled>>},
      {"gcGetCount", callback<guarded<get_count>>},
      {"gcGetThreshold", callback<guarded<get_threshold>>},
      {"gcSetThreshold", callback<guarded<set_threshold>>},
      {"gcGetDebug", callback<guarded<get_debug>>},
      {"gcSetDebug", callback<guarded<set_debug>>},
      {"gcGarbage", callback<guarded<garbage>>},
      {"gcClearGarbage", callback<guarded<clear_garbage>>},
      {"gcGetObjects", callback<guarded<get_objects>>},
      {"gcGetReferrers", callback<guarded<get_referrers>>},
      {"gcGetReferents", callback<guarded<get_referents>>},
      {"gcIsTracked", callback<guarded<is_tracked>>},
      {"gcIsFinalized", callback<guarded<is_finalized>>},
      {"gcFreeze", callback<guarded<freeze>>},
      {"gcUnfreeze", callback<guarded<unfreeze>>},
      {"gcGetFreezeCount", callback<guarded<get_freeze_count>>},
      {"setDispatcher", callback<guarded<set_dispatcher>>},
  };
  return add_heap_functions(env, object, handle, functions, sizeof functions / sizeof functions[0]);
}

}  // namespace refheap::binding
