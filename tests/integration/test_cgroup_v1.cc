// cgroup manager on the real kernel (written for the v1 hosts we develop on: memory, pids, cpu, cpuacct and
// freezer mounted separately; the same checks hold on v2). Needs root; forks children that join job cgroups.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/cgroup_detect.h"
#include "tests/support/skip.h"

namespace fs = std::filesystem;
using namespace jaild::cgroup;
using jaild::test::skip;

namespace {

std::string slurp(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The v1 base directories detect("") uses on this host (empty on v2), found the way detect() finds them.
std::map<std::string, fs::path> v1_bases() {
    const auto mounts = detail::parse_mountinfo(slurp("/proc/self/mountinfo"));
    const auto own = detail::parse_proc_cgroup(slurp("/proc/self/cgroup"));
    const auto candidate = detail::v2_root_candidate(mounts, own, "");
    const auto controllers = candidate.empty() ? "" : slurp(candidate / "cgroup.controllers");
    return detail::choose_hierarchy(mounts, own, controllers, "").v1_bases;
}

// A manager from detect(""); removes every job and the jaild/ base directories the test created.
struct RealCgroups {
    std::vector<fs::path> created;
    std::unique_ptr<Manager> manager;

    RealCgroups() {
        for (const auto& [controller, base] : v1_bases())
            if (!fs::exists(base)) created.push_back(base);
        manager = detect("");
    }
    ~RealCgroups() {
        manager->cleanup_stale();
        for (const auto& base : created) ::rmdir(base.c_str());  // cpu,cpuacct may share one: ENOENT is fine
    }
};

std::string job_name(const char* what) { return std::string(what) + "-" + std::to_string(::getpid()); }

std::unique_ptr<JobCgroup> create_job(Manager& m, const std::string& name, const JobLimits& limits) {
    std::error_code ec;
    auto job = m.create(name, limits, ec);
    INFO(ec.message());
    REQUIRE(job);
    return job;
}

// Forks a child that joins the job the way a v1 child does (one write of "0" per procs fd), tells us so
// over a pipe, then runs `body` and exits with its result. Returns the child's pid once it has joined.
pid_t spawn_in(const JobCgroup& job, const std::function<int()>& body) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(ready[0]);
        const auto& fds = job.attach();
        for (int i = 0; i < fds.procs_count; ++i)
            if (::write(fds.procs_fds[static_cast<std::size_t>(i)], "0", 1) != 1) ::_exit(120);
        if (::write(ready[1], "r", 1) != 1) ::_exit(121);
        ::close(ready[1]);
        ::_exit(body());
    }
    REQUIRE(pid > 0);
    ::close(ready[1]);
    char byte = 0;
    const auto n = ::read(ready[0], &byte, 1);
    ::close(ready[0]);
    REQUIRE(n == 1);
    return pid;
}

int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

bool wait_empty(const JobCgroup& job) {
    for (int i = 0; i < 200 && !job.empty(); ++i) ::usleep(5000);
    return job.empty();
}

int touch_200_mib() {
    constexpr std::size_t size = 200u << 20;
    void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return 3;
    auto* bytes = static_cast<volatile char*>(mem);
    for (std::size_t i = 0; i < size; i += 4096) bytes[i] = 1;
    return 0;  // survived: the limit did not hold
}

}  // namespace

namespace {

bool skip_unless_root() {
    if (::geteuid() == 0) return false;
    skip("not root: the real cgroup tests need root");
    return true;
}

}  // namespace

TEST_CASE("cgroup detect on this host builds a working manager", "[root][cgroup]") {
    if (skip_unless_root()) return;
    RealCgroups cg;
    const auto lines = cg.manager->describe();
    std::string all;
    for (const auto& line : lines) all += line + "\n";
    INFO("version " << cg.manager->version() << "\n" << all);
    REQUIRE_FALSE(lines.empty());
    CHECK_THAT(lines.front(), Catch::StartsWith("memory: ") && Catch::EndsWith(" ok"));
}

