#include "jaild/sandbox/rootfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

namespace jaild {

namespace {

using K = mounts::Op::Kind;
namespace fs = std::filesystem;

constexpr unsigned long kReadOnly = MS_RDONLY | MS_NOSUID | MS_NODEV;
constexpr unsigned long kScratch = MS_NOSUID | MS_NODEV;

// Device nodes every program expects. Bound from the host (mknod would need CAP_MKNOD and a devices
// cgroup); the mount stays rw so /dev/null can be written, nosuid and noexec.
constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom"};
constexpr std::pair<const char*, const char*> kDevLinks[] = {{"/proc/self/fd", "fd"},
                                                             {"/proc/self/fd/0", "stdin"},
                                                             {"/proc/self/fd/1", "stdout"},
                                                             {"/proc/self/fd/2", "stderr"}};

// /proc entries that expose the host kernel (as runc and Docker mask them). Missing ones are skipped.
constexpr const char* kProcMaskedFiles[] = {
    "kcore", "keys",       "key-users",  "timer_list",  "sched_debug",   "latency_stats", "kallsyms",
    "kmsg",  "kpagecount", "kpageflags", "kpagecgroup", "sysrq-trigger", "vmallocinfo",   "config.gz"};
constexpr const char* kProcMaskedDirs[] = {"acpi", "scsi", "asound", "driver", "tty"};
constexpr const char* kProcReadOnly[] = {"sys", "bus", "fs", "irq"};

// Files jaild writes itself; an etc_files entry of the same name is ignored.
const std::set<std::string> kSynthesized = {"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/hostname"};

std::string tmpfs_data(std::uint64_t bytes, const char* mode) {
    // nr_inodes bounds the files a run can create (one inode per KiB of space, at least 1024).
    const std::uint64_t inodes = std::max<std::uint64_t>(1024, bytes / 1024);
    return "size=" + std::to_string(bytes) + ",nr_inodes=" + std::to_string(inodes) + ",mode=" + mode;
}

void add_parents(MountList& list, const std::string& root, const fs::path& path) {
    fs::path partial;
    for (auto it = path.begin(); it != std::prev(path.end()); ++it) {
        partial /= *it;
        if (partial == "/") continue;
        list.add({K::mkdir, nullptr, list.keep(root + partial.string()), nullptr, 0, 0755});
    }
}

// One host path made visible at the same path inside: a directory or file bound read-only, a symlink
// recreated (merged-/usr systems have /bin -> usr/bin).
void add_host_path(MountList& list, const std::string& root, const std::string& rootfs, const std::string& path) {
    const std::string source = rootfs + path;
    struct stat st {};
    if (::lstat(source.c_str(), &st) != 0) return;  // absent on this host: nothing to show
    add_parents(list, root, path);
    const char* target = list.keep(root + path);
    if (S_ISLNK(st.st_mode)) {
        std::error_code ec;
        const fs::path text = fs::read_symlink(source, ec);
        if (ec) throw std::runtime_error("cannot read symlink " + source + ": " + ec.message());
        list.add({K::symlink, list.keep(text.string()), target});
        return;
    }
    list.add({S_ISDIR(st.st_mode) ? K::mkdir : K::touch, nullptr, target, nullptr, 0, 0755});
    list.add({K::bind, list.keep(source), target, nullptr, kReadOnly});
}

std::string check_absolute(const std::string& path, const char* key) {
    if (path.empty() || path.front() != '/')
        throw std::runtime_error(std::string(key) + ": not an absolute path: " + path);
    return fs::path(path).lexically_normal().string();
}

std::string passwd_text(std::uint32_t uid, std::uint32_t gid) {
    return "root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:" + std::to_string(uid) + ":" + std::to_string(gid) +
           ":sandbox:/workspace:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
}

std::string group_text(std::uint32_t gid) {
    return "root:x:0:\nsandbox:x:" + std::to_string(gid) + ":\nnogroup:x:65534:\n";
}

std::string hosts_text(const std::string& hostname) {
    return "127.0.0.1\tlocalhost " + hostname + "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
}

// `from`'s ops onto `list`, their targets moved from below `old_root` to below `root` (chroot mode's per-run
// roots; the ops' other strings stay in `from`, which outlives every run). A procfs there hides the processes
// of other uids: without a PID namespace it would show the host's.
void append_at(MountList& list, const MountList& from, const std::string& old_root, const std::string& root) {
    if (root == old_root) {
        list.append(from.ops());
        return;
    }
    for (mounts::Op op : from.ops()) {
        const std::string_view target = op.target ? op.target : "";
        if (target.substr(0, old_root.size()) == old_root)
            op.target = list.keep(root + std::string(target.substr(old_root.size())));
        if (op.kind == K::proc) op.data = "hidepid=2";  // "invisible" since Linux 5.8; gVisor knows only the number
        list.add(op);
    }
}

std::error_code last_error() { return {errno, std::system_category()}; }

// A whole file written at path (O_EXCL: never over something already there).
std::error_code write_new_file(const std::string& path, const std::string& content, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size()) || ::fchmod(fd, mode) != 0)
        ec = last_error();
    ::close(fd);
    return ec;
}

}  // namespace

