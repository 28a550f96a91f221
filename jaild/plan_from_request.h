// From a protobuf request to a RunPlan (sandbox/run_plan.h): every limit, argv, env, cwd and file path of
// the request is checked against the configured defaults and maxima here, in the service layer, so that the
// sandbox library never sees the protocol.
#pragma once

#include <map>
#include <string>
#include <variant>

#include "common/config.h"
#include "jaild/sandbox/run_plan.h"

namespace jaild {

namespace v1 {
class RunRequest;
}

struct PlanError {
    std::string field;
    std::string message;
};

// Validates a request against the configured defaults and maxima.
std::variant<RunPlan, PlanError> make_run_plan(const v1::RunRequest& request, const LimitSet& defaults,
                                               const LimitSet& maxima);

// Checks a working directory inside the sandbox (absolute, no "." or ".."): an error message or "".
std::string check_cwd_path(const std::string& cwd);

// The environment every run starts with, under the language's and the request's variables.
std::map<std::string, std::string> default_run_env();

// Checks a path relative to /workspace: no empty, "." or ".." component, no NUL, not absolute, bounded.
// Returns an error message or an empty string. Exposed for tests and the sessions code.
std::string check_relative_path(const std::string& path);

}  // namespace jaild
