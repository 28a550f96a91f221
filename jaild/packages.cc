#include "jaild/packages.h"

#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>

#include "jaild/sandbox/rootfs.h"

namespace jaild {

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

constexpr const char* kBuildPrefix = ".build-";
constexpr std::uint64_t kStackBytes = 8 << 20;

// Prints "name<TAB>version" for every distribution the sandbox's Python sees, first on sys.path first.
constexpr const char* kInventoryScript =
    "import importlib.metadata as m\n"
    "for d in m.distributions():\n"
    "    n = d.metadata['Name']\n"
    "    if n: print(n, d.version, sep='\\t')\n";

std::string hex_sha256(const std::string& text) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out.push_back(kHex[digest[i] >> 4]);
        out.push_back(kHex[digest[i] & 15]);
    }
    return out;
}

bool is_key(const std::string& name) {
    return name.size() == 64 && std::all_of(name.begin(), name.end(),
                                            [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// nftw's callback has no context argument: the walk's totals live here, one set per thread.
thread_local std::uint64_t walk_bytes = 0;
thread_local bool walk_chown = false;

int walk_entry(const char* path, const struct stat* st, int, FTW*) {
    walk_bytes += static_cast<std::uint64_t>(st->st_blocks) * 512;
    if (!walk_chown) return 0;
    if (::lchown(path, 0, 0) != 0) return errno;
    // Nobody but root may change a published environment, even where its mount is writable (gVisor, which
    // refuses read-only remounts): no write bit for group or others, and no set-id bit.
    if (S_ISLNK(st->st_mode)) return 0;
    const mode_t mode = st->st_mode & 07777 & ~static_cast<mode_t>(S_IWGRP | S_IWOTH | S_ISUID | S_ISGID);
    if ((st->st_mode & 07777) != mode && ::chmod(path, mode) != 0) return errno;
    return 0;
}

// Disk used by a directory tree; with `chown`, every entry becomes root's, writable by root only. Never follows
// symlinks.
std::uint64_t walk(const std::string& dir, bool chown, std::error_code& ec) {
    walk_bytes = 0;
    walk_chown = chown;
    const int rc = ::nftw(dir.c_str(), walk_entry, 32, FTW_PHYS | FTW_MOUNT);
    if (rc > 0) ec = {rc, std::system_category()};
    if (rc < 0) ec = {errno, std::system_category()};
    return walk_bytes;
}

std::string major_minor(const std::string& version) {
    const std::size_t first = version.find('.');
    const std::size_t second = first == std::string::npos ? first : version.find('.', first + 1);
    return version.substr(0, second);
}

struct Published {
    std::uint64_t bytes = 0;
    std::error_code ec;
};

// The store's thread: a built environment becomes root's (no sandbox uid owns a shared environment), is
// measured, and is renamed into place.
Published publish_dir(const std::string& dir, const std::string& target) {
    Published out;
    out.bytes = walk(dir, true, out.ec);
    if (!out.ec && ::rename(dir.c_str(), target.c_str()) != 0) out.ec = {errno, std::system_category()};
    return out;
}

RunPlan helper_plan(std::vector<std::string> argv) {
    RunPlan plan;
    plan.argv = std::move(argv);
    // A fixed environment: nothing of the request's (PIP_INDEX_URL, PYTHONPATH...) reaches the install.
    plan.env = {std::string("PATH=") + sandbox_path_env, "HOME=/tmp", "LANG=C.UTF-8", "TMPDIR=/tmp",
                "PYTHONDONTWRITEBYTECODE=1"};
    plan.cwd = workspace_dir;
    return plan;
}

}  // namespace

PackageStore::~PackageStore() { worker_.join(); }

void PackageStore::discard(const std::string& path) {
    asio::post(worker_, [path] {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    });
}

PackageStore::Hold::~Hold() {
    auto found = store_.envs_.find(key_);
    if (found != store_.envs_.end() && found->second.users > 0) --found->second.users;
}

RunPlan PackageStore::inventory_plan(const RunPlan& like) const {
    RunPlan plan = helper_plan({"python3", "-c", kInventoryScript});
    // Its own limits: a request's small ones must not make the list (kept for jaild's life) fail.
    plan.limits = like.limits;
    plan.limits.cpu_ms = 10'000;
    plan.limits.wall_ms = 20'000;
    plan.limits.memory_bytes = std::max<std::uint64_t>(plan.limits.memory_bytes, 256 << 20);
    plan.limits.nproc = std::max<std::uint32_t>(plan.limits.nproc, 16);
    plan.limits.nofile = std::max<std::uint32_t>(plan.limits.nofile, 64);
    plan.limits.output_bytes = 4 << 20;
    plan.limits.stack_bytes = std::max(plan.limits.stack_bytes, kStackBytes);
    return plan;
}

void PackageStore::set_inventory(const std::string& output, const std::string& python_version) {
    std::map<std::string, std::string> found;
    std::size_t start = 0;
    while (start < output.size()) {
        const std::size_t end = std::min(output.find('\n', start), output.size());
        const std::string line = output.substr(start, end - start);
        start = end + 1;
        const std::size_t tab = line.find('\t');
        if (tab == std::string::npos) continue;
        found.emplace(requirements::normalize_name(line.substr(0, tab)), line.substr(tab + 1));
    }
    spdlog::info("packages: the sandbox's Python {} has {} distributions", python_version, found.size());
    inventory_ = std::move(found);
    python_version_ = python_version;
}

bool PackageStore::satisfied(const Requirements& list) const {
    if (!inventory_) return false;
    return std::all_of(list.begin(), list.end(), [&](const requirements::Requirement& r) {
        return requirements::check(r, *inventory_) == requirements::Verdict::satisfied;
    });
}

std::string PackageStore::key(const Requirements& list) const {
    std::set<std::string> lines;
    for (const auto& r : list) lines.insert(r.canonical());
    std::string text = "python " + python_version_ + "\n";
    for (const std::string& line : lines) text += line + "\n";
    return hex_sha256(text);
}

std::string PackageStore::python_path() const {
    return std::string(packages_mount) + "/lib/python" + major_minor(python_version_) + "/site-packages";
}

bool PackageStore::wheelhouse_exists() const {
    std::error_code ec;
    return fs::is_directory(config_.wheelhouse, ec);
}

void PackageStore::open() {
    if (opened_) return;
    opened_ = true;
    std::error_code ec;
    fs::create_directories(config_.envs_dir, ec);
    if (ec) spdlog::error("packages: cannot create {}: {}", config_.envs_dir, ec.message());
    // Builds happen in here, in trees a sandbox uid owned, which publishing walks and chowns by path: nobody
    // but root may reach them, or a host user could swap a directory of a build for a symlink mid-walk.
    struct stat dir {};
    private_ = ::lstat(config_.envs_dir.c_str(), &dir) == 0 && S_ISDIR(dir.st_mode) && dir.st_uid == 0 &&
               ::chmod(config_.envs_dir.c_str(), 0700) == 0;
    if (!private_)
        spdlog::error(
            "packages: {} is not a directory of root's that jaild can make private (0700): no "
            "requirements will be installed",
            config_.envs_dir);
    for (const auto& entry : fs::directory_iterator(config_.envs_dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with(kBuildPrefix)) {
            fs::remove_all(entry.path(), ec);  // a build a previous jaild did not finish
            continue;
        }
        struct stat st {};
        if (!is_key(name) || ::lstat(entry.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        std::error_code walk_ec;
        Env env;
        env.bytes = walk(entry.path().string(), false, walk_ec);
        env.last_used_ns = static_cast<std::int64_t>(st.st_atim.tv_sec) * 1'000'000'000 + st.st_atim.tv_nsec;
        envs_[name] = env;
    }
    spdlog::info("packages: {} environments in {}", envs_.size(), config_.envs_dir);
    evict();
}

std::shared_ptr<PackageStore::Hold> PackageStore::hold(const std::string& key) {
    Env& env = envs_.at(key);
    ++env.users;
    env.last_used_ns = now_ns();
    // The last use is the directory's atime (its mtime stays the build's), read back at the next start.
    const std::string path = config_.envs_dir + "/" + key;
    const timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
    return std::make_shared<Hold>(*this, key, path);
}

std::shared_ptr<PackageStore::Hold> PackageStore::find(const std::string& key) {
    open();
    if (!envs_.count(key)) return nullptr;
    struct stat st {};
    if (::lstat((config_.envs_dir + "/" + key).c_str(), &st) != 0) {  // removed by hand: build it again
        envs_.erase(key);
        return nullptr;
    }
    return hold(key);
}

std::string PackageStore::begin(const std::string& key, std::uint32_t uid, std::error_code& ec) {
    open();
    const std::string dir = config_.envs_dir + "/" + kBuildPrefix + key + "-" + std::to_string(++next_build_);
    if (!private_) {
        ec = std::make_error_code(std::errc::permission_denied);
        return {};
    }
    fs::remove_all(dir, ec);
    if (::mkdir(dir.c_str(), 0755) != 0 || ::chown(dir.c_str(), uid, uid) != 0) {
        ec = {errno, std::system_category()};
        std::error_code ignored;
        fs::remove_all(dir, ignored);
        return {};
    }
    building_.insert(key);
    return dir;
}

RunPlan PackageStore::install_plan(const Requirements& list, const std::string& dir, const RunPlan& like) const {
    // A venv that sees the system's packages (pip skips what they satisfy and installs the rest beside
    // them), then pip from the wheelhouse only. Fixed text: the requirements come in a file.
    const std::string script =
        std::string("python3 -m venv --system-site-packages --without-pip ") + packages_mount + " && exec " +
        packages_mount + "/bin/python -m pip install --no-index --find-links " + wheelhouse_mount +
        " --only-binary :all: --no-cache-dir --disable-pip-version-check --no-input --progress-bar off"
        " --no-warn-script-location -r requirements.txt";
    RunPlan plan = helper_plan({"/bin/sh", "-c", script});
    std::string text;
    for (const auto& r : list) text += r.canonical() + "\n";
    plan.files.push_back({"requirements.txt", text, false});
    plan.limits = like.limits;
    plan.limits.cpu_ms = config_.install_cpu_ms;
    plan.limits.wall_ms = config_.install_wall_ms;
    plan.limits.memory_bytes = config_.install_memory_kb * 1024;
    plan.limits.tmp_bytes = config_.install_tmp_kb * 1024;
    plan.limits.fsize_bytes = config_.install_tmp_kb * 1024;
    plan.limits.nofile = std::max<std::uint32_t>(plan.limits.nofile, 1024);
    plan.limits.nproc = std::max<std::uint32_t>(plan.limits.nproc, 256);
    plan.limits.output_bytes = 1 << 20;
    plan.limits.stack_bytes = std::max(plan.limits.stack_bytes, kStackBytes);
    plan.packages = {dir, true, config_.wheelhouse};
    return plan;
}

asio::awaitable<std::shared_ptr<PackageStore::Hold>> PackageStore::finish(const std::string& key,
                                                                          const std::string& dir, bool ok,
                                                                          std::error_code& ec) {
    Published done;
    if (ok) {
        // GCC 12 coroutines (docs/development.md): the lambda is named, not a temporary in the co_await
        auto publish = [dir, target = config_.envs_dir + "/" + key]() -> asio::awaitable<Published> {
            co_return publish_dir(dir, target);
        };
        done = co_await asio::co_spawn(worker_, std::move(publish), asio::use_awaitable);
    }
    // Only now: a request waiting for this build looks again once it is in place (or gone).
    building_.erase(key);
    if (!ok || done.ec) {
        ec = done.ec;
        discard(dir);
        co_return nullptr;
    }
    Env env;
    env.bytes = done.bytes;
    envs_[key] = env;
    std::shared_ptr<Hold> held = hold(key);
    spdlog::info("packages: environment {} published ({} KiB)", key, env.bytes / 1024);
    evict();
    co_return held;
}

void PackageStore::evict() {
    std::uint64_t total = 0;
    for (const auto& [key, env] : envs_) total += env.bytes;
    std::vector<std::pair<std::int64_t, std::string>> idle;
    for (const auto& [key, env] : envs_)
        if (env.users == 0) idle.emplace_back(env.last_used_ns, key);
    std::sort(idle.begin(), idle.end());
    const std::uint64_t budget = config_.budget_kb * 1024;
    for (const auto& [used, key] : idle) {
        if (total <= budget) break;
        // Renamed first: a run that looks it up from now on builds it afresh instead of finding half of it.
        const std::string path = config_.envs_dir + "/" + key;
        const std::string doomed =
            config_.envs_dir + "/" + kBuildPrefix + "evicted-" + key + "-" + std::to_string(++next_build_);
        if (::rename(path.c_str(), doomed.c_str()) == 0) discard(doomed);
        total -= envs_[key].bytes;
        spdlog::info("packages: environment {} removed ({} KiB, least recently used, budget {} KiB)", key,
                     envs_[key].bytes / 1024, config_.budget_kb);
        envs_.erase(key);
    }
}

std::string describe_install_failure(const std::string& output, const PackageStore::Requirements& list,
                                     const std::string& wheelhouse) {
    constexpr std::string_view kMissing = "No matching distribution found for ";
    if (const std::size_t at = output.find(kMissing); at != std::string::npos) {
        std::string wanted = output.substr(at + kMissing.size());
        wanted = wanted.substr(0, wanted.find_first_of("\r\n"));
        while (!wanted.empty() && wanted.back() == ' ') wanted.pop_back();
        const std::string name = requirements::normalize_name(wanted.substr(0, wanted.find_first_of("<>=!~;[( ")));
        std::string which = "\"" + wanted + "\", which the requirements need,";
        for (const auto& r : list)
            if (r.name == name) which = "\"" + r.text + "\" (requirements line " + std::to_string(r.line) + ")";
        return "requirement " + which +
               " is not in this server's wheelhouse, and packages are never downloaded. An operator adds it: on "
               "a machine with internet access and the same Python, `pip download --only-binary :all: -d wheels "
               "\"" +
               wanted + "\"`, then copy wheels/*.whl into " + wheelhouse + " (see docs/languages.md)";
    }
    std::string errors;
    std::size_t start = 0;
    while (start < output.size()) {
        const std::size_t end = std::min(output.find('\n', start), output.size());
        const std::string line = output.substr(start, end - start);
        if (line.starts_with("ERROR:")) errors += (errors.empty() ? "" : "\n") + line;
        start = end + 1;
    }
    if (errors.empty()) errors = output.size() > 2000 ? output.substr(output.size() - 2000) : output;
    if (errors.size() > 4000) errors.resize(4000);
    return "installing the requirements failed:\n" + errors;
}

}  // namespace jaild
