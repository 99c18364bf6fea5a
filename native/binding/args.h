// Argument checks, the way Node.js checks its own: a value of the wrong type
// is ERR_INVALID_ARG_TYPE, a number that is not an integer or is out of
// range is ERR_OUT_OF_RANGE, and a number that names no live block is
// ERR_INVALID_REF. Each reader returns false after throwing.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "../core/heap.h"

namespace refheap::binding {

// Whether `number` is an integer in [0, max]; if so, it goes to `out`.
inline bool integer_in_range(double number, uint64_t max, uint64_t* out) {
  if (!(number >= 0 && number <= static_cast<double>(max) && std::trunc(number) == number)) return false;
  *out = static_cast<uint64_t>(number);
  return true;
}

// An integer in [0, max]. When the argument is undefined, `fallback` is used
// if given, else it is a type error.
bool read_integer(const Napi::CallbackInfo& info, size_t index, const char* name, uint64_t max, uint64_t* out,
                  const uint64_t* fallback = nullptr);

// A ref naming a live block of `heap`.
bool read_ref(const Napi::CallbackInfo& info, size_t index, const Heap& heap, Block** out);

// A ref or null (an empty slot).
bool read_optional_ref(const Napi::CallbackInfo& info, size_t index, const Heap& heap, Block** out);

// A flag: a boolean, or any value as Boolean() converts it. False (with
// nothing thrown) when the conversion is refused: a worker being terminated.
bool read_flag(const Napi::CallbackInfo& info, size_t index, bool* out);

// A number (any), for setters that convert like DataView.
bool read_number(const Napi::CallbackInfo& info, size_t index, const char* name, double* out);

// A number as DataView stores it in a T: floating point as is, integers
// through ECMAScript's ToUint32 (wrapping, NaN and infinities to 0).
template <typename T>
T convert_for_store(double number) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(number);
  } else {
    if (!std::isfinite(number)) return 0;
    double wrapped = std::fmod(std::trunc(number), 4294967296.0);
    if (wrapped < 0) wrapped += 4294967296.0;
    return static_cast<T>(static_cast<uint32_t>(wrapped));
  }
}

}  // namespace refheap::binding
