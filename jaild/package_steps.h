// The steps that make a request's requirements available to its run (packages.h): on first use the list
// of what the sandbox's Python has installed, then nothing (all satisfied), an existing environment, a wait
// for the same set's build by another request, or a build. Runs on jaild's loop within the request's
// connection, which runs each helper sandbox for it (and kills it when its client leaves).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

#include "jaild/error_code.h"
#include "jaild/packages.h"
#include "jaild/sandbox/run_plan.h"

namespace jaild {

class Lease;
class Supervisor;

// How a helper sandbox ended, and its stdout and stderr as they came.
struct HelperOutcome {
    bool ok = false;             // exited 0
    bool program_error = false;  // ran and exited non-zero (pip's refusal), not a limit or a set-up failure
    std::string error;           // why not ok
    std::string output;
};
using RunHelper = std::function<boost::asio::awaitable<HelperOutcome>(RunPlan, std::shared_ptr<Lease>)>;

struct PackagesReady {
    std::shared_ptr<PackageStore::Hold> env;  // null: nothing to mount (all satisfied) or a failure
    ErrorCode code = ErrorCode::none;         // of a failure; none when ready
    std::string message;
    std::string field;
};

// Loop: the environment for `list`; `like` is the run's plan (limits to start from), `gone` says whether
// the client left (the request then ends without an answer: code stays 0 and env null).
boost::asio::awaitable<PackagesReady> prepare_packages(Supervisor& supervisor, const PackageStore::Requirements& list,
                                                       const RunPlan& like, std::string python_version, RunHelper run,
                                                       std::function<bool()> gone);

// The run's plan with the environment bound read-only and its site-packages first on PYTHONPATH.
void use_packages(RunPlan& plan, const PackageStore::Hold& env, const PackageStore& store);

}  // namespace jaild
