// The sandbox filesystem recipe: which operations Rootfs::for_job lists, in which order, with which flags,
// and that the strings they point into stay valid. Nothing is mounted here; only the list is inspected.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "jaild/sandbox/rootfs.h"
#include "tests/support/skip.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using jaild::JobFilesystem;
using jaild::MountList;
using jaild::PlanFile;
using jaild::Rootfs;
using jaild::SandboxConfig;
using jaild::test::skip;
using K = jaild::mounts::Op::Kind;
using Op = jaild::mounts::Op;

namespace {

constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
constexpr std::uint32_t kUid = 61'234, kGid = 61'235;
constexpr std::uint64_t kTmpBytes = 5 * 1024 * 1024;

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "rootfs_test.XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string str() const { return path.string(); }
};

std::string str(const char* s) { return s ? s : "<null>"; }
std::string content_of(const Op& op) { return op.content ? std::string(op.content, op.content_len) : ""; }

// Index of the first op of `kind` whose target is `target`, or npos.
std::size_t find_op(const MountList& list, K kind, const std::string& target, std::size_t from = 0) {
    const auto& ops = list.ops();
    for (std::size_t i = from; i < ops.size(); ++i) {
        if (ops[i].kind == kind && ops[i].target && target == ops[i].target) return i;
    }
    return npos;
}

std::size_t count_target(const MountList& list, const std::string& target) {
    std::size_t n = 0;
    for (const Op& op : list.ops()) n += op.target && target == op.target;
    return n;
}

// Every string an op points to, flattened, so two lists can be compared after a move.
std::vector<std::string> texts(const MountList& list) {
    std::vector<std::string> out;
    for (const Op& op : list.ops()) {
        out.push_back(str(op.source) + "|" + str(op.target) + "|" + str(op.data) + "|" + content_of(op));
    }
    return out;
}

SandboxConfig config_in(const TempDir& dir) {
    SandboxConfig config;
    config.run_dir = dir.str() + "/run";
    config.hostname = "testbox";
    return config;
}

const std::vector<PlanFile> kFiles = {
    {"main.py", "print('hi')\n", false},
    {"bin/run.sh", "#!/bin/sh\necho run\n", true},
    {"d/e/f.txt", std::string("x\0y", 3), false},
};

MountList job_list(const Rootfs& rootfs, const std::vector<PlanFile>* files = &kFiles) {
    return rootfs.for_job(JobFilesystem{kUid, kGid, kTmpBytes, files});
}

}  // namespace

TEST_CASE("Rootfs puts the new root under run_dir and creates it", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    CHECK(rootfs.new_root() == dir.str() + "/run/root");
    CHECK(fs::is_directory(rootfs.new_root()));
    CHECK(rootfs.hostname() == "testbox");
}

TEST_CASE("for_job starts with the root tmpfs and only touches paths beneath it", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();
    const MountList list = job_list(rootfs);
    const auto& ops = list.ops();
    REQUIRE_FALSE(ops.empty());

    CHECK(ops[0].kind == K::tmpfs);
    CHECK(str(ops[0].target) == r);
    CHECK((ops[0].flags & MS_NOSUID) != 0);

    for (std::size_t i = 0; i < ops.size(); ++i) {
        INFO("op " << i << ": " << list.describe(i, r));
        REQUIRE(ops[i].target != nullptr);
        const std::string target = ops[i].target;
        CHECK((target == r || target.rfind(r + "/", 0) == 0));
    }
    // /dev is made read-only once it is complete: the very last step.
    CHECK(ops.back().kind == K::readonly);
    CHECK(str(ops.back().target) == r + "/dev");
    CHECK((ops.back().flags & MS_RDONLY) != 0);
}

