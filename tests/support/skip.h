// A test that cannot run here, in whole or in part, says SKIPPED and is counted as skipped, never as passed.
// Catch2 v2 has no SKIP: skip(why) prints "SKIPPED: why" and marks the running test case; the caller then
// returns, or leaves out the part that cannot run. tests/main.cc exits with kSkipReturnCode when every test
// case it ran was marked and none failed: CTest runs one case per process and lists such a case as
// "Skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt). A failed check still fails the case.
#pragma once

#include <string>

namespace jaild::test {

inline constexpr int kSkipReturnCode = 77;

void skip(const std::string& why);

// For tests/main.cc: whether skip() was called since the last call, which clears the mark.
bool take_skip_mark();

}  // namespace jaild::test
