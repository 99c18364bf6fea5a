#include "errors.h"

#include "addon_state.h"
#include "js_values.h"

// Plain Node-API throughout (js_values.h says why): while a worker is being
// terminated each of these calls may fail, and a failure just means that
// nothing is thrown; the worker is ending anyway. `code` and `index` are own
// data properties, so no setter on Error.prototype runs.
namespace refheap::binding {
namespace {

// The start of a string, "" if it cannot be read: a long one is cut anyway.
std::string string_start(napi_env env, napi_value value) {
  std::string text;
  return string_start_of(env, value, &text) ? text : "";
}

std::string describe(napi_env env, napi_value value) {
  napi_valuetype type = napi_undefined;
  if (value == nullptr || napi_typeof(env, value, &type) != napi_ok) return "a value";
  switch (type) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: {
      bool flag = false;
      napi_get_value_bool(env, value, &flag);
      return std::string("type boolean (") + (flag ? "true" : "false") + ")";
    }
    // As JavaScript prints it (NaN, Infinity, 1.9), like lib/errors.ts, not
    // as %g would. The conversion is refused while a worker is terminated.
    case napi_number: {
      napi_value text;
      if (napi_coerce_to_string(env, value, &text) != napi_ok) return "a number";
      return string_start(env, text);
    }
    case napi_string: {
      std::string text = string_start(env, value);
      if (text.size() > 28) text = text.substr(0, 25) + "...";
      return "type string ('" + text + "')";
    }
    case napi_bigint: return "type bigint";
    case napi_symbol: return "type symbol";
    case napi_function: return "function";
    default: return "an object";
  }
}

enum class Kind { kTypeError, kRangeError, kError };

// A new error of `kind` with `message` and a `code` property, or nullptr.
napi_value make_error(napi_env env, Kind kind, const char* code, const std::string& message) {
  napi_value text = string_value(env, message.data(), message.size());
  if (text == nullptr) return nullptr;
  napi_value error;
  napi_status status;
  switch (kind) {
    case Kind::kTypeError: status = napi_create_type_error(env, nullptr, text, &error); break;
    case Kind::kRangeError: status = napi_create_range_error(env, nullptr, text, &error); break;
    default: status = napi_create_error(env, nullptr, text, &error); break;
  }
  if (status != napi_ok || !define_value(env, error, "code", string_value(env, code))) return nullptr;
  return error;
}

void throw_error(napi_env env, Kind kind, const char* code, const std::string& message) {
  napi_value error = make_error(env, kind, code, message);
  if (error != nullptr) napi_throw(env, error);  // refused if one is pending already: that one goes on
}

// A RefheapError, by the class lib/errors.ts registered (its constructor
// takes the message and the code), or nullptr.
napi_value make_refheap_error(napi_env env, const char* code, const std::string& message) {
  AddonState* state = AddonState::of(Napi::Env(env));
  napi_value error_class = nullptr;
  if (state == nullptr || state->error_class.IsEmpty() ||
      napi_get_reference_value(env, state->error_class, &error_class) != napi_ok || error_class == nullptr) {
    return make_error(env, Kind::kError, code, message);
  }
  napi_value args[] = {string_value(env, message.data(), message.size()), string_value(env, code)};
  napi_value error;
  if (args[0] == nullptr || args[1] == nullptr || napi_new_instance(env, error_class, 2, args, &error) != napi_ok) {
    return nullptr;
  }
  return error;
}

}  // namespace

napi_value make_invalid_type(napi_env env, const std::string& name, const std::string& expected, napi_value received) {
  return make_error(env, Kind::kTypeError, "ERR_INVALID_ARG_TYPE",
                    "The \"" + name + "\" argument must be " + expected + ". Received " + describe(env, received));
}

napi_value make_out_of_range(napi_env env, const std::string& name, const std::string& range, napi_value received) {
  return make_error(env, Kind::kRangeError, "ERR_OUT_OF_RANGE",
                    "The value of \"" + name + "\" is out of range. It must be " + range + ". Received " +
                        describe(env, received));
}

void throw_invalid_type(Napi::Env env, const char* name, const char* expected, Napi::Value received) {
  napi_value error = make_invalid_type(env, name, expected, received);
  if (error != nullptr) napi_throw(env, error);
}

void throw_out_of_range(Napi::Env env, const char* name, const std::string& range, Napi::Value received) {
  napi_value error = make_out_of_range(env, name, range, received);
  if (error != nullptr) napi_throw(env, error);
}

void throw_range_error(Napi::Env env, const char* code, const std::string& message) {
  throw_error(env, Kind::kRangeError, code, message);
}

void throw_refheap_error(Napi::Env env, const char* code, const std::string& message, int64_t index) {
  napi_value error = make_refheap_error(env, code, message);
  if (error == nullptr) return;
  if (index >= 0 && !define_value(env, error, "index", number_value(env, static_cast<double>(index)))) return;
  napi_throw(env, error);
}

void throw_invalid_ref(Napi::Env env, Napi::Value received, int64_t index) {
  std::string message = "Received " + describe(env, received) + ", which is not a live block of this heap";
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
