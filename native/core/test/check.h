// A minimal test harness for the core: TEST(name) registers a function,
// CHECK(cond) records a failure with its line and goes on, the runner prints
// one line per test and a closing "N passed, M failed".
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace refheap::testing {

struct TestCase {
  const char* name;
  std::function<void()> body;
};

inline std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

inline int& failures_in_current_test() {
  static int failures = 0;
  return failures;
}

struct Register {
  Register(const char* name, std::function<void()> body) { registry().push_back({name, std::move(body)}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "  %s:%d: %s\n", file, line, what.c_str());
  failures_in_current_test()++;
}

}  // namespace refheap::testing

#define REFHEAP_CONCAT2(a, b) a##b
#define REFHEAP_CONCAT(a, b) REFHEAP_CONCAT2(a, b)
#define TEST(name)                                                                  \
  static void name();                                                               \
  static refheap::testing::Register REFHEAP_CONCAT(register_, name)(#name, name);   \
  static void name()

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) refheap::testing::fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_EQ(a, b)                                                                       \
  do {                                                                                       \
    auto check_a = (a);                                                                      \
    auto check_b = (b);                                                                      \
    if (!(check_a == check_b)) {                                                             \
      refheap::testing::fail(__FILE__, __LINE__,                                             \
                             "CHECK_EQ(" #a ", " #b "): " + std::to_string(check_a) + " != " + \
                                 std::to_string(check_b));                                   \
    }                                                                                        \
  } while (0)

// The heap must pass its full consistency check.
#define CHECK_CONSISTENT(heap)                                                        \
  do {                                                                                \
    std::string check_problem = (heap).verify();                                      \
    if (!check_problem.empty()) refheap::testing::fail(__FILE__, __LINE__, check_problem); \
  } while (0)
