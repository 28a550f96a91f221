// jaild's side of a warm-Python zygote (docs/security.md, "Warm Python"; the zygote itself is
// jaild/zygote/main.cc). A language file with `zygote = true` gets one: a jaild-zygote process, started and
// kept by a thread of this class, that has the language's `preload` modules imported and forks a child
// for each run it fits. jaild builds the run's sandbox as for any run (Spawner, in warm mode: its reaper
// waits for a start), then hands the zygote the sandbox and the program's descriptors; the zygote's child
// enters the sandbox (enter_sandbox, child.h) and runs the program in the warm interpreter. A run the
// zygote cannot take starts cold in the same sandbox, so nothing is lost but time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/run_plan.h"
#include "jaild/sandbox/spawn.h"

namespace jaild {

class Zygote {
public:
    struct Setup {
        std::string program;  // jaild-zygote
        std::string language;
        std::string support_dir;  // where jaild_warm.py is (LanguagesConfig::support_dir)
        std::vector<std::string> preload;
        // Its environment, "KEY=value": the runs' defaults with the language's [env] over them. The variables
        // an interpreter reads at its start (PYTHON*, LANG, LC_*) must be the run's for the run to fit.
        std::vector<std::string> env;
        std::string expected_version;  // the language's version line ("Python 3.11.2"); another interpreter's
                                       // zygote is stopped and never used
        std::uint32_t max_forks = 0;   // forks before it is replaced; 0: no bound
        std::chrono::seconds max_age{0};
        cgroup::Manager* cgroups = nullptr;
        std::string name_prefix;  // of its cgroup: "<jaild's pid>-zygote-<language>"
    };

    // Starts the keeper thread, which starts the zygote (its preload takes a while: runs start cold until
    // it is ready), restarts it with a growing pause when it dies, and replaces it when it is past its
    // fork budget or age.
    explicit Zygote(Setup setup);
    // Stops the zygote and the thread. Runs it started keep running: jaild, a child subreaper, inherits them
    // and their jobs reap them (job.h).
    ~Zygote();
    Zygote(const Zygote&) = delete;

    const std::string& language() const { return setup_.language; }
    // Whether a run can start warm at all: its command line is one the launcher takes (python3, -u/-B,
    // then -c CODE, -m MODULE or a script), its start-time variables are the zygote's, and it uses no
    // package environment of its own.
    bool fits(const RunPlan& plan) const;
    bool ready();

    // Starts plan's program in `sandbox`, which Spawner::spawn made in warm mode with the program's
    // descriptors kept: on success tells the sandbox's reaper to adopt the zygote's child. False (why says
    // why) when the zygote is not ready or certainly did not fork: the caller then starts the sandbox cold.
    // Either way the program's descriptors are closed on return.
    bool start(const RunPlan& plan, const cgroup::JobCgroup& group, std::uint32_t uid, Spawned& sandbox,
               std::string& why);

    struct Counters {
        std::uint64_t forks = 0;     // runs started warm
        std::uint64_t starts = 0;    // zygotes started (first, restarts and replacements)
        std::uint64_t failures = 0;  // zygotes that died or failed to start
    };
    Counters counters();

private:
    struct Process;  // one running jaild-zygote
    void keep();     // the keeper thread
    std::unique_ptr<Process> launch(std::string& why);
    void retire(std::unique_ptr<Process> process, const char* why);
    // forked: the child is in the sandbox. refused: it certainly is not (the run may start cold there).
    // unknown: the request went out but no answer came back.
    enum class Outcome { forked, refused, unknown };
    Outcome request(Process& process, const RunPlan& plan, const cgroup::JobCgroup& group, std::uint32_t uid,
                    Spawned& sandbox, Spawned::ProgramEnds& ends, pid_t& program, std::string& why);
    void wake();  // the keeper thread, out of its wait

    const Setup setup_;
    const unique_fd wakeup_;            // an eventfd the keeper thread waits on
    std::mutex mutex_;                  // guards everything below
    std::unique_ptr<Process> current_;  // null while none is ready
    bool stopping_ = false;
    bool replace_ = false;  // current_ should go (fork budget, age, a failed request)
    Counters counters_;
    std::uint64_t launched_ = 0;
    std::thread thread_;
};

// The warm-start grammar of fits(), for the tests: python3 [-u|-B]... (-c CODE | -m MODULE | SCRIPT) ARG...
bool zygote_command_fits(const std::vector<std::string>& argv);

}  // namespace jaild