TEST_CASE("for_job binds /usr read-only and recreates merged-/usr symlinks", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();
    const MountList list = job_list(rootfs);

    const std::size_t usr = find_op(list, K::bind, r + "/usr");
    REQUIRE(usr != npos);
    const Op& bind = list.ops()[usr];
    CHECK(str(bind.source) == "/usr");
    CHECK((bind.flags & MS_RDONLY) != 0);
    CHECK((bind.flags & MS_NOSUID) != 0);
    CHECK((bind.flags & MS_NODEV) != 0);
    const std::size_t mkdir_usr = find_op(list, K::mkdir, r + "/usr");
    CHECK(mkdir_usr != npos);
    CHECK(mkdir_usr < usr);

    for (const char* path : {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"}) {
        INFO(path);
        struct stat st {};
        const std::string target = r + path;
        if (::lstat(path, &st) != 0) {
            CHECK(count_target(list, target) == 0);  // absent on this host: nothing shown
        } else if (S_ISLNK(st.st_mode)) {
            const std::size_t link = find_op(list, K::symlink, target);
            REQUIRE(link != npos);
            CHECK(str(list.ops()[link].source) == fs::read_symlink(path).string());
            CHECK(find_op(list, K::bind, target) == npos);
        } else {
            const std::size_t b = find_op(list, K::bind, target);
            REQUIRE(b != npos);
            CHECK((list.ops()[b].flags & MS_RDONLY) != 0);
        }
    }
}

TEST_CASE("on a merged-/usr host /bin is a symlink to usr/bin inside too", "[unit][rootfs]") {
    struct stat st {};
    if (::lstat("/bin", &st) != 0 || !S_ISLNK(st.st_mode)) {
        skip("/bin is not a symlink on this host");
        return;
    }
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const MountList list = job_list(rootfs);
    const std::size_t link = find_op(list, K::symlink, rootfs.new_root() + "/bin");
    REQUIRE(link != npos);
    CHECK(str(list.ops()[link].source) == fs::read_symlink("/bin").string());
}

TEST_CASE("for_job mounts a fresh /proc before masking its entries", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();
    const MountList list = job_list(rootfs);

    const std::size_t proc = find_op(list, K::proc, r + "/proc");
    REQUIRE(proc != npos);
    CHECK((list.ops()[proc].flags & MS_NOSUID) != 0);
    CHECK((list.ops()[proc].flags & MS_NOEXEC) != 0);
    const std::size_t mkdir_proc = find_op(list, K::mkdir, r + "/proc");
    REQUIRE(mkdir_proc != npos);
    CHECK(mkdir_proc < proc);

    const std::size_t kcore = find_op(list, K::bind, r + "/proc/kcore");
    REQUIRE(kcore != npos);
    CHECK(kcore > proc);
    CHECK(str(list.ops()[kcore].source) == "/dev/null");
    CHECK((list.ops()[kcore].flags & MS_RDONLY) != 0);
    CHECK(list.ops()[kcore].optional);
    const std::size_t sys = find_op(list, K::readonly, r + "/proc/sys");
    REQUIRE(sys != npos);
    CHECK(sys > proc);
    CHECK((list.ops()[sys].flags & MS_RDONLY) != 0);
}

TEST_CASE("for_job sizes /tmp and /workspace from the job and gives /workspace to its uid", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();
    const MountList list = job_list(rootfs);
    const std::string size = "size=" + std::to_string(kTmpBytes) + ",";

    const std::size_t tmp = find_op(list, K::tmpfs, r + "/tmp");
    REQUIRE(tmp != npos);
    CHECK_THAT(str(list.ops()[tmp].data), StartsWith(size));
    CHECK_THAT(str(list.ops()[tmp].data), Contains("mode=1777"));
    CHECK((list.ops()[tmp].flags & MS_NOSUID) != 0);
    CHECK(find_op(list, K::mkdir, r + "/tmp") < tmp);

    const std::size_t workspace = find_op(list, K::tmpfs, r + "/workspace");
    REQUIRE(workspace != npos);
    CHECK_THAT(str(list.ops()[workspace].data), StartsWith(size));
    CHECK((list.ops()[workspace].flags & MS_NODEV) != 0);
    CHECK(find_op(list, K::mkdir, r + "/workspace") < workspace);

    const std::size_t chown = find_op(list, K::chown, r + "/workspace");
    REQUIRE(chown != npos);
    CHECK(chown > workspace);  // the tmpfs's root is chowned, not the directory below it
    CHECK(list.ops()[chown].uid == kUid);
    CHECK(list.ops()[chown].gid == kGid);

    // A different job gets its own size.
    const MountList small = rootfs.for_job({kUid, kGid, 4096 * 1024, nullptr});
    const std::size_t small_tmp = find_op(small, K::tmpfs, r + "/tmp");
    REQUIRE(small_tmp != npos);
    CHECK_THAT(str(small.ops()[small_tmp].data), StartsWith("size=4194304,"));
}

TEST_CASE("for_job writes /etc/passwd, /etc/group and /etc/hosts for the job", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();
    const MountList list = job_list(rootfs);

    const std::size_t passwd = find_op(list, K::write_file, r + "/etc/passwd");
    REQUIRE(passwd != npos);
    const std::string text = content_of(list.ops()[passwd]);
    CHECK_THAT(text, Contains("sandbox:x:" + std::to_string(kUid) + ":" + std::to_string(kGid) + ":"));
    CHECK_THAT(text, Contains(":/workspace:"));
    CHECK_THAT(text, StartsWith("root:x:0:0:"));
    CHECK(list.ops()[passwd].mode == 0644);
    CHECK(find_op(list, K::mkdir, r + "/etc") < passwd);
    // The host's own /etc/passwd is never shown, even if listed in etc_files.
    CHECK(find_op(list, K::bind, r + "/etc/passwd") == npos);

    const std::size_t group = find_op(list, K::write_file, r + "/etc/group");
    REQUIRE(group != npos);
    CHECK_THAT(content_of(list.ops()[group]), Contains("sandbox:x:" + std::to_string(kGid) + ":"));
    const std::size_t hosts = find_op(list, K::write_file, r + "/etc/hosts");
    REQUIRE(hosts != npos);
    CHECK_THAT(content_of(list.ops()[hosts]), Contains("localhost testbox"));
    const std::size_t hostname = find_op(list, K::write_file, r + "/etc/hostname");
    REQUIRE(hostname != npos);
    CHECK(content_of(list.ops()[hostname]) == "testbox\n");
}

TEST_CASE("for_job writes each request file into /workspace owned by the job", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();
    const MountList list = job_list(rootfs);
    const std::size_t workspace = find_op(list, K::tmpfs, r + "/workspace");
    REQUIRE(workspace != npos);

    for (const PlanFile& file : kFiles) {
        INFO(file.path);
        const std::size_t i = find_op(list, K::write_file, r + "/workspace/" + file.path);
        REQUIRE(i != npos);
        const Op& op = list.ops()[i];
        CHECK(i > workspace);  // written into the tmpfs, not under it
        CHECK(content_of(op) == file.content);
        CHECK(op.mode == (file.executable ? 0755 : 0644));
        CHECK(op.uid == kUid);
        CHECK(op.gid == kGid);
    }
    // Parent directories come first, each owned by the job.
    const std::size_t file = find_op(list, K::write_file, r + "/workspace/d/e/f.txt");
    for (const char* sub : {"/workspace/d", "/workspace/d/e", "/workspace/bin"}) {
        INFO(sub);
        const std::size_t mkdir = find_op(list, K::mkdir, r + sub);
        REQUIRE(mkdir != npos);
        CHECK(mkdir > workspace);
        const std::size_t chown = find_op(list, K::chown, r + sub, mkdir);
        REQUIRE(chown != npos);
        CHECK(list.ops()[chown].uid == kUid);
        CHECK(list.ops()[chown].gid == kGid);
    }
    CHECK(find_op(list, K::mkdir, r + "/workspace/d/e") < file);

    // Without files nothing is written into /workspace.
    const MountList bare = rootfs.for_job({kUid, kGid, kTmpBytes, nullptr});
    for (const Op& op : bare.ops())
        if (op.kind == K::write_file) CHECK(std::string(op.target).rfind(r + "/workspace/", 0) != 0);
}

TEST_CASE("MountList::describe names the operation and the path inside the sandbox", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();
    const MountList list = job_list(rootfs);

    CHECK(list.describe(0, r) == "tmpfs /");
    const std::size_t usr = find_op(list, K::bind, r + "/usr");
    REQUIRE(usr != npos);
    CHECK(list.describe(usr, r) == "bind /usr (from /usr)");
    const std::size_t proc = find_op(list, K::proc, r + "/proc");
    REQUIRE(proc != npos);
    CHECK(list.describe(proc, r) == "proc /proc");
    const std::size_t passwd = find_op(list, K::write_file, r + "/etc/passwd");
    REQUIRE(passwd != npos);
    CHECK_THAT(list.describe(passwd, r), Contains("/etc/passwd"));
    CHECK_THAT(list.describe(passwd, r), !Contains(r));
    CHECK(list.describe(list.ops().size() + 3, r) == "mount #" + std::to_string(list.ops().size() + 3));
    for (std::size_t i = 0; i < list.ops().size(); ++i) {
        const std::string text = list.describe(i, r);
        INFO(text);
        CHECK_FALSE(text.empty());
        CHECK(text.find(r) == std::string::npos);
    }
}

TEST_CASE("a moved MountList keeps every string its ops point to", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();

    std::vector<std::string> before;
    MountList assigned;
    {
        MountList original = job_list(rootfs);
        before = texts(original);
        MountList constructed(std::move(original));
        CHECK(texts(constructed) == before);
        assigned = std::move(constructed);
    }  // both sources are gone now
    // Churn the heap so freed strings would be overwritten.
    std::vector<std::string> churn;
    for (int i = 0; i < 2000; ++i) churn.emplace_back(64 + i % 64, static_cast<char>('A' + i % 26));
    CHECK(texts(assigned) == before);
    CHECK(assigned.describe(0, r) == "tmpfs /");
}

TEST_CASE("MountList::keep gives pointers that survive many more keeps", "[unit][rootfs]") {
    MountList list;
    const char* first = list.keep("first string, longer than any small-string buffer");
    const char* small = list.keep("s");
    for (int i = 0; i < 10'000; ++i) list.keep(std::string(40, 'k') + std::to_string(i));
    CHECK(std::string(first) == "first string, longer than any small-string buffer");
    CHECK(std::string(small) == "s");
}

TEST_CASE("Rootfs reads runtime directories and /etc entries from a configured rootfs", "[unit][rootfs]") {
    TempDir dir;
    const fs::path image = dir.path / "image";
    fs::create_directories(image / "usr/bin");
    fs::create_directories(image / "etc/ssl/certs");
    fs::create_symlink("usr/bin", image / "bin");
    std::ofstream(image / "etc/os-release") << "ID=test\n";
    std::ofstream(image / "etc/passwd") << "host:x:0:0::/:/bin/sh\n";

    SandboxConfig config = config_in(dir);
    config.rootfs = image.string();
    config.ro_binds = {"/usr", "/bin", "/lib"};  // /lib is absent from the image
    config.etc_files = {"/etc/os-release", "/etc/ssl/certs", "/etc/passwd", "/etc/missing"};
    const Rootfs rootfs(config);
    const std::string r = rootfs.new_root();
    const MountList list = job_list(rootfs);

    const std::size_t usr = find_op(list, K::bind, r + "/usr");
    REQUIRE(usr != npos);
    CHECK(str(list.ops()[usr].source) == (image / "usr").string());
    const std::size_t bin = find_op(list, K::symlink, r + "/bin");
    REQUIRE(bin != npos);
    CHECK(str(list.ops()[bin].source) == "usr/bin");
    CHECK(count_target(list, r + "/lib") == 0);

    // A file is bound onto an empty file, a directory onto a directory (with its parents made first).
    const std::size_t os_release = find_op(list, K::bind, r + "/etc/os-release");
    REQUIRE(os_release != npos);
    CHECK(str(list.ops()[os_release].source) == (image / "etc/os-release").string());
    CHECK((list.ops()[os_release].flags & MS_RDONLY) != 0);
    CHECK(find_op(list, K::touch, r + "/etc/os-release") < os_release);
    const std::size_t certs = find_op(list, K::bind, r + "/etc/ssl/certs");
    REQUIRE(certs != npos);
    CHECK(find_op(list, K::mkdir, r + "/etc/ssl") < certs);
    CHECK(find_op(list, K::mkdir, r + "/etc/ssl/certs") < certs);

    CHECK(find_op(list, K::bind, r + "/etc/passwd") == npos);  // synthesized instead
    CHECK(count_target(list, r + "/etc/missing") == 0);
}

TEST_CASE("Rootfs refuses a relative run_dir, rootfs or ro_bind", "[unit][rootfs]") {
    TempDir dir;
    SandboxConfig config = config_in(dir);
    config.run_dir = "relative/run";
    CHECK_THROWS_AS(Rootfs(config), std::runtime_error);
    CHECK_FALSE(fs::exists("relative/run"));

    config = config_in(dir);
    config.run_dir = "";
    CHECK_THROWS_AS(Rootfs(config), std::runtime_error);

    config = config_in(dir);
    config.rootfs = "image";
    CHECK_THROWS_AS(Rootfs(config), std::runtime_error);

    config = config_in(dir);
    config.ro_binds = {"/usr", "lib"};
    CHECK_THROWS_AS(Rootfs(config), std::runtime_error);
}

TEST_CASE("Rootfs refuses an etc_files entry outside /etc", "[unit][rootfs]") {
    TempDir dir;
    for (const char* entry : {"/var/lib/secret", "/etc/../root/.ssh", "/etcetera", "/etc", "/", "etc/hosts"}) {
        INFO(entry);
        SandboxConfig config = config_in(dir);
        config.etc_files = {"/etc/os-release", entry};
        CHECK_THROWS_AS(Rootfs(config), std::runtime_error);
    }
}

TEST_CASE("Rootfs refuses /etc itself as an etc_files entry however it is spelled", "[unit][rootfs]") {
    // "/etc" is refused, but "/etc/" and "/etc/." normalize to "/etc/", pass the "/etc/" prefix test and bind
    // the host's whole /etc read-only over the sandbox's /etc, after which writing /etc/passwd fails (EROFS).
    TempDir dir;
    for (const char* entry : {"/etc/", "/etc/.", "/etc//", "/etc/ssl/.."}) {
        INFO(entry);
        SandboxConfig config = config_in(dir);
        config.etc_files = {entry};
        CHECK_THROWS_AS(Rootfs(config), std::runtime_error);
    }
}

TEST_CASE("for_job binds a package environment read-only, writable only for its install step", "[unit][rootfs]") {
    TempDir dir;
    const Rootfs rootfs(config_in(dir));
    const std::string r = rootfs.new_root();
    const std::string env = r + jaild::packages_mount, wheels = r + jaild::wheelhouse_mount;
    // The mount points are part of every root; nothing is bound on them without packages.
    const MountList bare = job_list(rootfs);
    CHECK(find_op(bare, K::mkdir, env) != npos);
    CHECK(find_op(bare, K::mkdir, wheels) != npos);
    CHECK(find_op(bare, K::bind, env) == npos);
    CHECK(find_op(bare, K::bind, wheels) == npos);

    jaild::RunPlan::Packages run{"/var/cache/jaild/packages/abc", false, ""};
    const MountList used = rootfs.for_job({kUid, kGid, kTmpBytes, nullptr, nullptr, nullptr, &run});
    const std::size_t bound = find_op(used, K::bind, env);
    REQUIRE(bound != npos);
    CHECK(str(used.ops()[bound].source) == "/var/cache/jaild/packages/abc");
    CHECK((used.ops()[bound].flags & (MS_RDONLY | MS_NOSUID | MS_NODEV)) == (MS_RDONLY | MS_NOSUID | MS_NODEV));
    CHECK(find_op(used, K::bind, wheels) == npos);

    jaild::RunPlan::Packages install{"/var/cache/jaild/packages/.build-abc-1", true, "/var/lib/jaild/wheelhouse"};
    const MountList building = rootfs.for_job({kUid, kGid, kTmpBytes, nullptr, nullptr, nullptr, &install});
    const std::size_t target = find_op(building, K::bind, env);
    const std::size_t source = find_op(building, K::bind, wheels);
    REQUIRE(target != npos);
    REQUIRE(source != npos);
    CHECK((building.ops()[target].flags & MS_RDONLY) == 0);
    CHECK((building.ops()[target].flags & MS_NOSUID) != 0);
    CHECK((building.ops()[source].flags & (MS_RDONLY | MS_NOEXEC)) == (MS_RDONLY | MS_NOEXEC));
}
