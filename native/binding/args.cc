#include "args.h"

#include <cmath>
#include <string>

#include "errors.h"

namespace refheap::binding {

bool read_integer(const Arguments& info, size_t index, const char* name, uint64_t max, uint64_t* out,
                  const uint64_t* fallback) {
  // Fast path: a missing argument costs no Node-API call, a number costs one.
  if (index >= info.Length()) {
    if (fallback != nullptr) {
      *out = *fallback;
      return true;
    }
  } else {
    double number;
    if (napi_get_value_double(info.Env(), info[index], &number) == napi_ok && integer_in_range(number, max, out)) {
      return true;
    }
  }
  Napi::Value value = info[index];
  const napi_valuetype type = value.Type();
  if (type == napi_undefined && fallback != nullptr) {
    *out = *fallback;
    return true;
  }
  if (type != napi_number) {
    throw_invalid_type(info.Env(), name, "of type number", value);
    return false;
  }
  if (!integer_in_range(value.As<Napi::Number>().DoubleValue(), max, out)) {
    throw_out_of_range(info.Env(), name, "an integer >= 0 && <= " + std::to_string(max), value);
    return false;
  }
  return true;
}

namespace {

// A number naming a live block; `name` and `expected` word the type error.
bool read_live_block(const Arguments& info, size_t index, const Heap& heap, const char* name,
                     const char* expected, Block** out) {
  Napi::Value value = info[index];
  double number;
  if (index >= info.Length() || napi_get_value_double(info.Env(), value, &number) != napi_ok) {
    throw_invalid_type(info.Env(), name, expected, value);
    return false;
  }
  *out = heap.resolve(number);
  if (*out == nullptr) {
    throw_invalid_ref(info.Env(), value);
    return false;
  }
  return true;
}

}  // namespace

bool read_ref(const Arguments& info, size_t index, const Heap& heap, Block** out) {
  return read_live_block(info, index, heap, "ref", "of type number", out);
}

bool read_optional_ref(const Arguments& info, size_t index, const Heap& heap, Block** out) {
  if (info[index].IsNull()) {
    *out = nullptr;
    return true;
  }
  return read_live_block(info, index, heap, "target", "of type number or null", out);
}

bool read_flag(const Arguments& info, size_t index, bool* out) {
  napi_env env = info.Env();
  napi_value value = info[index];
  if (napi_get_value_bool(env, value, out) == napi_ok) return true;
  // Plain Node-API: node-addon-api's ToBoolean() aborts the process when
  // the conversion is refused.
  napi_value converted;
  return napi_coerce_to_bool(env, value, &converted) == napi_ok && napi_get_value_bool(env, converted, out) == napi_ok;
}

bool read_number(const Arguments& info, size_t index, const char* name, double* out) {
  if (index < info.Length() && napi_get_value_double(info.Env(), info[index], out) == napi_ok) return true;
  Napi::Value value = info[index];
  if (value.Type() != napi_number) {
    throw_invalid_type(info.Env(), name, "of type number", value);
    return false;
  }
  *out = value.As<Napi::Number>().DoubleValue();
  return true;
}

namespace {

bool out_of_memory(const Arguments& info, const char* name) {
  throw_refheap_error(info.Env(), "ERR_OS_MEMORY", std::string("Cannot hold the elements of \"") + name + "\": out of memory");
  return false;
}

}  // namespace

bool read_number_list(const Arguments& info, size_t index, const char* name, bool arrays_only,
                      NumberList* out) {
  napi_env env = info.Env();
  napi_value list = info[index];
  const char* expected = arrays_only ? "an array of refs" : "an array-like of numbers";
  if (!arrays_only) {
    bool is_typed_array = false;
    napi_typedarray_type type;
    size_t length;
    void* data;
    if (napi_is_typedarray(env, list, &is_typed_array) == napi_ok && is_typed_array &&
        napi_get_typedarray_info(env, list, &type, &length, &data, nullptr, nullptr) == napi_ok &&
        type == napi_float64_array) {
      // Copied at once (the buffer may be shared with another thread); null
      // and empty when detached.
      if (data == nullptr) length = 0;
      return out->assign(static_cast<const double*>(data), length) || out_of_memory(info, name);
    }
  }
  napi_valuetype kind;
  bool is_array = false;
  if (napi_typeof(env, list, &kind) != napi_ok || kind != napi_object ||
      (arrays_only && (napi_is_array(env, list, &is_array) != napi_ok || !is_array))) {
    throw_invalid_type(info.Env(), name, expected, info[index]);
    return false;
  }
  napi_value length_value;
  double claimed = -1;
  if (napi_get_named_property(env, list, "length", &length_value) != napi_ok) return false;
  napi_get_value_double(env, length_value, &claimed);  // a non-number stays -1
  if (!(claimed >= 0 && claimed <= 4294967295.0) || std::trunc(claimed) != claimed) {
    throw_invalid_type(info.Env(), name, expected, info[index]);
    return false;
  }
  // In batches, each in a handle scope of its own: ten million elements
  // must not pile up ten million handles.
  constexpr uint32_t kBatch = 1024;
  const uint32_t length = static_cast<uint32_t>(claimed);
  for (uint32_t start = 0; start < length; start += kBatch) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return false;
    bool ok = true;
    for (uint32_t i = start; ok && i < length && i - start < kBatch; i++) {
      napi_value element;
      double number;
      if (napi_get_element(env, list, i, &element) != napi_ok) {
        ok = false;  // a getter threw, or a worker is being terminated
      } else if (napi_get_value_double(env, element, &number) != napi_ok) {
        throw_invalid_type(info.Env(), (std::string(name) + "[" + std::to_string(i) + "]").c_str(), "of type number",
                           Napi::Value(env, element));
        ok = false;
      } else if (!out->push(number)) {
        ok = out_of_memory(info, name);
      }
    }
    napi_close_handle_scope(env, scope);
    if (!ok) return false;
  }
  return true;
}

}  // namespace refheap::binding
