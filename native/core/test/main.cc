#include <cstdio>
#include <cstring>

#include "check.h"

int main(int argc, char** argv) {
  const char* only = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (const auto& test : refheap::testing::registry()) {
    if (only != nullptr && std::strstr(test.name, only) == nullptr) continue;
    refheap::testing::failures_in_current_test() = 0;
    test.body();
    const bool ok = refheap::testing::failures_in_current_test() == 0;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", test.name);
    (ok ? passed : failed)++;
  }
  std::printf("core: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
