// The heap functions, shared by the heaps of an environment; each takes its
// heap as argument 0 (guarded.h), checks its other arguments (args.h),
// calls the core once and converts the result: nothing here decides
// anything the core could.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "args.h"
#include "errors.h"
#include "fast_calls.h"
#include "guarded.h"
#include "fresh_turn.h"
#include "heap_handle.h"
#include "js_values.h"

namespace refheap::binding {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "scalar access assumes a little-endian host");

constexpr uint64_t kZero = 0;

// A result array could not be made: its memory was refused (an error), or
// Node-API refused (a worker being terminated: nothing to throw into).
Napi::Value refuse_result(const Arguments& info, bool out_of_memory, const char* what) {
  if (out_of_memory) throw_refheap_error(info.Env(), "ERR_OS_MEMORY", std::string("Cannot allocate ") + what + ": out of memory");
  return {};
}

// A type id in range must also be defined: the same error, naming "type", as typeName gives.
bool read_defined_type(HeapHandle& h, const Arguments& info, size_t index, uint64_t type) {
  if (h.heap.type_name(type) != nullptr) return true;
  throw_out_of_range(info.Env(), "type", "a defined type id", info[index]);
  return false;
}

Napi::Value alloc(HeapHandle& h, const Arguments& info) {
  uint64_t size, slots, type;
  if (!read_integer(info, 0, "size", kMaxDataBytes, &size)) return {};
  if (!read_integer(info, 1, "slots", kMaxSlots, &slots, &kZero)) return {};
  if (!read_integer(info, 2, "type", kMaxTypes - 1, &type, &kZero)) return {};
  if (!read_defined_type(h, info, 2, type)) return {};
  Block* block;
  const Status status = h.heap.alloc(size, slots, type, &block);
  if (status != Status::kOk) {
    throw_alloc_error(info.Env(), status, size, slots, type);
    return {};
  }
  return Napi::Number::New(info.Env(), h.heap.ref_of(block));
}

Napi::Value alloc_many(HeapHandle& h, const Arguments& info) {
  uint64_t count, size, slots, type;
  if (!read_integer(info, 0, "count", kMaxBatch, &count)) return {};
  if (!read_integer(info, 1, "size", kMaxDataBytes, &size)) return {};
  if (!read_integer(info, 2, "slots", kMaxSlots, &slots, &kZero)) return {};
  if (!read_integer(info, 3, "type", kMaxTypes - 1, &type, &kZero)) return {};
  if (!read_defined_type(h, info, 3, type)) return {};
  void* data;
  bool out_of_memory;
  napi_value refs = new_typed_array(info.Env(), napi_float64_array, sizeof(double), count, &data, &out_of_memory);
  if (refs == nullptr) return refuse_result(info, out_of_memory, "allocMany's Float64Array");
  const Status status = h.heap.alloc_many(count, size, slots, type, static_cast<double*>(data));
  if (status != Status::kOk) {
    throw_status(info.Env(), status, "allocMany(" + std::to_string(count) + ", " + std::to_string(size) + ")");
    return {};
  }
  return Napi::Value(info.Env(), refs);
}

Napi::Value retain(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  const Status status = h.heap.retain(block);
  if (status != Status::kOk) {
    throw_status(info.Env(), status, "retain");
    return {};
  }
  return info[0];
}

Napi::Value release(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  if (h.heap.release_held(block) != Status::kOk) {
    throw_invalid_ref(info.Env(), info[0]);
    return {};
  }
  return info.Env().Undefined();
}

Napi::Value release_many(HeapHandle& h, const Arguments& info) {
  // Every element is read first: a non-number anywhere releases nothing.
  NumberList refs;
  if (!read_number_list(info, 0, "refs", false, &refs)) return {};
  if (h.heap.closed()) {  // an element getter closed it while the list was read
    throw_refheap_error(info.Env(), "ERR_HEAP_CLOSED", "The heap is closed");
    return {};
  }
  size_t failed_at = 0;
  const Status status = h.heap.release_many(refs.data(), refs.size(), &failed_at);
  if (status == Status::kInvalidRef) {
    throw_invalid_ref(info.Env(), Napi::Number::New(info.Env(), refs[failed_at]), static_cast<int64_t>(failed_at));
    return {};
  }
  if (status != Status::kOk) {
    throw_status(info.Env(), status, "releaseMany");
    return {};
  }
  return info.Env().Undefined();
}

