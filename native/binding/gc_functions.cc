// The functions behind heap.gc (SPEC section 6): argument checks and
// conversions around the core's Collector.
#include "args.h"
#include "errors.h"
#include "guarded.h"
#include "heap_handle.h"
#include "js_values.h"

namespace refheap::binding {
namespace {

constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;
constexpr uint64_t kOldest = kGenerations - 1;

// The refs of `blocks`, taken before any JavaScript can run: JavaScript can
// free a block, and the list may be the collector's own, which changes as
// blocks are freed.
std::vector<double> refs_of(const Heap& heap, const std::vector<Block*>& blocks) {
  std::vector<double> refs(blocks.size());
  for (size_t i = 0; i < blocks.size(); i++) refs[i] = heap.ref_of(blocks[i]);
  return refs;
}

Napi::Value ref_array(Napi::Env env, const std::vector<double>& refs) {
  return Napi::Value(env, number_array(env, refs.data(), refs.size()));
}

// One number per generation (counts, thresholds).
Napi::Value generation_array(Napi::Env env, const std::array<uint64_t, kGenerations>& values) {
  const double numbers[] = {static_cast<double>(values[0]), static_cast<double>(values[1]), static_cast<double>(values[2])};
  return Napi::Value(env, number_array(env, numbers, kGenerations));
}

// Every element of the array argument `index` as a live block, or throws.
// All elements are read before any is resolved: reading one can run a
// getter, and the getter can free a block resolved before it.
bool read_ref_list(const Arguments& info, size_t index, const Heap& heap, std::vector<Block*>* out) {
  napi_env env = info.Env();
  NumberList refs;
  if (!read_number_list(info, index, "refs", true, &refs)) return false;
  const size_t length = refs.size();
  if (heap.closed()) {  // a getter closed it
    throw_refheap_error(info.Env(), "ERR_HEAP_CLOSED", "The heap is closed");
    return false;
  }
  for (size_t i = 0; i < length; i++) {
    Block* block = heap.resolve(refs[i]);
    if (block == nullptr) {
      throw_invalid_ref(info.Env(), Napi::Value(env, number_value(env, refs[i])), i);
      return false;
    }
    out->push_back(block);
  }
  return true;
}

Napi::Value collect(HeapHandle& h, const Arguments& info) {
  uint64_t generation;
  if (!read_integer(info, 0, "generation", kOldest, &generation, &kOldest)) return {};
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.gc().collect(static_cast<unsigned>(generation))));
}

Napi::Value set_enabled(HeapHandle& h, const Arguments& info) {
  bool enabled;
  if (!read_flag(info, 0, &enabled)) return {};
  h.heap.gc().enabled = enabled;
  return info.Env().Undefined();
}

Napi::Value is_enabled(HeapHandle& h, const Arguments& info) {
  return Napi::Boolean::New(info.Env(), h.heap.gc().enabled);
}

Napi::Value get_count(HeapHandle& h, const Arguments& info) {
  return generation_array(info.Env(), h.heap.gc().counts());
}

Napi::Value get_threshold(HeapHandle& h, const Arguments& info) {
  return generation_array(info.Env(), h.heap.gc().thresholds);
}

Napi::Value set_threshold(HeapHandle& h, const Arguments& info) {
  auto thresholds = h.heap.gc().thresholds;
  static const char* const names[] = {"threshold0", "threshold1", "threshold2"};
  for (size_t g = 0; g < kGenerations; g++) {
    const uint64_t* keep = g == 0 ? nullptr : &thresholds[g];  // threshold0 is required
    if (!read_integer(info, g, names[g], kMaxThreshold, &thresholds[g], keep)) return {};
  }
  h.heap.gc().thresholds = thresholds;
  return info.Env().Undefined();
}

Napi::Value get_debug(HeapHandle& h, const Arguments& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.gc().debug));
}

Napi::Value set_debug(HeapHandle& h, const Arguments& info) {
  uint64_t flags;
  if (!read_integer(info, 0, "flags", kMaxSafeInteger, &flags)) return {};
  h.heap.gc().debug = flags;
  return info.Env().Undefined();
}

Napi::Value garbage(HeapHandle& h, const Arguments& info) {
  return ref_array(info.Env(), refs_of(h.heap, h.heap.gc().garbage()));
}

Napi::Value clear_garbage(HeapHandle& h, const Arguments& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.gc().clear_garbage()));
}

Napi::Value get_objects(HeapHandle& h, const Arguments& info) {
  uint64_t generation = Collector::kAllGenerations;
  if (!(info[0].IsUndefined() || info[0].IsNull()) && !read_integer(info, 0, "generation", kOldest, &generation)) return {};
  return ref_array(info.Env(), refs_of(h.heap, h.heap.gc().objects(static_cast<unsigned>(generation))));
}

Napi::Value get_referrers(HeapHandle& h, const Arguments& info) {
  std::vector<Block*> targets;
  if (!read_ref_list(info, 0, h.heap, &targets)) return {};
  return ref_array(info.Env(), refs_of(h.heap, h.heap.referrers(targets)));
}

Napi::Value get_referents(HeapHandle& h, const Arguments& info) {
  std::vector<Block*> sources;
  if (!read_ref_list(info, 0, h.heap, &sources)) return {};
  return ref_array(info.Env(), refs_of(h.heap, h.heap.referents(sources)));
}

Napi::Value is_tracked(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return Napi::Boolean::New(info.Env(), is_slotted(block));
}

Napi::Value is_finalized(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return Napi::Boolean::New(info.Env(), is_finalized(block));
}

Napi::Value freeze(HeapHandle& h, const Arguments& info) {
  h.heap.gc().freeze();
  return info.Env().Undefined();
}

Napi::Value unfreeze(HeapHandle& h, const Arguments& info) {
  h.heap.gc().unfreeze();
  return info.Env().Undefined();
}

Napi::Value get_freeze_count(HeapHandle& h, const Arguments& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.gc().freeze_count()));
}

Napi::Value set_dispatcher(HeapHandle& h, const Arguments& info) {
  if (!info[0].IsFunction()) {
    throw_invalid_type(info.Env(), "dispatcher", "a function", info[0]);
    return {};
  }
  h.set_dispatcher(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

bool add_gc_functions(napi_env env, napi_value object, AddonState* state) {
  static const HeapFunction functions[] = {
      {"gcCollect", guarded<collect>},
      {"gcSetEnabled", guarded<set_enabled>},
      {"gcIsEnabled", guarded<is_enabled>},
      {"gcGetCount", guarded<get_count>},
      {"gcGetThreshold", guarded<get_threshold>},
      {"gcSetThreshold", guarded<set_threshold>},
      {"gcGetDebug", guarded<get_debug>},
      {"gcSetDebug", guarded<set_debug>},
      {"gcGarbage", guarded<garbage>},
      {"gcClearGarbage", guarded<clear_garbage>},
      {"gcGetObjects", guarded<get_objects>},
      {"gcGetReferrers", guarded<get_referrers>},
      {"gcGetReferents", guarded<get_referents>},
      {"gcIsTracked", guarded<is_tracked>},
      {"gcIsFinalized", guarded<is_finalized>},
      {"gcFreeze", guarded<freeze>},
      {"gcUnfreeze", guarded<unfreeze>},
      {"gcGetFreezeCount", guarded<get_freeze_count>},
      {"setDispatcher", guarded<set_dispatcher>},
  };
  return add_functions(env, object, state, functions, sizeof functions / sizeof functions[0]);
}

}  // namespace refheap::binding