TEST_CASE("cgroup v1 job files carry the limits", "[root][cgroup]") {
    if (skip_unless_root()) return;
    RealCgroups cg;
    const auto bases = v1_bases();
    if (bases.empty()) {
        skip("not a v1 host: the v1 file checks do not apply");
        return;
    }
    const auto name = job_name("limits");
    auto job = create_job(*cg.manager, name, {64 << 20, 8, cg.manager->has_cpu_controller() ? 50u : 0u});
    const auto dir = [&](const char* c) { return bases.at(c) / ("job-" + name); };
    CHECK(slurp(dir("memory") / "memory.limit_in_bytes") == "67108864\n");
    if (fs::exists(dir("memory") / "memory.memsw.limit_in_bytes"))
        CHECK(slurp(dir("memory") / "memory.memsw.limit_in_bytes") == "67108864\n");
    CHECK(slurp(dir("pids") / "pids.max") == "8\n");
    if (cg.manager->has_cpu_controller()) CHECK(slurp(dir("cpu") / "cpu.cfs_quota_us") == "50000\n");
    CHECK(job->attach().procs_count >= 3);
    // A warm sandbox's cgroup gets its run's limits later: lower, then higher (memsw and the limit are
    // written in the order the kernel accepts), then none.
    REQUIRE_FALSE(job->set_limits({16 << 20, 4, 0}));
    CHECK(slurp(dir("memory") / "memory.limit_in_bytes") == "16777216\n");
    CHECK(slurp(dir("pids") / "pids.max") == "4\n");
    REQUIRE_FALSE(job->set_limits({128 << 20, 16, 0}));
    CHECK(slurp(dir("memory") / "memory.limit_in_bytes") == "134217728\n");
    if (fs::exists(dir("memory") / "memory.memsw.limit_in_bytes"))
        CHECK(slurp(dir("memory") / "memory.memsw.limit_in_bytes") == "134217728\n");
    CHECK(slurp(dir("pids") / "pids.max") == "16\n");
    REQUIRE_FALSE(job->set_limits({0, 0, 0}));
    CHECK(slurp(dir("pids") / "pids.max") == "max\n");
    CHECK_FALSE(job->remove());
    CHECK_FALSE(fs::exists(dir("memory")));
}

TEST_CASE("cgroup job past its memory limit is OOM-killed and says so", "[root][cgroup]") {
    if (skip_unless_root()) return;
    RealCgroups cg;
    auto job = create_job(*cg.manager, job_name("oom"), {64 << 20, 8, 0});
    const pid_t child = spawn_in(*job, touch_200_mib);
    const int status = wait_for(child);
    INFO("status " << status);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);

    const auto stats = job->stats();
    CHECK(stats.oom_killed);
    CHECK(stats.memory_peak_bytes > 0);
    CHECK(stats.memory_peak_bytes <= (64u << 20) + (1u << 20));
    CHECK(stats.cpu_usec > 0);
    REQUIRE(wait_empty(*job));
    CHECK_FALSE(job->remove());
}

TEST_CASE("cgroup pids.max stops a job's forks", "[root][cgroup]") {
    if (skip_unless_root()) return;
    RealCgroups cg;
    auto job = create_job(*cg.manager, job_name("pids"), {256 << 20, 8, 0});
    const pid_t child = spawn_in(*job, [] {
        int forked = 0;
        for (int i = 0; i < 20; ++i) {
            const pid_t p = ::fork();
            if (p == 0) {
                ::pause();  // stays in the cgroup until kill_all()
                ::_exit(0);
            }
            if (p > 0) ++forked;
        }
        return forked;
    });
    const int status = wait_for(child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 7);  // 8 pids: the child and 7 of its forks
    CHECK_FALSE(job->empty());        // the orphans are still there...
    CHECK_FALSE(job->kill_all());
    CHECK(wait_empty(*job));  // ...until kill_all()
    CHECK_FALSE(job->remove());
}

TEST_CASE("cgroup kill_all kills a sleeping job, then remove leaves nothing", "[root][cgroup]") {
    if (skip_unless_root()) return;
    RealCgroups cg;
    auto job = create_job(*cg.manager, job_name("kill"), {64 << 20, 8, 0});
    const pid_t child = spawn_in(*job, [] { return static_cast<int>(::sleep(60)); });
    CHECK_FALSE(job->empty());
    CHECK(job->remove() == std::errc::device_or_resource_busy);  // a live member keeps it

    CHECK_FALSE(job->kill_all());
    const int status = wait_for(child);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    REQUIRE(wait_empty(*job));
    CHECK_FALSE(job->remove());
    CHECK_FALSE(job->remove());  // idempotent
    CHECK(cg.manager->list_jobs().empty());
}

TEST_CASE("cgroup cleanup_stale kills and removes a job left behind", "[root][cgroup]") {
    if (skip_unless_root()) return;
    RealCgroups cg;
    const auto name = "job-" + job_name("stale");
    auto job = create_job(*cg.manager, job_name("stale"), {64 << 20, 8, 0});
    const pid_t child = spawn_in(*job, [] { return static_cast<int>(::sleep(60)); });
    job.reset();  // as if jaild had crashed: the cgroup and its process stay
    REQUIRE(cg.manager->list_jobs() == std::vector<std::string>{name});

    CHECK(cg.manager->cleanup_stale() == 1);
    CHECK(cg.manager->list_jobs().empty());
    const int status = wait_for(child);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
}
