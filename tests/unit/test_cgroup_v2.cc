// cgroup v2 manager over a fake directory tree, and the pure parsers behind cgroup::detect().
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "jaild/sandbox/cgroup.h"
#include "jaild/sandbox/cgroup_detect.h"

namespace fs = std::filesystem;
using namespace jaild::cgroup;

namespace {

// A temporary directory standing in for jaild's delegated cgroup.
struct FakeRoot {
    fs::path path;
    explicit FakeRoot(const std::string& controllers) {
        std::string tmpl = (fs::temp_directory_path() / "cgroup_v2_test.XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
        write("cgroup.controllers", controllers);
        write("cgroup.subtree_control", "");
        write("cgroup.procs", "");
    }
    ~FakeRoot() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    void write(const fs::path& rel, const std::string& text) const { std::ofstream(path / rel) << text; }
    std::string read(const fs::path& rel) const {
        std::ifstream in(path / rel);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }
    // What the kernel would remove with the directory: a fake one has to be emptied by hand.
    void clear_files(const fs::path& rel) const {
        for (const auto& e : fs::directory_iterator(path / rel))
            if (e.is_regular_file()) fs::remove(e.path());
    }
};

std::unique_ptr<JobCgroup> create_job(Manager& m, std::string_view name, const JobLimits& limits) {
    std::error_code ec;
    auto job = m.create(name, limits, ec);
    INFO(ec.message());
    REQUIRE(job);
    REQUIRE_FALSE(ec);
    return job;
}

}  // namespace

TEST_CASE("make_v2 enables memory, pids and cpu in subtree_control", "[unit][cgroup]") {
    FakeRoot root("cpuset cpu io memory pids\n");
    auto m = make_v2(root.path, false);
    CHECK(m->version() == "v2");
    CHECK(root.read("cgroup.subtree_control") == "+memory +pids +cpu");
    CHECK(m->has_cpu_controller());
    const auto lines = m->describe();
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "memory: " + root.path.string() + " ok");
}

TEST_CASE("make_v2 without cpu leaves it out and reports it", "[unit][cgroup]") {
    FakeRoot root("memory pids\n");
    auto m = make_v2(root.path, false);
    CHECK(root.read("cgroup.subtree_control") == "+memory +pids");
    CHECK_FALSE(m->has_cpu_controller());
    CHECK_THAT(m->describe().at(2), Catch::Contains("cpu quotas are ignored"));
}

TEST_CASE("make_v2 refuses a root without the memory controller", "[unit][cgroup]") {
    FakeRoot root("cpu pids\n");
    CHECK_THROWS_WITH(make_v2(root.path, false), Catch::Contains("memory") && Catch::Contains("Delegate=yes"));
    CHECK_THROWS_WITH(make_v2(root.path / "missing", false), Catch::Contains("missing"));
}

TEST_CASE("v2 create writes the job's limits", "[unit][cgroup]") {
    FakeRoot root("cpu memory pids\n");
    auto m = make_v2(root.path, false);

    SECTION("with a cpu quota") {
        auto job = create_job(*m, "x", {64 << 20, 8, 50});
        CHECK(root.read("job-x/memory.max") == "67108864");
        CHECK(root.read("job-x/memory.swap.max") == "0");
        CHECK(root.read("job-x/memory.oom.group") == "1");
        CHECK(root.read("job-x/pids.max") == "8");
        CHECK(root.read("job-x/cpu.max") == "50000 100000");
    }
    SECTION("a live session's sandbox: an OOM kills one process, not the whole job") {
        auto job = create_job(*m, "x", {64 << 20, 8, 0, false});
        CHECK(root.read("job-x/memory.oom.group") == "0");
    }
    SECTION("without a cpu quota, cpu.max is left alone") {
        auto job = create_job(*m, "x", {1 << 30, 64, 0});
        CHECK(root.read("job-x/memory.max") == "1073741824");
        CHECK_FALSE(fs::exists(root.path / "job-x/cpu.max"));
    }
    SECTION("set_limits writes them again (a warm sandbox's cgroup, given its run's limits)") {
        auto job = create_job(*m, "x", {1 << 30, 64, 50});
        REQUIRE_FALSE(job->set_limits({32 << 20, 4, 50}));
        CHECK(root.read("job-x/memory.max") == "33554432");
        CHECK(root.read("job-x/pids.max") == "4");
        CHECK(root.read("job-x/memory.swap.max") == "0");
        CHECK(root.read("job-x/cpu.max") == "50000 100000");
        REQUIRE_FALSE(job->set_limits({0, 0, 50}));
        CHECK(root.read("job-x/memory.max") == "max");
        CHECK(root.read("job-x/pids.max") == "max");
    }
    SECTION("a name that is not a plain path component is refused") {
        std::error_code ec;
        for (const char* bad : {"", "..", "a/b", "x y"}) {
            CHECK_FALSE(m->create(bad, {1 << 20, 1, 0}, ec));
            CHECK(ec == std::errc::invalid_argument);
        }
    }
    SECTION("an existing job cgroup is not reused") {
        auto job = create_job(*m, "x", {1 << 20, 1, 0});
        std::error_code ec;
        CHECK_FALSE(m->create("x", {1 << 20, 1, 0}, ec));
        CHECK(ec == std::errc::file_exists);
        CHECK(root.read("job-x/pids.max") == "1");  // the first job's cgroup is untouched
    }
}