Napi::Value refcount(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return Napi::Number::New(info.Env(), block->refcount);
}

bool read_slot(const Arguments& info, Block* block, uint64_t* slot) {
  const uint32_t count = slot_count(block);
  if (count == 0) {
    if (!read_integer(info, 1, "slot", kMaxSlots, slot)) return false;
    throw_out_of_range(info.Env(), "slot", "less than the block's slot count (the block has no slots)", info[1]);
    return false;
  }
  return read_integer(info, 1, "slot", count - 1, slot);
}

Napi::Value set_ref(HeapHandle& h, const Arguments& info) {
  Block *block, *target;
  uint64_t slot;
  if (!read_ref(info, 0, h.heap, &block) || !read_slot(info, block, &slot)) return {};
  if (!read_optional_ref(info, 2, h.heap, &target)) return {};
  const Status status = h.heap.set_ref(block, slot, target);
  if (status != Status::kOk) throw_status(info.Env(), status, "setRef");
  return info.Env().Undefined();
}

Napi::Value get_ref(HeapHandle& h, const Arguments& info) {
  Block* block;
  uint64_t slot;
  if (!read_ref(info, 0, h.heap, &block) || !read_slot(info, block, &slot)) return {};
  Block* target = nullptr;
  h.heap.get_ref(block, slot, &target);
  return ref_value(info.Env(), h.heap, target);
}

Napi::Value slot_count_of(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return Napi::Number::New(info.Env(), slot_count(block));
}

Napi::Value size_of(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return Napi::Number::New(info.Env(), static_cast<double>(data_size(block)));
}

Napi::Value type_of(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return Napi::Number::New(info.Env(), block->type);
}

// The block and the offset of a `width`-byte scalar in it, read as
// arguments 0 and 1. Whether it fits is Heap::check_range's to say; this
// only words the error.
bool read_scalar_place(HeapHandle& h, const Arguments& info, size_t width, Block** block, uint64_t* offset) {
  if (!read_ref(info, 0, h.heap, block) || !read_integer(info, 1, "offset", kMaxDataBytes, offset)) return false;
  if (Heap::check_range(*block, *offset, width) == Status::kOk) return true;
  const uint64_t size = data_size(*block);
  throw_out_of_range(info.Env(), "offset",
                     size < width ? "within the block's " + std::to_string(size) + " data bytes"
                                  : "an integer >= 0 && <= " + std::to_string(size - width),
                     info[1]);
  return false;
}

template <typename T>
Napi::Value get_scalar(HeapHandle& h, const Arguments& info) {
  Block* block;
  uint64_t offset;
  T value;
  if (!read_scalar_place(h, info, sizeof(T), &block, &offset) || Heap::load(block, offset, &value) != Status::kOk) return {};
  return Napi::Number::New(info.Env(), static_cast<double>(value));
}

template <typename T>
Napi::Value set_scalar(HeapHandle& h, const Arguments& info) {
  Block* block;
  uint64_t offset;
  double number;
  if (!read_scalar_place(h, info, sizeof(T), &block, &offset) || !read_number(info, 2, "value", &number)) return {};
  Heap::store(block, offset, convert_for_store<T>(number));
  return info.Env().Undefined();
}

Napi::Value get_big_int64(HeapHandle& h, const Arguments& info) {
  Block* block;
  uint64_t offset;
  int64_t value;
  if (!read_scalar_place(h, info, sizeof value, &block, &offset) || Heap::load(block, offset, &value) != Status::kOk) return {};
  return Napi::BigInt::New(info.Env(), value);
}

