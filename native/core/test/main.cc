#include <chrono>
#include <cstdio>
#include <cstring>

#include "check.h"

int main(int argc, char** argv) {
  const char* only = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  const auto run_start = std::chrono::steady_clock::now();
  for (const auto& test : refheap::testing::registry()) {
    if (only != nullptr && std::strstr(test.name, only) == nullptr) continue;
    refheap::testing::failures_in_current_test() = 0;
    const auto start = std::chrono::steady_clock::now();
    test.body();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    const bool ok = refheap::testing::failures_in_current_test() == 0;
    std::printf("%s %s (%lld ms)\n", ok ? "ok  " : "FAIL", test.name, static_cast<long long>(ms.count()));
    (ok ? passed : failed)++;
  }
  const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - run_start);
  std::printf("core: %d passed, %d failed (%lld ms)\n", passed, failed, static_cast<long long>(total.count()));
  return failed == 0 ? 0 : 1;
}
