// Making JavaScript values with plain Node-API (results, errors), and reading
// the bytes of a buffer argument.
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
#include <cstdlib>
#include <string>

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

// The first 255 bytes of a string, or false: for names and messages, which
// are short, and a huge string must not make a huge copy.
inline bool string_start_of(napi_env env, napi_value value, std::string* out) {
  char text[256];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, text, sizeof text, &length) != napi_ok) return false;
  out->assign(text, length);
  return true;
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

// Results of at least this many bytes get memory from calloc: V8 ends the
// process when it cannot give an ArrayBuffer its memory ("ArrayBuffer::New
// Allocation failed"), where a refused calloc is an error the caller throws.
constexpr size_t kCallocResultBytes = size_t{64} << 10;

inline void free_result_memory(napi_env /*env*/, void* data, void* /*hint*/) { std::free(data); }

// A typed array of `length` zeroed elements of `element_size` bytes over a
// new ArrayBuffer; `*data` points at its first byte. nullptr when Node-API
// refused (a worker being terminated), or with `*out_of_memory` set when the
// memory itself was refused.
inline napi_value new_typed_array(napi_env env, napi_typedarray_type type, size_t element_size, size_t length,
                                  void** data, bool* out_of_memory) {
  *out_of_memory = false;
  napi_value buffer = nullptr, array;
  const size_t bytes = length * element_size;
  if (bytes >= kCallocResultBytes) {
    void* memory = std::calloc(length, element_size);
    if (memory == nullptr) {
      *out_of_memory = true;
      return nullptr;
    }
    const napi_status status = napi_create_external_arraybuffer(env, memory, bytes, free_result_memory, nullptr, &buffer);
    if (status != napi_ok) {
      std::free(memory);
      // Where external memory is not allowed (a V8 sandbox): V8's own.
      if (status != napi_no_external_buffers_allowed) return nullptr;
      buffer = nullptr;
    } else {
      *data = memory;
    }
  }
  if (buffer == nullptr && napi_create_arraybuffer(env, bytes, data, &buffer) != napi_ok) return nullptr;
  if (napi_create_typedarray(env, type, length, buffer, 0, &array) != napi_ok) return nullptr;
  return array;
}

constexpr int kFloat16Array = 11;  // napi_float16_array, in headers newer than these

// The bytes an ArrayBufferView (a typed array or a DataView) covers. The
// pointer comes from napi_get_typedarray_info / napi_get_dataview_info,
// valid for every backing store: a SharedArrayBuffer is no ArrayBuffer, and
// asking for its data as one gives null. A view of a detached (or, for a
// resizable buffer, out-of-bounds) buffer covers no bytes. False when
// `value` is not a view.
inline bool view_bytes(napi_env env, napi_value value, const uint8_t** bytes, size_t* length) {
  bool is_typed_array = false, is_data_view = false;
  void* data = nullptr;
  if (napi_is_typedarray(env, value, &is_typed_array) == napi_ok && is_typed_array) {
    // Left as is for a kind this Node-API version does not name.
    napi_typedarray_type type = static_cast<napi_typedarray_type>(-1);
    size_t elements;
    if (napi_get_typedarray_info(env, value, &type, &elements, &data, nullptr, nullptr) != napi_ok) return false;
    size_t element_size;
    switch (static_cast<int>(type)) {
      case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: element_size = 1; break;
      case napi_int16_array: case napi_uint16_array: case kFloat16Array: element_size = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: element_size = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: element_size = 8; break;
      default: return false;  // a kind unknown here: refused, since its width is unknown
    }
    *length = elements * element_size;
  } else if (napi_is_dataview(env, value, &is_data_view) == napi_ok && is_data_view) {
    if (napi_get_dataview_info(env, value, length, &data, nullptr, nullptr) != napi_ok) return false;
  } else {
    return false;
  }
  if (*length == 0 || data == nullptr) {
    *length = 0;
    data = nullptr;
  }
  *bytes = static_cast<const uint8_t*>(data);
  return true;
}

}  // namespace refheap::binding