Napi::Value set_big_int64(HeapHandle& h, const Arguments& info) {
  Block* block;
  uint64_t offset;
  if (!read_scalar_place(h, info, sizeof(int64_t), &block, &offset)) return {};
  if (!info[2].IsBigInt()) {
    throw_invalid_type(info.Env(), "value", "of type bigint", info[2]);
    return {};
  }
  bool lossless;
  Heap::store(block, offset, info[2].As<Napi::BigInt>().Int64Value(&lossless));  // wraps, like DataView
  return info.Env().Undefined();
}

Napi::Value write(HeapHandle& h, const Arguments& info) {
  Block* block;
  uint64_t offset;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  if (!read_integer(info, 1, "offset", data_size(block), &offset)) return {};
  const uint8_t* bytes;
  size_t length;
  if (!view_bytes(info.Env(), info[2], &bytes, &length)) {
    throw_invalid_type(info.Env(), "src", "an instance of ArrayBufferView", info[2]);
    return {};
  }
  if (Heap::write_data(block, offset, bytes, length) != Status::kOk) {
    throw_range_error(info.Env(), "ERR_OUT_OF_RANGE",
                      "Writing " + std::to_string(length) + " bytes at offset " + std::to_string(offset) +
                          " would pass the end of the block's " + std::to_string(data_size(block)) + " data bytes");
    return {};
  }
  return info.Env().Undefined();
}

Napi::Value read(HeapHandle& h, const Arguments& info) {
  Block* block;
  uint64_t offset, length;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  const uint64_t size = data_size(block);
  if (!read_integer(info, 1, "offset", size, &offset, &kZero)) return {};
  const uint64_t rest = size - offset;
  if (!read_integer(info, 2, "length", rest, &length, &rest)) return {};
  void* copy;
  bool out_of_memory;
  napi_value bytes = new_typed_array(info.Env(), napi_uint8_array, 1, length, &copy, &out_of_memory);
  if (bytes == nullptr) return refuse_result(info, out_of_memory, "read's Uint8Array");
  Heap::read_data(block, offset, copy, length);  // offset and length were read within its size
  return Napi::Value(info.Env(), bytes);
}

Napi::Value view(HeapHandle& h, const Arguments& info) {
  Block* block;
  if (!read_ref(info, 0, h.heap, &block)) return {};
  return make_view(info.Env(), h, block);
}

Napi::Value define_type(HeapHandle& h, const Arguments& info) {
  if (!info[0].IsString()) {
    throw_invalid_type(info.Env(), "name", "of type string", info[0]);
    return {};
  }
  uint32_t type;
  // lib/heap.ts checks the options object and passes two booleans.
  bool has_finalizer, uncollectable;
  if (!read_flag(info, 1, &has_finalizer) || !read_flag(info, 2, &uncollectable)) return {};
  const Status status = h.heap.define_type(info[0].As<Napi::String>().Utf8Value(), has_finalizer, uncollectable, &type);
  if (status != Status::kOk) {
    throw_status(info.Env(), status, "defineType: a heap holds at most " + std::to_string(kMaxTypes) + " types");
    return {};
  }
  return Napi::Number::New(info.Env(), type);
}

Napi::Value type_name(HeapHandle& h, const Arguments& info) {
  uint64_t type;
  if (!read_integer(info, 0, "type", kMaxTypes - 1, &type)) return {};
  const std::string* name = h.heap.type_name(type);
  if (name == nullptr) {
    throw_out_of_range(info.Env(), "type", "a defined type id", info[0]);
    return {};
  }
  return Napi::String::New(info.Env(), *name);
}

// The statistics as the values of stats_fields(), in order (lib/stats.ts
// names them); the live page gets the same snapshot.
Napi::Value stats(HeapHandle& h, const Arguments& info) {
  void* data;
  bool out_of_memory;
  napi_value values =
      new_typed_array(info.Env(), napi_float64_array, sizeof(double), stats_fields().size(), &data, &out_of_memory);
  if (values == nullptr) return refuse_result(info, out_of_memory, "stats()'s Float64Array");
  h.heap.take_snapshot(static_cast<double*>(data));
  return Napi::Value(info.Env(), values);
}

