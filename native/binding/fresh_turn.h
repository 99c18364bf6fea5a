// A later turn of the event loop, on a fresh stack, for a heap that has
// something JavaScript could not be given: near the stack limit a call into
// JavaScript fails before it starts, and what it carried (a finalizer, a
// collection's 'start' or 'stop', a debug line, a report the dispatcher
// kept) would otherwise wait for the heap's next call, which may never come.
//
// One thread-safe function per environment, called from its own thread:
// Node-API's way to be called back from the loop, torn down by Node with
// the environment. It is unref'd: it never keeps a process alive.
#pragma once

#include <node_api.h>

namespace refheap::binding {

struct AddonState;
struct HeapHandle;

// Made once per environment (addon.cc). False if Node-API refused; the
// heaps then wait for their next call, as before.
bool start_fresh_turns(napi_env env, AddonState* state);
// The environment's state is going: the turns still queued find nothing.
void stop_fresh_turns(AddonState* state);
// Asks for one turn for this heap (once until it has run); it calls
// HeapHandle::catch_up.
void ask_fresh_turn(HeapHandle& handle);

}  // namespace refheap::binding