const char* MountList::keep(std::string text) { return strings_.emplace_back(std::move(text)).c_str(); }

std::string MountList::describe(std::size_t index, const std::string& new_root) const {
    if (index >= ops_.size()) return "mount #" + std::to_string(index);
    const mounts::Op& op = ops_[index];
    std::string target = op.target ? op.target : "";
    if (target.rfind(new_root, 0) == 0) target = target.substr(new_root.size());
    static constexpr const char* kNames[] = {"mkdir",  "create", "symlink",   "tmpfs", "bind", "proc",
                                             "devpts", "mask",   "read-only", "write", "chown"};
    static_assert(std::size(kNames) == static_cast<std::size_t>(K::chown) + 1, "a name for every mount kind");
    std::string text = std::string(kNames[static_cast<int>(op.kind)]) + " " + (target.empty() ? "/" : target);
    if (op.kind == K::bind && op.source) text += " (from " + std::string(op.source) + ")";
    return text;
}

Rootfs::Rootfs(const SandboxConfig& config, const std::vector<std::string>& extra_binds, const std::string& support_dir)
    : hostname_(config.hostname) {
    new_root_ = check_absolute(config.run_dir, "sandbox.run_dir") + "/root";
    ids_dir_ = check_absolute(config.run_dir, "sandbox.run_dir") + "/ids";
    std::error_code ec;
    fs::create_directories(new_root_, ec);
    if (ec) throw std::runtime_error("cannot create " + new_root_ + ": " + ec.message());
    const std::string rootfs = config.rootfs.empty() ? "" : check_absolute(config.rootfs, "sandbox.rootfs");
    const std::string& r = new_root_;

    // The root itself: a small tmpfs holding only mount points and synthesized files, read-only after
    // pivot_root.
    skeleton_.add({K::tmpfs, nullptr, skeleton_.keep(r), "size=1m,nr_inodes=4096,mode=0755", kScratch});
    for (const std::string& dir : config.ro_binds)
        add_host_path(skeleton_, r, rootfs, check_absolute(dir, "sandbox.ro_binds"));
    for (const std::string& dir : extra_binds) {
        const std::string path = check_absolute(dir, "a language's binds");
        if (std::find(config.ro_binds.begin(), config.ro_binds.end(), path) == config.ro_binds.end())
            add_host_path(skeleton_, r, rootfs, path);
    }
    if (!support_dir.empty()) {
        // From the host, not from sandbox.rootfs: these files are jaild's, installed beside it.
        struct stat st {};
        if (::stat(support_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            add_parents(skeleton_, r, support_mount);
            const char* target = skeleton_.keep(r + support_mount);
            skeleton_.add({K::mkdir, nullptr, target, nullptr, 0, 0755});
            skeleton_.add({K::bind, skeleton_.keep(support_dir), target, nullptr, kReadOnly});
        }
    }
    skeleton_.add({K::mkdir, nullptr, skeleton_.keep(r + "/etc"), nullptr, 0, 0755});
    for (const std::string& entry : config.etc_files) {
        std::string path = check_absolute(entry, "sandbox.etc_files");
        while (path.size() > 1 && path.back() == '/') path.pop_back();  // "/etc/." normalizes to "/etc/"
        if (path.rfind("/etc/", 0) != 0)
            throw std::runtime_error("sandbox.etc_files: not an entry under /etc: " + entry);
        if (!kSynthesized.count(path)) add_host_path(skeleton_, r, rootfs, path);
    }

    skeleton_.add({K::mkdir, nullptr, skeleton_.keep(r + "/dev"), nullptr, 0, 0755});
    skeleton_.add(
        {K::tmpfs, nullptr, skeleton_.keep(r + "/dev"), "size=64k,nr_inodes=64,mode=0755", MS_NOSUID | MS_NOEXEC});
    for (const char* dev : kDevices) {
        const char* target = skeleton_.keep(r + "/dev/" + dev);
        skeleton_.add({K::touch, nullptr, target, nullptr, 0, 0666});
        skeleton_.add({K::bind, skeleton_.keep(std::string("/dev/") + dev), target, nullptr, MS_NOSUID | MS_NOEXEC});
    }
    for (const auto& [text, name] : kDevLinks) skeleton_.add({K::symlink, text, skeleton_.keep(r + "/dev/" + name)});
    skeleton_.add({K::mkdir, nullptr, skeleton_.keep(r + "/dev/shm"), nullptr, 0, 01777});
    // Where a live session's sandbox mounts its own devpts (for_job); in other runs an empty directory and a
    // dangling link, so that opening /dev/ptmx fails there.
    skeleton_.add({K::mkdir, nullptr, skeleton_.keep(r + "/dev/pts"), nullptr, 0, 0755});
    skeleton_.add({K::symlink, "pts/ptmx", skeleton_.keep(r + "/dev/ptmx")});

    skeleton_.add({K::mkdir, nullptr, skeleton_.keep(r + "/proc"), nullptr, 0, 0555});
    skeleton_.add({K::mkdir, nullptr, skeleton_.keep(r + "/tmp"), nullptr, 0, 01777});
    skeleton_.add({K::mkdir, nullptr, skeleton_.keep(r + workspace_dir), nullptr, 0, 0755});
    add_parents(skeleton_, r, packages_mount);
    for (const char* point : {packages_mount, wheelhouse_mount})
        skeleton_.add({K::mkdir, nullptr, skeleton_.keep(r + point), nullptr, 0, 0755});

    proc_.add({K::proc, nullptr, proc_.keep(r + "/proc"), nullptr, MS_NOSUID | MS_NODEV | MS_NOEXEC});
    for (const char* name : kProcMaskedFiles)
        proc_.add({K::bind, "/dev/null", proc_.keep(r + "/proc/" + name), nullptr, kReadOnly | MS_NOEXEC, 0, true});
    for (const char* name : kProcMaskedDirs)
        proc_.add({K::mask_dir, nullptr, proc_.keep(r + "/proc/" + name), nullptr, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0,
                   true});
    for (const char* name : kProcReadOnly)
        proc_.add({K::readonly, nullptr, proc_.keep(r + "/proc/" + name), nullptr, kReadOnly | MS_NOEXEC, 0, true});

    after_.add({K::readonly, nullptr, after_.keep(r + "/dev"), nullptr, MS_RDONLY | MS_NOSUID | MS_NOEXEC});
}

std::error_code Rootfs::build_template() {
    const std::string& r = new_root_;
    MountList list;
    list.append(skeleton_.ops());
    // Mount points for the job's /etc/passwd and /etc/group, and the files that are the same for every run.
    for (const char* path : {"/etc/passwd", "/etc/group"})
        list.add({K::touch, nullptr, list.keep(r + path), nullptr, 0, 0644});
    const std::string hosts = hosts_text(hostname_), name = hostname_ + "\n";
    list.add(
        {K::write_file, nullptr, list.keep(r + "/etc/hosts"), nullptr, 0, 0644, false, hosts.data(), hosts.size()});
    list.add(
        {K::write_file, nullptr, list.keep(r + "/etc/hostname"), nullptr, 0, 0644, false, name.data(), name.size()});
    list.append(after_.ops());

    std::size_t failed = 0;
    std::error_code ec;
    if (const int err = mounts::apply(list.ops().data(), list.ops().size(), &failed))
        ec = {err, std::system_category()};
    // The template's own root read-only: every copy of it in a sandbox is then read-only too (same tmpfs).
    else if (::mount(nullptr, r.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | kScratch,
                     "size=1m,nr_inodes=4096,mode=0755") != 0)
        ec = last_error();
    else if (::mkdir(ids_dir_.c_str(), 0700) != 0 && errno != EEXIST)
        ec = last_error();
    else if (::mount("tmpfs", ids_dir_.c_str(), "tmpfs", kScratch | MS_NOEXEC, "size=4m,nr_inodes=65536,mode=0700") !=
             0)
        ec = last_error();
    if (ec) {
        ::umount2(ids_dir_.c_str(), MNT_DETACH);
        ::umount2(r.c_str(), MNT_DETACH);  // takes every mount below it along
        return ec;
    }
    templated_ = true;
    return {};
}

std::string Rootfs::ids_for(std::uint32_t uid, std::uint32_t gid) const {
    const std::string dir = ids_dir_ + "/" + std::to_string(uid);
    struct stat st {};
    if (::stat((dir + "/group").c_str(), &st) == 0) return dir;
    // First run of this uid (the files never change: a uid's gid is fixed by the pool). A half-written
    // directory from a failed attempt is rewritten.
    ::unlink((dir + "/passwd").c_str());
    if ((::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) ||
        write_new_file(dir + "/passwd", passwd_text(uid, gid), 0644) ||
        write_new_file(dir + "/group", group_text(gid), 0644))
        return {};
    return dir;
}

MountList Rootfs::for_job(const JobFilesystem& job) const {
    MountList list;
    const std::string& r = job.root ? *job.root : new_root_;
    // A live sandbox's root has /home/user, which the template every other run shares lacks (no run sees a
    // /home): it is built whole, as without a template.
    const std::string ids = templated_ && !job.home_user && !job.root ? ids_for(job.uid, job.gid) : std::string();
    if (ids.empty()) append_at(list, skeleton_, new_root_, r);  // no template (or its ids failed): the whole root
    if (job.home_user) {
        add_parents(list, r, home_user_dir);
        list.add({K::mkdir, nullptr, list.keep(r + home_user_dir), nullptr, 0, 0755});
    }
    append_at(list, proc_, new_root_, r);
    if (job.tmp_source && !job.tmp_source->empty())
        list.add({K::bind, job.tmp_source->c_str(), list.keep(r + "/tmp"), nullptr, kScratch});
    else
        list.add({K::tmpfs, nullptr, list.keep(r + "/tmp"), list.keep(tmpfs_data(job.tmp_bytes, "1777")), kScratch});
    list.add({K::tmpfs, nullptr, list.keep(r + "/dev/shm"), list.keep(tmpfs_data(job.tmp_bytes, "1777")),
              kScratch | MS_NOEXEC});
    const char* workspace = list.keep(r + workspace_dir);
    if (job.workspace_source && !job.workspace_source->empty()) {
        // Prepared on the host by jaild (owned by the job's uid, size-limited) and shared by the steps of
        // one request.
        list.add({K::bind, job.workspace_source->c_str(), workspace, nullptr, kScratch});
        if (job.home_user)
            list.add({K::bind, job.workspace_source->c_str(), list.keep(r + home_user_dir), nullptr, kScratch});
    } else {
        list.add({K::tmpfs, nullptr, workspace, list.keep(tmpfs_data(job.tmp_bytes, "0755")), kScratch});
        list.add({K::chown, nullptr, workspace, nullptr, 0, 0, false, nullptr, 0, job.uid, job.gid});
    }

    // A devpts instance private to this sandbox (never the host's terminals): every user may open ptmx, and
    // the instance holds at most 64 terminals.
    if (job.terminals)
        list.add({K::devpts, nullptr, list.keep(r + "/dev/pts"), "newinstance,ptmxmode=0666,mode=0620,max=64",
                  MS_NOSUID | MS_NOEXEC});
    if (job.packages && !job.packages->env.empty()) {
        const unsigned long flags = job.packages->writable ? kScratch : kReadOnly;
        list.add({K::bind, job.packages->env.c_str(), list.keep(r + packages_mount), nullptr, flags});
    }
    if (job.packages && !job.packages->wheelhouse.empty())
        list.add({K::bind, job.packages->wheelhouse.c_str(), list.keep(r + wheelhouse_mount), nullptr,
                  kReadOnly | MS_NOEXEC});
    if (!ids.empty()) {
        for (const char* name : {"/passwd", "/group"})
            list.add({K::bind, list.keep(ids + name), list.keep(r + "/etc" + name), nullptr, kReadOnly | MS_NOEXEC});
    } else {
        const std::pair<const char*, std::string> synthesized[] = {
            {"/etc/passwd", passwd_text(job.uid, job.gid)},
            {"/etc/group", group_text(job.gid)},
            {"/etc/hosts", hosts_text(hostname_)},
            {"/etc/hostname", hostname_ + "\n"},
        };
        for (const auto& [path, content] : synthesized) {
            const char* text = list.keep(content);
            list.add({K::write_file, nullptr, list.keep(r + path), nullptr, 0, 0644, false, text, content.size()});
        }
    }
    if (job.files) {
        for (const PlanFile& file : *job.files) {
            const fs::path relative(file.path);
            fs::path partial = fs::path(r + workspace_dir);
            for (auto it = relative.begin(); it != std::prev(relative.end()); ++it) {
                partial /= *it;
                const char* dir = list.keep(partial.string());
                list.add({K::mkdir, nullptr, dir, nullptr, 0, 0755});
                list.add({K::chown, nullptr, dir, nullptr, 0, 0, false, nullptr, 0, job.uid, job.gid});
            }
            list.add({K::write_file, nullptr, list.keep(r + workspace_dir + "/" + file.path), nullptr, 0,
                      static_cast<mode_t>(file.executable ? 0755 : 0644), false, file.content.data(),
                      file.content.size(), job.uid, job.gid});
        }
    }
    if (ids.empty()) append_at(list, after_, new_root_, r);
    return list;
}

}  // namespace jaild
