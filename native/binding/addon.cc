// Module entry: per-environment state, the teardown hook, and the two
// module-level functions. Everything per heap is in heap_functions.cc.
#include <napi.h>

#include "args.h"
#include "errors.h"
#include "heap_handle.h"
#include "../core/stats_fields.h"
#include "../core/stats_page.h"

namespace refheap::binding {
namespace {

constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;

// Worker exit or process exit: every heap of this environment still open
// gives its memory back. No JavaScript runs after this point.
void close_all_heaps(AddonState* state) {
  for (HeapHandle* handle : state->heaps) handle->heap.close();
}

void finalize_state(Napi::Env /*env*/, AddonState* state) {
  close_all_heaps(state);
  for (HeapHandle* handle : state->heaps) handle->state = nullptr;
  delete state;
}

Napi::Value create_heap(const Napi::CallbackInfo& info) {
  uint64_t max_bytes;
  const uint64_t no_cap = 0;
  if (!read_integer(info, 0, "maxBytes", kMaxSafeInteger, &max_bytes, &no_cap)) return {};
  napi_value object = create_heap_object(info.Env(), AddonState::of(info.Env()), max_bytes);
  return object != nullptr ? Napi::Value(info.Env(), object) : Napi::Value();
}

// Does nothing: the benchmarks' baseline for the cost of one Node-API call.
Napi::Value noop(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

Napi::Value set_error_class(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    throw_invalid_type(info.Env(), "errorClass", "a function", info[0]);
    return {};
  }
  AddonState::of(info.Env())->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// The names of the values heap.stats() returns: [{ path, boolean }], in order.
Napi::Array stats_field_list(Napi::Env env) {
  const std::vector<StatsField>& fields = stats_fields();
  Napi::Array list = Napi::Array::New(env, fields.size());
  for (size_t i = 0; i < fields.size(); i++) {
    Napi::Object field = Napi::Object::New(env);
    field.Set("path", Napi::String::New(env, fields[i].path));
    field.Set("boolean", Napi::Boolean::New(env, fields[i].kind == FieldKind::kBoolean));
    list.Set(static_cast<uint32_t>(i), field);
  }
  return list;
}

// The statistics page's header (stats_page.h), for the reader in
// lib/stats-page.ts: the format is defined once, in the core.
Napi::Object stats_page_layout(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("magic", Napi::String::New(env, kPageMagic, sizeof kPageMagic));
  out.Set("headerBytes", Napi::Number::New(env, sizeof(PageHeader)));
  out.Set("nameCapacity", Napi::Number::New(env, kPageNameBytes));
  Napi::Object at = Napi::Object::New(env);
#define REFHEAP_OFFSET(js_name, field) at.Set(js_name, Napi::Number::New(env, offsetof(PageHeader, field)));
  REFHEAP_OFFSET("version", version)
  REFHEAP_OFFSET("headerBytes", header_bytes)
  REFHEAP_OFFSET("pageBytes", page_bytes)
  REFHEAP_OFFSET("sequence", sequence)
  REFHEAP_OFFSET("pid", pid)
  REFHEAP_OFFSET("threadId", thread_id)
  REFHEAP_OFFSET("heapId", heap_id)
  REFHEAP_OFFSET("createdMs", created_ms)
  REFHEAP_OFFSET("processStart", process_start)
  REFHEAP_OFFSET("publishedMs", published_ms)
  REFHEAP_OFFSET("fieldCount", field_count)
  REFHEAP_OFFSET("pathSlotBytes", path_slot_bytes)
  REFHEAP_OFFSET("pathsOffset", paths_offset)
  REFHEAP_OFFSET("kindsOffset", kinds_offset)
  REFHEAP_OFFSET("valuesOffset", values_offset)
  REFHEAP_OFFSET("nameBytes", name_bytes)
  REFHEAP_OFFSET("name", name)
#undef REFHEAP_OFFSET
  out.Set("offsets", at);
  return out;
}

// The block layout, for JavaScript that needs offsets (tests, a future
// fast path): defined once in the core, read from here.
Napi::Object layout(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("granule", Napi::Number::New(env, kGranule));
  out.Set("poolSize", Napi::Number::New(env, kPoolSize));
  out.Set("arenaSize", Napi::Number::New(env, kArenaSize));
  out.Set("smallLimit", Napi::Number::New(env, kSmallLimit));
  out.Set("poolHeaderSize", Napi::Number::New(env, kPoolHeaderSize));
  out.Set("blockHeaderSize", Napi::Number::New(env, sizeof(BlockHeader)));
  out.Set("slottedHeaderSize", Napi::Number::New(env, sizeof(SlottedHeader)));
  out.Set("slotSize", Napi::Number::New(env, sizeof(Block*)));
  out.Set("maxDataBytes", Napi::Number::New(env, kMaxDataBytes));
  out.Set("maxSlots", Napi::Number::New(env, kMaxSlots));
  out.Set("maxTypes", Napi::Number::New(env, kMaxTypes));
  return out;
}

}  // namespace

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* state = new AddonState();
  env.SetInstanceData<AddonState, finalize_state>(state);
  env.AddCleanupHook(close_all_heaps, state);
  exports.Set("createHeap", Napi::Function::New(env, create_heap, "createHeap"));
  exports.Set("setErrorClass", Napi::Function::New(env, set_error_class, "setErrorClass"));
  exports.Set("layout", layout(env));
  exports.Set("statsFields", stats_field_list(env));
  exports.Set("statsPageLayout", stats_page_layout(env));
  exports.Set("noop", Napi::Function::New(env, noop, "noop"));
  return exports;
}

}  // namespace refheap::binding

static Napi::Object InitRefheap(Napi::Env env, Napi::Object exports) { return refheap::binding::init(env, exports); }
NODE_API_MODULE(refheap, InitRefheap)
