{
  "targets": [
    {
      "target_name": "refheap",
      "sources": [
        "native/core/collector.cc",
        "native/core/heap.cc",
        "native/core/large_allocator.cc",
        "native/core/malloc_report.cc",
        "native/core/os.cc",
        "native/core/page_source.cc",
        "native/core/registry.cc",
        "native/core/small_allocator.cc",
        "native/core/stats_fields.cc",
        "native/core/stats_page.cc",
        "native/core/verify.cc",
        "native/binding/addon.cc",
        "native/binding/args.cc",
        "native/binding/errors.cc",
        "native/binding/gc_functions.cc",
        "native/binding/heap_functions.cc",
        "native/binding/heap_views.cc",
        "native/binding/fresh_turn.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-fvisibility=hidden", "-O2"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fno-exceptions", "-O2", "-Wall", "-Wextra"],
      "xcode_settings": {
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    }
  ]
}