// debugMallocStats(): the core's report from a walk of the arenas; one
// that does not add up is the core's bug, thrown as such.
Napi::Value debug_malloc_stats(HeapHandle& h, const Arguments& info) {
  const MallocReport report = h.heap.malloc_report();
  const std::string problem = report.problem();
  if (!problem.empty()) {
    Napi::Error::New(info.Env(), "refheap internal error: the allocator's statistics do not add up (" + problem + ")")
        .ThrowAsJavaScriptException();
    return {};
  }
  return Napi::String::New(info.Env(), format_report(report));
}

// publishTo(dir, name): the live statistics page, in a directory the caller
// has checked. An OS failure throws ERR_STATS_PAGE with the OS's reason.
Napi::Value publish_to(HeapHandle& h, const Arguments& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    throw_invalid_type(env, "dir", "of type string", info[0]);
    return {};
  }
  if (!info[1].IsString()) {
    throw_invalid_type(env, "name", "of type string", info[1]);
    return {};
  }
  if (h.heap.published()) {
    throw_refheap_error(env, "ERR_STATS_PAGE", "The heap already publishes a statistics page");
    return {};
  }
  std::string error;
  if (!h.heap.publish_to(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), &error)) {
    throw_refheap_error(env, "ERR_STATS_PAGE", error);
    return {};
  }
  return env.Undefined();
}

// Not guarded: entering an Operation can run finalizers (views V8 dropped),
// and the 250 ms timer that calls this must never run user code or throw.
// Publishing runs no JavaScript, so it needs no Operation.
Napi::Value publish_now(HeapHandle& h, const Arguments& info) {
  if (!h.heap.closed()) h.heap.publish_now();
  return info.Env().Undefined();
}

Napi::Value trim(HeapHandle& h, const Arguments& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.trim()));
}

Napi::Value close(HeapHandle& h, const Arguments& info) {
  h.close(info.Env());
  return info.Env().Undefined();
}

Napi::Value is_closed(HeapHandle& h, const Arguments& info) {
  return Napi::Boolean::New(info.Env(), h.heap.closed());
}

Napi::Value heap_id(HeapHandle& h, const Arguments& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(h.heap.id()));
}

// Test hooks: a full consistency check, and fault injection.
Napi::Value verify(HeapHandle& h, const Arguments& info) {
  return Napi::String::New(info.Env(), h.heap.verify());
}

Napi::Value fail_nth_mapping(HeapHandle& h, const Arguments& info) {
  uint64_t n;
  if (!read_integer(info, 0, "n", UINT32_MAX, &n)) return {};
  h.heap.pages().os().fail_nth_mapping(n);
  return info.Env().Undefined();
}