TEST_CASE("v2 attach fds name the job's directory and cgroup.procs", "[unit][cgroup]") {
    FakeRoot root("cpu memory pids\n");
    auto m = make_v2(root.path, false);
    auto job = create_job(*m, "x", {64 << 20, 8, 0});
    const auto& fds = job->attach();

    struct stat dir_st {
    }, want_st{};
    REQUIRE(::fstat(fds.clone_into_fd, &dir_st) == 0);
    REQUIRE(::stat((root.path / "job-x").c_str(), &want_st) == 0);
    CHECK(S_ISDIR(dir_st.st_mode));
    CHECK(dir_st.st_ino == want_st.st_ino);
    CHECK((::fcntl(fds.clone_into_fd, F_GETFD) & FD_CLOEXEC) != 0);

    REQUIRE(fds.procs_count == 1);
    const int flags = ::fcntl(fds.procs_fds[0], F_GETFL);
    REQUIRE(flags >= 0);
    CHECK((flags & O_ACCMODE) == O_WRONLY);
    CHECK(::write(fds.procs_fds[0], "0", 1) == 1);  // what the child does without clone3
    CHECK(root.read("job-x/cgroup.procs") == "0");
}

TEST_CASE("v2 stats parse cpu.stat, memory.peak and memory.events", "[unit][cgroup]") {
    FakeRoot root("cpu memory pids\n");
    auto m = make_v2(root.path, false);
    auto job = create_job(*m, "x", {64 << 20, 8, 0});

    CHECK(job->stats().cpu_usec == 0);  // nothing there yet: zeros, not an error
    root.write("job-x/cpu.stat", "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n");
    root.write("job-x/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n");
    auto s = job->stats();
    CHECK(s.cpu_usec == 123456);
    CHECK(s.memory_peak_bytes == 0);  // memory.peak only exists since 5.19
    CHECK_FALSE(s.oom_killed);

    root.write("job-x/memory.peak", "67108864\n");
    root.write("job-x/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
    s = job->stats();
    CHECK(s.memory_peak_bytes == 67108864);
    CHECK(s.oom_killed);

    root.write("job-x/memory.events", "oom 1\noom_kill 0\noom_group_kill 1\n");
    CHECK(job->stats().oom_killed);
}

TEST_CASE("v2 kill_all writes cgroup.kill, empty() reads the job's members", "[unit][cgroup]") {
    FakeRoot root("cpu memory pids\n");
    auto m = make_v2(root.path, false);
    auto job = create_job(*m, "x", {64 << 20, 8, 0});

    CHECK(job->empty());
    root.write("job-x/cgroup.events", "populated 1\nfrozen 0\n");
    CHECK_FALSE(job->empty());
    CHECK_FALSE(job->kill_all());
    CHECK(root.read("job-x/cgroup.kill") == "1");
    root.write("job-x/cgroup.events", "populated 0\nfrozen 0\n");
    CHECK(job->empty());
}

TEST_CASE("v2 remove is rmdir: it fails while the directory is not empty", "[unit][cgroup]") {
    FakeRoot root("cpu memory pids\n");
    auto m = make_v2(root.path, false);
    auto job = create_job(*m, "x", {64 << 20, 8, 0});
    CHECK(m->list_jobs() == std::vector<std::string>{"job-x"});

    const auto busy = job->remove();
    CHECK((busy == std::errc::directory_not_empty || busy == std::errc::device_or_resource_busy));
    CHECK(fs::exists(root.path / "job-x"));

    root.clear_files("job-x");
    CHECK_FALSE(job->remove());
    CHECK_FALSE(fs::exists(root.path / "job-x"));
    CHECK_FALSE(job->remove());  // idempotent
    CHECK(m->list_jobs().empty());
}

TEST_CASE("v2 list_jobs and cleanup_stale find only job-* directories", "[unit][cgroup]") {
    FakeRoot root("cpu memory pids\n");
    auto m = make_v2(root.path, false);
    fs::create_directory(root.path / "supervisor");
    fs::create_directory(root.path / "job-a");
    fs::create_directory(root.path / "job-b");
    fs::create_directory(root.path / "elsewhere");
    fs::create_directory_symlink(root.path / "elsewhere", root.path / "job-link");  // not ours: not followed
    root.write("job-file", "");

    CHECK(m->list_jobs() == std::vector<std::string>{"job-a", "job-b"});
    CHECK(m->cleanup_stale() == 2);
    CHECK(m->list_jobs().empty());
    CHECK(fs::exists(root.path / "supervisor"));
    CHECK(fs::exists(root.path / "elsewhere"));
    CHECK(fs::is_symlink(root.path / "job-link"));
}

TEST_CASE("v2 cleanup_stale kills a populated job and gives up on it after a bounded wait", "[unit][cgroup]") {
    FakeRoot root("cpu memory pids\n");
    auto m = make_v2(root.path, false);
    fs::create_directory(root.path / "job-stuck");
    root.write("job-stuck/cgroup.events", "populated 1\n");  // never empties: a fake has no kernel

    const auto start = std::chrono::steady_clock::now();
    CHECK(m->cleanup_stale() == 0);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
    CHECK(root.read("job-stuck/cgroup.kill") == "1");
    CHECK(m->list_jobs() == std::vector<std::string>{"job-stuck"});
}

// ---- detect()'s parsers ----

namespace {

// This development machine: v1 controllers mounted one per directory, and a cgroup2 at
// /sys/fs/cgroup/unified with no controllers (systemd's "hybrid" layout).
constexpr const char* kHybridMountinfo =
    "22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr const char* kHybridCgroup =
    "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
    "4:memory:/process_api/f4708c658315579ee9092b099e3ab069\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n";

// A systemd host with only the unified hierarchy, jaild running as a service.
constexpr const char* kV2Mountinfo =
    "24 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";
constexpr const char* kV2Cgroup = "0::/system.slice/jaild.service\n";

}  // namespace

TEST_CASE("parse_mountinfo keeps cgroup mounts with their super options", "[unit][cgroup]") {
    const auto mounts = detail::parse_mountinfo(kHybridMountinfo);
    REQUIRE(mounts.size() == 10);
    CHECK(mounts[0].fstype == "cgroup");
    CHECK(mounts[0].mount_point == "/sys/fs/cgroup/cpu");
    CHECK(mounts[0].root == "/");
    CHECK(mounts[0].super_options == std::vector<std::string>{"rw", "cpu"});
    CHECK(mounts[8].super_options == std::vector<std::string>{"rw", "name=systemd"});
    CHECK(mounts[9].fstype == "cgroup2");
    CHECK(mounts[9].mount_point == "/sys/fs/cgroup/unified");

    const auto escaped = detail::parse_mountinfo(
        "50 30 0:40 /lxc/c1 /mnt/my\\040cgroups rw shared:3 master:1 - cgroup cgroup rw,cpu,cpuacct\n");
    REQUIRE(escaped.size() == 1);
    CHECK(escaped[0].mount_point == "/mnt/my cgroups");  // optional fields before "-" are skipped
    CHECK(escaped[0].root == "/lxc/c1");
    CHECK(escaped[0].super_options == std::vector<std::string>{"rw", "cpu", "cpuacct"});
}

TEST_CASE("parse_proc_cgroup maps each controller to jaild's path", "[unit][cgroup]") {
    const auto own = detail::parse_proc_cgroup(kHybridCgroup);
    CHECK(own.at("memory") == "/process_api/f4708c658315579ee9092b099e3ab069");
    CHECK(own.at("pids") == "/");
    CHECK(own.at("name=systemd") == "/");
    CHECK(own.at("") == "/");

    const auto combined = detail::parse_proc_cgroup("4:cpu,cpuacct:/a:b\n0::/x\n");
    CHECK(combined.at("cpu") == "/a:b");
    CHECK(combined.at("cpuacct") == "/a:b");
    CHECK(combined.at("") == "/x");
}

TEST_CASE("choose_hierarchy on the hybrid layout picks v1 beneath jaild's own cgroups", "[unit][cgroup]") {
    const auto mounts = detail::parse_mountinfo(kHybridMountinfo);
    const auto own = detail::parse_proc_cgroup(kHybridCgroup);
    CHECK(detail::v2_root_candidate(mounts, own, "") == "/sys/fs/cgroup/unified");

    const auto h = detail::choose_hierarchy(mounts, own, "", "");  // the unified mount has no controllers
    CHECK_FALSE(h.v2);
    const std::map<std::string, fs::path> want{
        {"memory", "/sys/fs/cgroup/memory/process_api/f4708c658315579ee9092b099e3ab069/jaild"},
        {"pids", "/sys/fs/cgroup/pids/jaild"},
        {"cpuacct", "/sys/fs/cgroup/cpuacct/jaild"},
        {"cpu", "/sys/fs/cgroup/cpu/jaild"},
        {"freezer", "/sys/fs/cgroup/freezer/jaild"},
    };
    CHECK(h.v1_bases == want);

    const auto configured = detail::choose_hierarchy(mounts, own, "", "jaild-test");
    CHECK(configured.v1_bases.at("memory") == "/sys/fs/cgroup/memory/jaild-test");
}

TEST_CASE("choose_hierarchy matches combined v1 mounts by super option", "[unit][cgroup]") {
    const auto mounts = detail::parse_mountinfo(
        "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "34 30 0:31 /lxc/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "38 30 0:35 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n");
    const auto own = detail::parse_proc_cgroup(
        "6:pids:/jaild.service\n4:memory:/lxc/c1/jaild.service\n2:cpu,cpuacct:/jaild.service\n");
    const auto h = detail::choose_hierarchy(mounts, own, "", "");
    CHECK_FALSE(h.v2);
    CHECK(h.v1_bases.at("cpu") == "/sys/fs/cgroup/cpu,cpuacct/jaild.service/jaild");
    CHECK(h.v1_bases.at("cpuacct") == "/sys/fs/cgroup/cpu,cpuacct/jaild.service/jaild");
    CHECK(h.v1_bases.at("memory") == "/sys/fs/cgroup/memory/jaild.service/jaild");  // mount root stripped
    CHECK(h.v1_bases.count("freezer") == 0);
}

TEST_CASE("choose_hierarchy on a pure v2 host roots jaild in its service cgroup", "[unit][cgroup]") {
    const auto mounts = detail::parse_mountinfo(kV2Mountinfo);
    const auto own = detail::parse_proc_cgroup(kV2Cgroup);
    REQUIRE(mounts.size() == 1);

    const auto h = detail::choose_hierarchy(mounts, own, "cpuset cpu io memory hugetlb pids rdma misc\n", "");
    CHECK(h.v2);
    CHECK(h.v2_root == "/sys/fs/cgroup/system.slice/jaild.service");

    // sandbox.cgroup_root is a cgroup path, as /proc/self/cgroup shows it, inside the hierarchy.
    CHECK(detail::choose_hierarchy(mounts, own, "memory pids\n", "/jaild.slice/jobs").v2_root ==
          "/sys/fs/cgroup/jaild.slice/jobs");
    CHECK(detail::choose_hierarchy(mounts, own, "memory pids\n", "jaild").v2_root == "/sys/fs/cgroup/jaild");
}

TEST_CASE("choose_hierarchy says what is missing and how to fix it", "[unit][cgroup]") {
    const auto v2_mounts = detail::parse_mountinfo(kV2Mountinfo);
    const auto v2_own = detail::parse_proc_cgroup(kV2Cgroup);
    CHECK_THROWS_WITH(detail::choose_hierarchy(v2_mounts, v2_own, "cpu io pids\n", ""),
                      Catch::Contains("cgroup v2 memory controller not delegated") &&
                          Catch::Contains("Delegate=yes in jaild.service"));

    const auto no_pids = detail::parse_mountinfo(
        "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "32 30 0:29 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n");
    CHECK_THROWS_WITH(detail::choose_hierarchy(no_pids, {}, "", ""),
                      Catch::Contains("cgroup v1 controller(s) pids not mounted"));

    CHECK_THROWS_WITH(detail::choose_hierarchy({}, {}, "", ""), Catch::Contains("no cgroup filesystem"));

    // Outside the mount's cgroup namespace /proc/self/cgroup shows "/..": no base can be derived.
    const auto hybrid = detail::parse_mountinfo(kHybridMountinfo);
    CHECK_THROWS_WITH(detail::choose_hierarchy(hybrid, detail::parse_proc_cgroup("8:pids:/../x\n"), "", ""),
                      Catch::Contains("pids"));
}

TEST_CASE("keyed_value and has_word read cgroup's key/value and list files", "[unit][cgroup]") {
    CHECK(detail::keyed_value("oom 1\noom_kill 3\n", "oom_kill") == std::optional<std::uint64_t>(3));
    CHECK(detail::keyed_value("oom 1\noom_kill 3\n", "oom") == std::optional<std::uint64_t>(1));
    CHECK_FALSE(detail::keyed_value("oom_kill_disable 0\n", "oom_kill"));
    CHECK(detail::has_word("cpuset cpu io memory\n", "cpu"));
    CHECK_FALSE(detail::has_word("cpuset io memory\n", "cpu"));
}
