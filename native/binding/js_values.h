// Making JavaScript values with plain Node-API, for results and errors.
//
// Two rules, both learned from crashes:
// - While a worker is being terminated, every Node-API call that could run
//   JavaScript fails (creating an ArrayBuffer or a function, reading or
//   setting a property). node-addon-api answers such a failure by building
//   an Error, which aborts the process there. Here a failure returns
//   nullptr (or false) and the caller just ends the call.
// - Setting an element or property with [[Set]] runs any setter a user put
//   on Array.prototype or Object.prototype. Values here are defined as own
//   data properties instead, as an array or object literal would: no user
//   code runs while native code builds a result.
#pragma once

#include <node_api.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>

namespace refheap::binding {

// An own, enumerable, writable, configurable data property.
inline bool define_value(napi_env env, napi_value object, const char* name, napi_value value) {
  if (value == nullptr) return false;
  const napi_property_descriptor descriptor = {name, nullptr, nullptr, nullptr, nullptr, value, napi_default_jsproperty,
                                               nullptr};
  return napi_define_properties(env, object, 1, &descriptor) == napi_ok;
}

inline napi_value number_value(napi_env env, double number) {
  napi_value value;
  return napi_create_double(env, number, &value) == napi_ok ? value : nullptr;
}

inline napi_value string_value(napi_env env, const char* text, size_t length = NAPI_AUTO_LENGTH) {
  napi_value value;
  return napi_create_string_utf8(env, text, length, &value) == napi_ok ? value : nullptr;
}

inline napi_value new_object(napi_env env) {
  napi_value object;
  return napi_create_object(env, &object) == napi_ok ? object : nullptr;
}

// An Array of `count` elements, element i being make(i) (a napi_value, or
// nullptr to give up), defined as own elements in batches, each in a handle
// scope of its own so a long array does not pile up handles.
template <typename Make>
napi_value array_of(napi_env env, size_t count, Make make) {
  napi_value array;
  if (count > UINT32_MAX || napi_create_array_with_length(env, count, &array) != napi_ok) return nullptr;
  constexpr size_t kBatch = 256;
  napi_property_descriptor descriptors[kBatch];
  for (size_t start = 0; start < count; start += kBatch) {
    const size_t n = std::min(kBatch, count - start);
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return nullptr;
    bool made = true;
    for (size_t i = 0; i < n && made; i++) {
      // The index as a plain string: cheaper than an internalized one (a
      // descriptor's utf8name), and V8 reads it as an index all the same.
      char digits[10];  // an index below 2^32 has at most 10
      const size_t length = std::to_chars(digits, digits + sizeof digits, start + i).ptr - digits;
      napi_value name = nullptr, value = make(start + i);
      made = value != nullptr && napi_create_string_latin1(env, digits, length, &name) == napi_ok;
      descriptors[i] = {nullptr, name, nullptr, nullptr, nullptr, value, napi_default_jsproperty, nullptr};
    }
    made = made && napi_define_properties(env, array, n, descriptors) == napi_ok;
    napi_close_handle_scope(env, scope);
    if (!made) return nullptr;
  }
  return array;
}

inline napi_value number_array(napi_env env, const double* values, size_t count) {
  return array_of(env, count, [&](size_t i) { return number_value(env, values[i]); });
}

// A typed array of `length` zeroed elements of `element_size` bytes over a
// new ArrayBuffer; `*data` points at its first byte.
inline napi_value new_typed_array(napi_env env, napi_typedarray_type type, size_t element_size, size_t length,
                                  void** data) {
  napi_value buffer, array;
  if (napi_create_arraybuffer(env, length * element_size, data, &buffer) != napi_ok ||
      napi_create_typedarray(env, type, length, buffer, 0, &array) != napi_ok) {
    return nullptr;
  }
  return array;
}

}  // namespace refheap::binding
