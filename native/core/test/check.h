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

inline void fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "  %s:%d: %s\n", file, line, what);
  failures_in_current_test()++;
}

inline void fail(const char* file, int line, const std::string& what) { fail(file, line, what.c_str()); }

// Out of line, so that each CHECK_EQ costs a call rather than its own copy
// of the message-building code (the suite compiles much faster).
template <typename A, typename B>
void check_equal(const A& a, const B& b, const char* expression, const char* file, int line) {
  if (a == b) return;
  fail(file, line, std::string(expression) + ": " + std::to_string(a) + " != " + std::to_string(b));
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

#define CHECK_EQ(a, b) refheap::testing::check_equal((a), (b), "CHECK_EQ(" #a ", " #b ")", __FILE__, __LINE__)

// The heap must pass its full consistency check.
#define CHECK_CONSISTENT(heap)                                                        \
  do {                                                                                \
    std::string check_problem = (heap).verify();                                      \
    if (!check_problem.empty()) refheap::testing::fail(__FILE__, __LINE__, check_problem); \
  } while (0)