// Every heap function, shared by the heaps of an environment. The hottest
// are plain Node-API callbacks with a fast path (fast_calls.h); the rest
// check every argument.
const HeapFunction kFunctions[] = {
    {"allocMany", guarded<alloc_many>},
    {"retain", guarded<retain>},
    {"releaseMany", guarded<release_many>},
    {"refcount", guarded<refcount>},
    {"slotCount", guarded<slot_count_of>},
    {"sizeOf", guarded<size_of>},
    {"typeOf", guarded<type_of>},
    {"getBigInt64", guarded<get_big_int64>},
    {"setBigInt64", guarded<set_big_int64>},
    {"write", guarded<write>},
    {"read", guarded<read>},
    {"view", guarded<view>},
    {"defineType", guarded<define_type>},
    {"typeName", guarded<type_name>},
    {"stats", guarded<stats>},
    {"debugMallocStats", guarded<debug_malloc_stats>},
    {"publishTo", guarded<publish_to>},
    {"publishNow", unguarded<publish_now>},
    {"trim", guarded<trim>},
    {"verify", guarded<verify>},
    {"failNthMapping", guarded<fail_nth_mapping>},
    {"close", unguarded<close>},
    {"isClosed", unguarded<is_closed>},
    {"heapId", unguarded<heap_id>},
    {"alloc", fast_call<fast_alloc, alloc, 3>},
    {"release", fast_call<fast_release, release, 1>},
    {"getRef", fast_call<fast_get_ref, get_ref, 2>},
    {"setRef", fast_call<fast_set_ref, set_ref, 3>},
    {"getUint8", fast_call<fast_get_scalar<uint8_t>, get_scalar<uint8_t>, 2>},
    {"setUint8", fast_call<fast_set_scalar<uint8_t>, set_scalar<uint8_t>, 3>},
    {"getInt32", fast_call<fast_get_scalar<int32_t>, get_scalar<int32_t>, 2>},
    {"setInt32", fast_call<fast_set_scalar<int32_t>, set_scalar<int32_t>, 3>},
    {"getUint32", fast_call<fast_get_scalar<uint32_t>, get_scalar<uint32_t>, 2>},
    {"setUint32", fast_call<fast_set_scalar<uint32_t>, set_scalar<uint32_t>, 3>},
    {"getFloat64", fast_call<fast_get_scalar<double>, get_scalar<double>, 2>},
    {"setFloat64", fast_call<fast_set_scalar<double>, set_scalar<double>, 3>},
};

}  // namespace

void HeapHandle::close(Napi::Env env) {
  if (heap.closed()) return;
  detach_views(env, *this);
  heap.close();
}

void HeapHandle::unpin() {
  if (--pins != 0) return;
  if (state != nullptr) state->heaps.remove(token);
  delete this;  // ~Heap closes the heap if close() was never called
}

bool add_functions(napi_env env, napi_value object, AddonState* state, const HeapFunction* functions, size_t count) {
  for (size_t i = 0; i < count; i++) {
    napi_value function;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].callback, state, &function) !=
            napi_ok ||
        napi_set_named_property(env, object, functions[i].name, function) != napi_ok) {
      return false;
    }
  }
  return true;
}

bool add_heap_functions(napi_env env, napi_value object, AddonState* state) {
  return add_functions(env, object, state, kFunctions, sizeof kFunctions / sizeof kFunctions[0]);
}

// The External holds the heap: a function kept after its Heap object was
// collected (`const { alloc } = heap`) keeps the External, so it still finds
// its heap. The heap closes when the External and the last view are gone.
napi_value create_heap_handle(napi_env env, AddonState* state, uint64_t max_bytes, bool* out_of_memory) {
  *out_of_memory = false;
  auto* handle = new (std::nothrow) HeapHandle(state, env, max_bytes);
  if (handle != nullptr) handle->token = state->heaps.add(handle);
  if (handle == nullptr || handle->token == 0) {
    delete handle;
    *out_of_memory = true;
    return nullptr;
  }
  const auto unpin = [](napi_env, void*, void* hint) { static_cast<HeapHandle*>(hint)->unpin(); };
  napi_value external;
  if (napi_create_external(env, reinterpret_cast<void*>(static_cast<uintptr_t>(handle->token)), unpin, handle,
                           &external) != napi_ok) {
    state->heaps.remove(handle->token);
    delete handle;
    return nullptr;
  }
  handle->pins = 1;
  return external;
}

bool HeapHandle::dispatch(std::initializer_list<napi_value> args) {
  if (dispatcher.IsEmpty()) return true;
  Napi::Env js(env);
  Napi::HandleScope scope(js);
  Napi::Function function = dispatcher.Value();
  if (function.IsEmpty()) return true;  // the JavaScript heap object, and its gc, are gone: nothing to call
  // Calls that could not be made before are reported first (lib/gc.ts).
  if (lost_calls > 0) {
    napi_value kind = Napi::String::New(js, "lost");
    napi_value count = Napi::Number::New(js, static_cast<double>(lost_calls));
    napi_value lost_args[] = {kind, count};
    if (call_dispatcher(function, lost_args, 2)) lost_calls = 0;
  }
  const bool ran = call_dispatcher(function, args.begin(), args.size());
  // Not called: what it carried waits for a fresh stack, not for a next call that may never come.
  if (!ran || lost_calls > 0 || dispatcher_waits) ask_fresh_turn(*this);
  return ran;
}

