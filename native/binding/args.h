// Argument checks, the way Node.js checks its own: a value of the wrong type
// is ERR_INVALID_ARG_TYPE, a number that is not an integer or is out of
// range is ERR_OUT_OF_RANGE, and a number that names no live block is
// ERR_INVALID_REF. Each reader returns false after throwing.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "../core/heap.h"

namespace refheap::binding {

// The arguments of a call from `first` on, read like a CallbackInfo's: the
// heap functions' argument 0 is their heap (heap_handle.h), so what they
// read as argument 0 is the caller's first.
class Arguments {
 public:
  Arguments(const Napi::CallbackInfo& info, size_t first) : info_(info), first_(first) {}
  Napi::Value operator[](size_t index) const { return info_[first_ + index]; }
  size_t Length() const { return info_.Length() > first_ ? info_.Length() - first_ : 0; }
  Napi::Env Env() const { return info_.Env(); }

 private:
  const Napi::CallbackInfo& info_;
  size_t first_;
};

// Whether `number` is an integer in [0, max]; if so, it goes to `out`.
inline bool integer_in_range(double number, uint64_t max, uint64_t* out) {
  if (!(number >= 0 && number <= static_cast<double>(max) && std::trunc(number) == number)) return false;
  *out = static_cast<uint64_t>(number);
  return true;
}

// An integer in [0, max]. When the argument is undefined, `fallback` is used
// if given, else it is a type error.
bool read_integer(const Arguments& info, size_t index, const char* name, uint64_t max, uint64_t* out,
                  const uint64_t* fallback = nullptr);

// A ref naming a live block of `heap`.
bool read_ref(const Arguments& info, size_t index, const Heap& heap, Block** out);

// A ref or null (an empty slot).
bool read_optional_ref(const Arguments& info, size_t index, const Heap& heap, Block** out);

// A flag: a boolean, or any value as Boolean() converts it. False (with
// nothing thrown) when the conversion is refused: a worker being terminated.
bool read_flag(const Arguments& info, size_t index, bool* out);

// Numbers read from JavaScript, in memory whose refusal is an error
// (ERR_OS_MEMORY) rather than an abort: a list's `length` is the caller's
// claim ({ length: 2 ** 32 - 1 } would be 32 GiB), not memory that exists.
class NumberList {
 public:
  NumberList() = default;
  ~NumberList() { std::free(data_); }
  NumberList(const NumberList&) = delete;
  NumberList& operator=(const NumberList&) = delete;

  const double* data() const { return data_; }
  size_t size() const { return size_; }
  double operator[](size_t i) const { return data_[i]; }
  // False when no memory could be had for it.
  bool push(double number) {
    if (size_ == capacity_ && !grow(capacity_ == 0 ? 64 : capacity_ * 2)) return false;
    data_[size_++] = number;
    return true;
  }
  bool assign(const double* numbers, size_t count) {
    if (count > capacity_ && !grow(count)) return false;
    if (count != 0) std::memcpy(data_, numbers, count * sizeof(double));
    size_ = count;
    return true;
  }

 private:
  bool grow(size_t capacity) {
    if (capacity > SIZE_MAX / sizeof(double)) return false;
    void* grown = std::realloc(data_, capacity * sizeof(double));
    if (grown == nullptr) return false;
    data_ = static_cast<double*>(grown);
    capacity_ = capacity;
    return true;
  }

  double* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Every element of the array-like argument `index` (a Float64Array is
// copied at once; anything else is read element by element, each read in
// a handle scope of its own, and each may run a getter), as numbers. A
// non-number anywhere is ERR_INVALID_ARG_TYPE, named `name[i]`; `arrays_only`
// refuses array-likes that are not arrays. False after throwing, or when
// Node-API refused a read (a throwing getter, a worker being terminated).
bool read_number_list(const Arguments& info, size_t index, const char* name, bool arrays_only,
                      NumberList* out);

// A number (any), for setters that convert like DataView.
bool read_number(const Arguments& info, size_t index, const char* name, double* out);

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
