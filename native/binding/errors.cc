#include "errors.h"

#include <cmath>

#include "addon_state.h"

namespace refheap::binding {
namespace {

std::string describe(Napi::Value value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return std::string("type boolean (") + (value.As<Napi::Boolean>().Value() ? "true" : "false") + ")";
    // As JavaScript prints it (NaN, Infinity, 1.9), like lib/errors.ts, not as %g would.
    // In a worker being terminated no JavaScript runs: ToString() then gives an
    // empty String, whose Utf8Value() would abort the process.
    case napi_number: {
      Napi::String text = value.ToString();
      return text.IsEmpty() ? "a number" : text.Utf8Value();
    }
    case napi_string: {
      std::string text = value.As<Napi::String>().Utf8Value();
      if (text.size() > 28) text = text.substr(0, 25) + "...";
      return "type string ('" + text + "')";
    }
    case napi_bigint: return "type bigint";
    case napi_symbol: return "type symbol";
    case napi_function: return "function";
    default: return "an object";
  }
}

void set_code(Napi::Error& error, const char* code) {
  error.Value().Set("code", Napi::String::New(error.Env(), code));
}

}  // namespace

void throw_invalid_type(Napi::Env env, const char* name, const char* expected, Napi::Value received) {
  Napi::Error error = Napi::TypeError::New(env, std::string("The \"") + name + "\" argument must be " + expected +
                                                    ". Received " + describe(received));
  set_code(error, "ERR_INVALID_ARG_TYPE");
  error.ThrowAsJavaScriptException();
}

void throw_out_of_range(Napi::Env env, const char* name, const std::string& range, Napi::Value received) {
  throw_range_error(env, "ERR_OUT_OF_RANGE",
                    std::string("The value of \"") + name + "\" is out of range. It must be " + range +
                        ". Received " + describe(received));
}

void throw_range_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::RangeError::New(env, message);
  set_code(error, code);
  error.ThrowAsJavaScriptException();
}

void throw_refheap_error(Napi::Env env, const char* code, const std::string& message, int64_t index) {
  AddonState* state = AddonState::of(env);
  Napi::Object error;
  if (state != nullptr && !state->error_class.IsEmpty()) {
    error = state->error_class.New({Napi::String::New(env, message), Napi::String::New(env, code)});
    // Empty without a pending exception when a worker is being terminated:
    // setting `index` on it would abort the process.
    if (error.IsEmpty() || env.IsExceptionPending()) return;
  } else {
    error = Napi::Error::New(env, message).Value();
    error.Set("code", Napi::String::New(env, code));
  }
  if (index >= 0) error.Set("index", Napi::Number::New(env, static_cast<double>(index)));
  Napi::Error(env, error).ThrowAsJavaScriptException();
}

void throw_invalid_ref(Napi::Env env, Napi::Value received, int64_t index) {
  std::string message = "Received " + describe(received) + ", which is not a live block of this heap";
  if (index >= 0) message = "Element " + std::to_string(index) + ": " + message;
  throw_refheap_error(env, "ERR_INVALID_REF", message, index);
}

void throw_status(Napi::Env env, Status status, const std::string& what) {
  switch (status) {
    case Status::kOk: return;
    case Status::kInvalidRef:
      throw_refheap_error(env, "ERR_INVALID_REF", what + ": not a live block of this heap");
      return;
    case Status::kOutOfRange:
      throw_range_error(env, "ERR_OUT_OF_RANGE", what);
      return;
    case Status::kHeapLimit:
      throw_range_error(env, "ERR_HEAP_LIMIT",
                        what + ": the heap's maxBytes would be exceeded even after a full collection; "
                               "release blocks or raise maxBytes");
      return;
    case Status::kOsMemory:
      throw_refheap_error(env, "ERR_OS_MEMORY", what + ": the operating system refused to map more memory");
      return;
    case Status::kHeapClosed:
      throw_refheap_error(env, "ERR_HEAP_CLOSED", what + ": the heap was closed while the call ran");
      return;
    case Status::kRefcountOverflow:
      throw_range_error(env, "ERR_OUT_OF_RANGE", what + ": the reference count would exceed 4294967295");
      return;
  }
}

void throw_alloc_error(Napi::Env env, Status status, uint64_t size, uint64_t slots, uint64_t type) {
  throw_status(env, status, "alloc(" + std::to_string(size) + ", " + std::to_string(slots) + ", " + std::to_string(type) + ")");
}

}  // namespace refheap::binding
