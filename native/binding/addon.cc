// Module entry: per-environment state, the teardown hook, the module-level
// functions and the heap functions every heap of the environment shares
// (heap_functions.cc, gc_functions.cc).
#include <napi.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "args.h"
#include "errors.h"
#include "fresh_turn.h"
#include "heap_handle.h"
#include "js_values.h"
#include "../core/malloc_report.h"
#include "../core/os.h"
#include "../core/stats_fields.h"
#include "../core/stats_page.h"

namespace refheap::binding {
namespace {

constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;

// Worker exit or process exit: every heap of this environment still open
// gives its memory back. No JavaScript runs after this point.
void close_all_heaps(AddonState* state) {
  state->heaps.for_each([](HeapHandle* handle) { handle->heap.close(); });
}

void finalize_state(napi_env /*env*/, void* data, void* /*hint*/) {
  auto* state = static_cast<AddonState*>(data);
  close_all_heaps(state);
  state->heaps.for_each([](HeapHandle* handle) {
    handle->state = nullptr;
    // Its queued turn will not run: the pin is given back (the handle is
    // deleted if its External has gone too; the table only points at it).
    if (handle->turn_asked) {
      handle->turn_asked = false;
      handle->unpin();
    }
  });
  free_orphan_views(state);
  stop_fresh_turns(state);
  delete state;
}

Napi::Value create_heap(const Napi::CallbackInfo& info) {
  uint64_t max_bytes;
  const uint64_t no_cap = 0;
  if (!read_integer(Arguments(info, 0), 0, "maxBytes", kMaxSafeInteger, &max_bytes, &no_cap)) return {};
  bool out_of_memory;
  napi_value heap = create_heap_handle(info.Env(), AddonState::of(info.Env()), max_bytes, &out_of_memory);
  if (out_of_memory) throw_refheap_error(info.Env(), "ERR_OS_MEMORY", "Cannot create a heap: out of memory");
  return heap != nullptr ? Napi::Value(info.Env(), heap) : Napi::Value();
}

// Does nothing: the benchmarks' baseline for the cost of one Node-API call.
// formatMallocStats(values): the debugMallocStats() report of a statistics
// page the CLI read (the values of stats_fields(), in order), made from its
// counters by the core (malloc_report.h). A page that does not add up throws.
Napi::Value format_malloc_stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t count = stats_fields().size();
  const uint8_t* bytes = nullptr;
  size_t length = 0;
  bool typed = false;
  napi_typedarray_type type = napi_int8_array;
  if (napi_is_typedarray(env, info[0], &typed) != napi_ok || !typed ||
      napi_get_typedarray_info(env, info[0], &type, nullptr, nullptr, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || !view_bytes(env, info[0], &bytes, &length) || length != count * sizeof(double)) {
    throw_invalid_type(env, "values", "a Float64Array of the statistics fields", info[0]);
    return {};
  }
  // A copy: the view may be over a shared buffer that changes as it is read.
  std::vector<double> values(count);
  std::memcpy(values.data(), bytes, length);
  const MallocReport report = report_of(read_stats_values(values.data()));
  const std::string problem = report.problem();
  if (!problem.empty()) {
    Napi::Error::New(env, "the statistics do not add up (" + problem + ")").ThrowAsJavaScriptException();
    return {};
  }
  return Napi::String::New(env, format_report(report));
}

// argumentError(code, name, expected, received): the TypeError or
// RangeError lib/ throws for a bad option, worded as the addon words its own
// (errors.cc), so that a message has one form.
Napi::Value argument_error(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static const char* const kNames[] = {"code", "name", "expected"};
  std::string text[3];
  for (size_t i = 0; i < 3; i++) {
    if (!info[i].IsString() || !string_start_of(env, info[i], &text[i])) {
      throw_invalid_type(env, kNames[i], "of type string", info[i]);
      return {};
    }
  }
  const std::string& code = text[0];
  const std::string& name = text[1];
  const std::string& expected = text[2];
  napi_value error = nullptr;
  if (code == "ERR_INVALID_ARG_TYPE") {
    error = make_invalid_type(env, name, expected, info[3]);
  } else if (code == "ERR_OUT_OF_RANGE") {
    error = make_out_of_range(env, name, expected, info[3]);
  } else {
    throw_out_of_range(env, "code", "'ERR_INVALID_ARG_TYPE' or 'ERR_OUT_OF_RANGE'", info[0]);
    return {};
  }
  return error == nullptr ? Napi::Value() : Napi::Value(env, error);
}

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
napi_value stats_field_list(napi_env env) {
  const std::vector<StatsField>& fields = stats_fields();
  return array_of(env, fields.size(), [&](size_t i) -> napi_value {
    napi_value field = new_object(env), boolean;
    if (field == nullptr || napi_get_boolean(env, fields[i].kind == FieldKind::kBoolean, &boolean) != napi_ok ||
        !define_value(env, field, "path", string_value(env, fields[i].path.data(), fields[i].path.size())) ||
        !define_value(env, field, "boolean", boolean)) {
      return nullptr;
    }
    return field;
  });
}

// The statistics page's header (stats_page.h), for the reader in
// lib/stats-page.ts: the format is defined once, in the core.
napi_value stats_page_layout(napi_env env) {
  napi_value out = new_object(env), at = new_object(env);
  bool made = out != nullptr && at != nullptr &&
              define_value(env, out, "magic", string_value(env, kPageMagic, sizeof kPageMagic)) &&
              define_value(env, out, "headerBytes", number_value(env, sizeof(PageHeader))) &&
              define_value(env, out, "nameCapacity", number_value(env, kPageNameBytes));
#define REFHEAP_OFFSET(js_name, field) made = made && define_value(env, at, js_name, number_value(env, offsetof(PageHeader, field)));
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
  return made && define_value(env, out, "offsets", at) ? out : nullptr;
}

// How a ref is put together (block.h): slot, granule and tag fields, low to high.
napi_value ref_layout(napi_env env) {
  napi_value out = new_object(env);
  const bool made = out != nullptr && define_value(env, out, "tagBits", number_value(env, kRefTagBits)) &&
                    define_value(env, out, "granuleBits", number_value(env, kRefGranuleBits)) &&
                    define_value(env, out, "slotBits", number_value(env, kRefSlotBits)) &&
                    define_value(env, out, "granuleShift", number_value(env, kRefGranuleShift)) &&
                    define_value(env, out, "slotShift", number_value(env, kRefSlotShift));
  return made ? out : nullptr;
}

// The block layout, for JavaScript that needs offsets (tests, a future
// fast path): defined once in the core, read from here.
napi_value layout(napi_env env) {
  napi_value out = new_object(env);
  const bool made = out != nullptr && define_value(env, out, "granule", number_value(env, kGranule)) &&
                    define_value(env, out, "poolSize", number_value(env, kPoolSize)) &&
                    define_value(env, out, "arenaSize", number_value(env, kArenaSize)) &&
                    define_value(env, out, "smallLimit", number_value(env, kSmallLimit)) &&
                    define_value(env, out, "poolHeaderSize", number_value(env, kPoolHeaderSize)) &&
                    define_value(env, out, "blockHeaderSize", number_value(env, sizeof(BlockHeader))) &&
                    define_value(env, out, "slottedHeaderSize", number_value(env, sizeof(SlottedHeader))) &&
                    define_value(env, out, "slotSize", number_value(env, sizeof(SlotWord))) &&
                    define_value(env, out, "maxDataBytes", number_value(env, kMaxDataBytes)) &&
                    define_value(env, out, "maxSlots", number_value(env, kMaxSlots)) &&
                    define_value(env, out, "maxTypes", number_value(env, kMaxTypes)) &&
                    define_value(env, out, "maxNestedFinalizers", number_value(env, kMaxNestedFinalizers)) &&
                    define_value(env, out, "maxBatch", number_value(env, kMaxBatch)) &&
                    define_value(env, out, "osPageSize", number_value(env, OsPages::page_size())) &&
                    define_value(env, out, "ref", ref_layout(env));
  return made ? out : nullptr;
}

// The collector's settings and their limits (SPEC section 6).
napi_value collector_constants(napi_env env) {
  napi_value out = new_object(env);
  napi_value flags = new_object(env);
  const double thresholds[] = {static_cast<double>(kDefaultThresholds[0]), static_cast<double>(kDefaultThresholds[1]),
                               static_cast<double>(kDefaultThresholds[2])};
  const bool made = out != nullptr && flags != nullptr &&
                    define_value(env, flags, "stats", number_value(env, debug_flags::kStats)) &&
                    define_value(env, flags, "collectable", number_value(env, debug_flags::kCollectable)) &&
                    define_value(env, flags, "uncollectable", number_value(env, debug_flags::kUncollectable)) &&
                    define_value(env, flags, "saveAll", number_value(env, debug_flags::kSaveAll)) &&
                    define_value(env, flags, "leak", number_value(env, debug_flags::kLeak)) &&
                    define_value(env, out, "generations", number_value(env, kGenerations)) &&
                    define_value(env, out, "defaultThresholds", number_array(env, thresholds, kGenerations)) &&
                    define_value(env, out, "maxThreshold", number_value(env, kMaxThreshold)) &&
                    define_value(env, out, "debugFlags", flags);
  return made ? out : nullptr;
}

bool add_function(napi_env env, napi_value exports, const char* name, napi_callback function) {
  napi_value value;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, function, nullptr, &value) == napi_ok &&
         define_value(env, exports, name, value);
}

// Different for every environment and every copy of the addon in the
// process: the time, this copy's address and `salt` (on the thread's
// stack), mixed.
uint32_t table_seed(const void* salt) {
  uint64_t x = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               reinterpret_cast<uintptr_t>(&table_seed) ^ (reinterpret_cast<uintptr_t>(salt) << 7);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

}  // namespace

// Plain Node-API (js_values.h): a worker terminated while it loads the addon
// must not abort the process. A failure leaves the exports incomplete; the
// worker is ending anyway.
napi_value init(napi_env env, napi_value exports) {
  auto* state = new AddonState(table_seed(&exports));
  if (napi_set_instance_data(env, state, finalize_state, nullptr) != napi_ok) {
    delete state;
    return nullptr;
  }
  napi_add_env_cleanup_hook(env, [](void* data) { close_all_heaps(static_cast<AddonState*>(data)); }, state);
  start_fresh_turns(env, state);  // without them, what fails near the stack limit waits for the next call
  napi_value heap_functions;
  const bool made = add_function(env, exports, "createHeap", callback<create_heap>) &&
                    napi_create_object(env, &heap_functions) == napi_ok &&
                    add_heap_functions(env, heap_functions, state) && add_gc_functions(env, heap_functions, state) &&
                    define_value(env, exports, "heapFunctions", heap_functions) &&
                    add_function(env, exports, "setErrorClass", callback<set_error_class>) &&
                    define_value(env, exports, "layout", layout(env)) &&
                    define_value(env, exports, "collector", collector_constants(env)) &&
                    define_value(env, exports, "statsFields", stats_field_list(env)) &&
                    define_value(env, exports, "statsPageLayout", stats_page_layout(env)) &&
                    add_function(env, exports, "formatMallocStats", callback<format_malloc_stats>) &&
                    add_function(env, exports, "argumentError", callback<argument_error>) &&
                    add_function(env, exports, "noop", callback<noop>);
  return made ? exports : nullptr;
}

}  // namespace refheap::binding

NAPI_MODULE_INIT() { return refheap::binding::init(env, exports); }
