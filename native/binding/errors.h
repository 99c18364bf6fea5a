// Throwing errors the way Node.js does: a TypeError or RangeError with a
// `code`, or a RefheapError (the class lib/ registers at load time) for the
// codes that are refheap's own.
#pragma once

#include <napi.h>

#include <string>

#include "../core/types.h"

namespace refheap::binding {

struct AddonState;

// The argument errors, made (nullptr if that failed) or thrown; lib/ makes
// its own through the addon's argumentError, so each message has one form.
// "must be of type number": a value of the wrong JavaScript type.
napi_value make_invalid_type(napi_env env, const std::string& name, const std::string& expected, napi_value received);
// A number that is not an integer or lies outside [min, max].
napi_value make_out_of_range(napi_env env, const std::string& name, const std::string& range, napi_value received);
void throw_invalid_type(Napi::Env env, const char* name, const char* expected, Napi::Value received);
void throw_out_of_range(Napi::Env env, const char* name, const std::string& range, Napi::Value received);
void throw_range_error(Napi::Env env, const char* code, const std::string& message);
// A RefheapError with `code` (and `index` when index >= 0).
void throw_refheap_error(Napi::Env env, const char* code, const std::string& message, int64_t index = -1);
void throw_invalid_ref(Napi::Env env, Napi::Value received, int64_t index = -1);
// The error for a core Status other than kOk; `what` names the operation.
void throw_status(Napi::Env env, Status status, const std::string& what);
// The error for a failed alloc(size, slots, type).
void throw_alloc_error(Napi::Env env, Status status, uint64_t size, uint64_t slots, uint64_t type);

}  // namespace refheap::binding
