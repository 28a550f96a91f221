// What a language runner's answer (the JSON it writes on its result channel; languages/support/runner.py
// documents it) means for a run's Exit. Pure, so every case is unit-tested.
#pragma once

#include <string_view>

#include "jaild.pb.h"

namespace jaild {

enum class RunnerVerdict {
    none,     // no answer (killed, timed out, exited on its own): the Exit stands as classified
    ok,       // result_json set (or left empty: no `result` variable)
    failed,   // the script raised or returned something not JSON: runtime_error with error (and trace)
    no_main,  // main() mode and the script defines none: the request is refused, not run
};

RunnerVerdict apply_runner_answer(std::string_view answer, v1::Exit& exit);

// seed 004's words, which clients match on.
inline constexpr std::string_view missing_main_message = "Script must contain a 'main()' function";

}  // namespace jaild