// The dispatcher catches and reports whatever user code throws, and returns
// true once it has run (1: it has, and kept work it could not schedule,
// which it does when called again from a fresh stack). Anything still
// pending (the stack was exhausted before it could start, or a worker is
// being terminated) means it did not run, and must not break the operation
// that called us.
bool HeapHandle::call_dispatcher(napi_value function, const napi_value* args, size_t count) {
  // An exception already pending belongs to the call that is ending: it is
  // not ours to clear, and nothing can be called now (so: not called).
  bool pending_before = false;
  if (napi_is_exception_pending(env, &pending_before) != napi_ok || pending_before) return false;
  napi_value receiver = nullptr;
  napi_value result = nullptr;
  const bool called = napi_get_undefined(env, &receiver) == napi_ok &&
                      napi_call_function(env, receiver, function, count, args, &result) == napi_ok;
  napi_value ignored;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
  if (!called || pending || result == nullptr) return false;
  bool ran = false;
  if (napi_get_value_bool(env, result, &ran) == napi_ok) return ran;
  double kept = 0;
  if (napi_get_value_double(env, result, &kept) != napi_ok || kept != 1) return false;
  dispatcher_waits = true;
  return true;
}

void HeapHandle::hold_for_turn() {
  pins++;
  uint32_t count;
  if (!dispatcher_held && !dispatcher.IsEmpty()) dispatcher_held = napi_reference_ref(env, dispatcher, &count) == napi_ok;
}

// Also on a closed heap: its collection events need no heap memory, nor
// does the dispatcher's work.
void HeapHandle::set_dispatcher(Napi::Function function) {
  const bool held = dispatcher_held;
  dispatcher = Napi::Weak(function);
  uint32_t count = 0;
  dispatcher_held = held && napi_reference_ref(env, dispatcher, &count) == napi_ok;
}

void HeapHandle::catch_up() {
  turn_asked = false;
  heap.catch_up();
  if (lost_calls > 0 || dispatcher_waits) {
    dispatcher_waits = false;
    Napi::Env js(env);
    Napi::HandleScope scope(js);
    dispatch({Napi::String::New(js, "turn")});
  }
  // Asked again from in there: the new turn holds the heap and the dispatcher instead.
  if (dispatcher_held && !turn_asked) {
    uint32_t count;
    napi_reference_unref(env, dispatcher, &count);
    dispatcher_held = false;
  }
  unpin();
}

bool HeapHandle::run_finalizer(Block* block) {
  Napi::Env js(env);
  Napi::HandleScope scope(js);
  return dispatch({Napi::String::New(js, "finalize"), Napi::Number::New(js, heap.ref_of(block)),
                   Napi::Number::New(js, block->type)});
}

// A late event was kept by the core when its moment came (late_events.h):
// JavaScript publishes it, and tells of the gc callbacks it no longer calls.
bool HeapHandle::collection_event(bool starting, const CollectionInfo& info) {
  Napi::Env js(env);
  Napi::HandleScope scope(js);
  return dispatch({Napi::String::New(js, starting ? "start" : "stop"), Napi::Number::New(js, info.generation),
                   Napi::Number::New(js, static_cast<double>(info.collected)),
                   Napi::Number::New(js, static_cast<double>(info.uncollectable)),
                   Napi::Number::New(js, info.duration_ms), Napi::Boolean::New(js, info.late),
                   Napi::Number::New(js, static_cast<double>(info.dropped_before))});
}

void HeapHandle::debug_line(const std::string& line) {
  Napi::Env js(env);
  Napi::HandleScope scope(js);
  if (!dispatch({Napi::String::New(js, "debug"), Napi::String::New(js, line)})) lost_calls++;
}

}  // namespace refheap::binding
