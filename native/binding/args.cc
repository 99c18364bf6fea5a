#include "args.h"

#include <cmath>
#include <string>

#include "errors.h"

namespace refheap::binding {

bool read_integer(const Napi::CallbackInfo& info, size_t index, const char* name, uint64_t max, uint64_t* out,
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
bool read_live_block(const Napi::CallbackInfo& info, size_t index, const Heap& heap, const char* name,
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

bool read_ref(const Napi::CallbackInfo& info, size_t index, const Heap& heap, Block** out) {
  return read_live_block(info, index, heap, "ref", "of type number", out);
}

bool read_optional_ref(const Napi::CallbackInfo& info, size_t index, const Heap& heap, Block** out) {
  if (info[index].IsNull()) {
    *out = nullptr;
    return true;
  }
  return read_live_block(info, index, heap, "target", "of type number or null", out);
}

bool read_flag(const Napi::CallbackInfo& info, size_t index, bool* out) {
  napi_env env = info.Env();
  napi_value value = info[index];
  if (napi_get_value_bool(env, value, out) == napi_ok) return true;
  // Plain Node-API: node-addon-api's ToBoolean() aborts the process when
  // the conversion is refused.
  napi_value converted;
  return napi_coerce_to_bool(env, value, &converted) == napi_ok && napi_get_value_bool(env, converted, out) == napi_ok;
}

bool read_number(const Napi::CallbackInfo& info, size_t index, const char* name, double* out) {
  if (index < info.Length() && napi_get_value_double(info.Env(), info[index], out) == napi_ok) return true;
  Napi::Value value = info[index];
  if (value.Type() != napi_number) {
    throw_invalid_type(info.Env(), name, "of type number", value);
    return false;
  }
  *out = value.As<Napi::Number>().DoubleValue();
  return true;
}

}  // namespace refheap::binding
