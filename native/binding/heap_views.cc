// Zero-copy views of a block's data. A view is an external ArrayBuffer over
// the data area that holds one count on the block until V8 collects it.
// close() detaches every live view, so no view can reach unmapped memory.
#include <new>

#include "errors.h"
#include "heap_handle.h"

namespace refheap::binding {

struct ViewRecord {
  HeapHandle* handle;  // nullptr once the heap has closed
  Block* block;
  napi_ref buffer;     // weak: lets close() find the ArrayBuffer to detach it
  ViewRecord* next;
  ViewRecord* prev;
  // Non-null while on this state's orphan_views: the buffer could not be
  // made, and Node may or may not call finalize_view for it.
  AddonState* orphan_of;
};

namespace {

void unlink(HeapHandle& handle, ViewRecord* record) {
  if (record->prev != nullptr) record->prev->next = record->next;
  else handle.views = record->next;
  if (record->next != nullptr) record->next->prev = record->prev;
}

void unlink_orphan(ViewRecord* record) {
  AddonState* state = record->orphan_of;
  if (record->prev != nullptr) record->prev->next = record->next;
  else state->orphan_views = record->next;
  if (record->next != nullptr) record->next->prev = record->prev;
  record->orphan_of = nullptr;
}

void finalize_view(napi_env env, void* /*data*/, void* hint) {
  auto* record = static_cast<ViewRecord*>(hint);
  if (record->orphan_of != nullptr) {
    unlink_orphan(record);
    delete record;
    return;
  }
  if (record->buffer != nullptr) napi_delete_reference(env, record->buffer);
  if (HeapHandle* handle = record->handle) {
    unlink(*handle, record);
    // No JavaScript may run here (a finalizer could): the next call does it.
    // The pointer is still good: add_view pinned the block.
    handle->heap.drop_view_later(record->block);
    handle->unpin();
  }
  delete record;
}

}  // namespace

Napi::Value make_view(Napi::Env env, HeapHandle& handle, Block* block) {
  const Status status = handle.heap.add_view(block);
  if (status != Status::kOk) {
    throw_status(env, status, "view");
    return {};
  }
  auto* record = new (std::nothrow) ViewRecord{&handle, block, nullptr, handle.views, nullptr, nullptr};
  if (record == nullptr) {
    handle.heap.drop_view_later(block);
    throw_refheap_error(env, "ERR_OS_MEMORY", "Cannot create a view: out of memory");
    return {};
  }
  const size_t length = data_size(block);
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, data_of(block), length, finalize_view, record, &buffer) != napi_ok) {
    // Node may have made the buffer before it failed, and would then still
    // call finalize_view: the record waits for it on the state's orphan
    // list. If it never comes (the call was refused before any buffer was
    // made: a worker being terminated), the state frees it: Node keeps the
    // environment, and so the state, until every buffer's finalizer has run.
    record->handle = nullptr;
    record->prev = nullptr;
    record->next = nullptr;
    if (AddonState* state = handle.state) {
      record->orphan_of = state;
      record->next = state->orphan_views;
      if (record->next != nullptr) record->next->prev = record;
      state->orphan_views = record;
    }
    handle.heap.drop_view_later(block);  // undone at the next call, like a collected view
    if (!env.IsExceptionPending()) Napi::Error::New(env, "view: could not create an ArrayBuffer").ThrowAsJavaScriptException();
    return {};
  }
  if (handle.views != nullptr) handle.views->prev = record;
  handle.views = record;
  handle.pins++;
  napi_create_reference(env, buffer, 0, &record->buffer);
  // Refused while a worker is being terminated: the buffer is then dropped
  // like a collected view (finalize_view).
  napi_value view;
  if (napi_create_typedarray(env, napi_uint8_array, length, buffer, 0, &view) != napi_ok) return {};
  return Napi::Value(env, view);
}

void detach_views(Napi::Env env, HeapHandle& handle) {
  while (ViewRecord* record = handle.views) {
    unlink(handle, record);
    if (record->buffer != nullptr) {
      napi_value buffer;
      if (napi_get_reference_value(env, record->buffer, &buffer) == napi_ok && buffer != nullptr) {
        napi_detach_arraybuffer(env, buffer);
      }
    }
    record->handle = nullptr;
    handle.pins--;  // the caller holds the heap's External, whose pin keeps this above zero
  }
}

void free_orphan_views(AddonState* state) {
  while (ViewRecord* record = state->orphan_views) {
    unlink_orphan(record);
    delete record;
  }
}

}  // namespace refheap::binding
