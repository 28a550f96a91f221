// Each sandbox setup stage, failing: the stage and the errno the child reports must reach the run's outcome
// (OneShot's reports and its failure text), whatever stage fails. Through the sandbox library directly: a
// Spawner of the test's own, with a failure injected through the test-only Spawner::inject_failure_for_tests
// for every stage the sandbox's first process runs, and a real failure for the two the reaper runs (fork,
// exec). Needs root (it clones sandboxes).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "common/config.h"
#include "jaild/sandbox/child.h"
#include "jaild/sandbox/one_shot.h"
#include "jaild/sandbox/spawn.h"
#include "jaild/sandbox/uid_pool.h"
#include "tests/support/harness.h"
#include "tests/support/skip.h"

namespace {

using jaild::ChildReport;
using jaild::Stage;

struct Case {
    Stage stage;
    int err;
    // How the stage fails: injected, or (fork, exec) for real by the plan below.
    bool injected = true;
};

// One row per stage, in the child's order, each with its own errno so that a report of the wrong row's
// errno cannot pass.
const std::vector<Case> kCases = {
    {Stage::cgroup_attach, EPERM},
    {Stage::cgroup_namespace, ENOENT},
    {Stage::network_namespace, ESRCH},
    {Stage::parent_death, EINTR},
    {Stage::file_descriptors, EIO},
    {Stage::mount_private, ENXIO},
    {Stage::mounts, E2BIG},
    {Stage::pivot_root, ENOEXEC},
    {Stage::root_readonly, EBADF},
    {Stage::hostname, ECHILD},
    {Stage::loopback, ENOMEM},
    {Stage::rlimits, EACCES},
    {Stage::securebits, EFAULT},
    {Stage::bounding_set, ENOTBLK},
    {Stage::credentials, EBUSY},
    {Stage::capabilities, EEXIST},
    {Stage::no_new_privs, EXDEV},
    {Stage::cwd, ENODEV},
    {Stage::seccomp, ENOTDIR},
    {Stage::reaper, EISDIR},
    {Stage::fork, EAGAIN, false},  // RLIMIT_NPROC 1: the reaper itself is the uid's one process
    {Stage::exec, ENOENT, false},  // a program that does not exist
};

jaild::RunPlan plan_for(const Case& c) {
    jaild::RunPlan plan;
    plan.argv = {c.stage == Stage::exec ? "/nonexistent/program" : "/bin/true"};
    plan.env = {std::string("PATH=") + jaild::sandbox_path_env};
    plan.cwd = jaild::workspace_dir;
    plan.limits = {2000, 5000, 64ull << 20, 1 << 20, 64, 16, 4096, 1 << 20, 8 << 20};
    if (c.stage == Stage::fork) plan.limits.nproc = 1;
    return plan;
}

// A configuration whose run directory is the test's, with no support files; and the last uid of the test range.
jaild::Config sandbox_config(const jaild::test::TempDir& dir) {
    jaild::Config config;
    config.sandbox.run_dir = dir.path();
    config.languages.support_dir = dir.path() + "/no-support";
    return config;
}
const std::uint32_t kUid = jaild::probe_uid(jaild::test::kUidBase, jaild::test::kUidCount);  // and the next

bool skip_unless_root() {
    if (::geteuid() == 0) return false;
    jaild::test::skip("not root: building a sandbox needs root");
    return true;
}

}  // namespace

TEST_CASE("every setup stage's failure reaches the outcome with its stage and errno", "[root][sandbox][setup]") {
    if (skip_unless_root()) return;
    const jaild::test::TempDir dir;
    const jaild::Config config = sandbox_config(dir);
    CHECK(static_cast<int>(kCases.front().stage) == static_cast<int>(Stage::cgroup_attach));
    CHECK(kCases.size() == static_cast<std::size_t>(Stage::exec) - static_cast<std::size_t>(Stage::cgroup_attach) + 1);

    for (const Case& c : kCases) {
        DYNAMIC_SECTION(jaild::stage_name(c.stage)) {
            jaild::Spawner spawner(config);
            REQUIRE_FALSE(spawner.reaper_path().empty());  // fork and exec are the reaper's stages
            if (c.injected) spawner.inject_failure_for_tests({c.stage, c.err});
            const jaild::OneShot shot = jaild::run_one_shot(spawner, nullptr, plan_for(c), kUid, "inject", 5000);
            INFO("error: " << shot.error << "; failure: " << shot.failure);
            CHECK(shot.error.empty());
            const ChildReport* failed = nullptr;
            for (const ChildReport& r : shot.reports) {
                if (r.kind == ChildReport::failed && !failed) failed = &r;
            }
            REQUIRE(failed != nullptr);
            CHECK(failed->stage == c.stage);
            CHECK(failed->err == c.err);
            CHECK_FALSE(shot.exited_zero());
            const std::string name(jaild::stage_name(c.stage));
            CHECK(shot.failure.rfind(name, 0) == 0);
            CHECK(shot.failure.find(std::strerror(c.err)) != std::string::npos);
        }
    }
}

TEST_CASE("without an injected failure the same sandbox runs to the end", "[root][sandbox][setup]") {
    if (skip_unless_root()) return;
    const jaild::test::TempDir dir;
    const jaild::Config config = sandbox_config(dir);  // the spawner keeps a reference
    jaild::Spawner spawner(config);
    const jaild::OneShot shot = jaild::run_one_shot(spawner, nullptr, plan_for({Stage::none, 0}), kUid, "inject", 5000);
    INFO("error: " << shot.error << "; failure: " << shot.failure);
    CHECK(shot.failure.empty());
    CHECK(shot.exited_zero());
}
