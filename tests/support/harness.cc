#include "tests/support/harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bitset>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/framing.h"
#include "jaild/sandbox/cgroup.h"
#include "tests/support/process.h"

namespace jaild::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

long peak_kb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    FAIL("no VmHWM in /proc/" << pid << "/status");
    return 0;
}

std::string bin(const std::string& name) { return std::string(JAILD_BIN_DIR) + "/" + name; }
std::string source_path(const std::string& name) { return std::string(JAILD_SOURCE_DIR) + "/" + name; }

TempDir::TempDir() {
    char pattern[] = "/tmp/jaild-test-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
    ::chmod(path_.c_str(), 0755);  // tests connect as other users, who must reach the socket
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);  // remove_all does not follow symlinks
}

bool zygote_on() {
    const char* value = std::getenv("JAILD_TEST_ZYGOTE");
    return value && std::string(value) == "1";
}

bool zygote_enabled(const std::string& extra_toml) {
    const std::size_t section = extra_toml.find("[zygote]");
    if (section == std::string::npos) return zygote_on();
    const std::size_t end = extra_toml.find("\n[", section + 1);
    return extra_toml.substr(section, end == std::string::npos ? std::string::npos : end - section)
               .find("enabled = false") == std::string::npos;
}

Daemon::Daemon(const std::string& extra_toml, const std::string& server_extra) {
    socket_ = dir_.path() + "/jaild.sock";
    start(extra_toml, server_extra);
}

Daemon::Daemon(AtSocket at, const std::string& extra_toml) {
    socket_ = at.path;
    start(extra_toml, "");
}

Daemon::Daemon(Binary binary, const std::string& extra_toml) : binary_(std::move(binary.path)) {
    socket_ = dir_.path() + "/jaild.sock";
    start(extra_toml, "");
}

namespace {

std::mutex uid_slots_mutex;
std::bitset<kUidSlots> uid_slots_taken;

int take_uid_slot() {
    const std::lock_guard lock(uid_slots_mutex);
    for (std::size_t slot = 0; slot < kUidSlots; ++slot) {
        if (uid_slots_taken[slot]) continue;
        uid_slots_taken[slot] = true;
        return static_cast<int>(slot);
    }
    throw std::runtime_error("more than " + std::to_string(kUidSlots) + " test jailds at once: no uid range left");
}

}  // namespace

void Daemon::release_uid_slot() {
    if (uid_slot_ < 0) return;
    const std::lock_guard lock(uid_slots_mutex);
    uid_slots_taken[static_cast<std::size_t>(uid_slot_)] = false;
    uid_slot_ = -1;
}

void Daemon::start(const std::string& extra_toml, const std::string& server_extra) {
    std::string uid_base;
    if (extra_toml.find("uid_base") == std::string::npos) {
        uid_slot_ = take_uid_slot();
        uid_base = "uid_base = " + std::to_string(kUidBase + static_cast<std::uint32_t>(uid_slot_) * kUidCount) + "\n";
    }
    run_dir_ = dir_.path() + "/run";
    log_path_ = dir_.path() + "/jaild.log";
    const std::string config_path = dir_.path() + "/jaild.toml";
    std::ofstream(config_path) << "[server]\nsocket = \"" << socket_ << "\"\nsocket_group = \"\"\n"
                               << server_extra << "\n[sandbox]\n"
                               << uid_base
                               << (extra_toml.find("uid_count") == std::string::npos
                                       ? "uid_count = " + std::to_string(kUidCount)
                                       : std::string())
                               << "\nrun_dir = \"" << run_dir_ << "\"\n"
                               << extra_toml << "\n";
    // Sessions under the scratch directory, unless the test names its own (to restart on the same state).
    if (extra_toml.find("[sessions]") == std::string::npos)
        std::ofstream(config_path, std::ios::app) << "[sessions]\nstate_dir = \"" << dir_.path() << "/state\"\n";
    if (extra_toml.find("[languages]") == std::string::npos)
        std::ofstream(config_path, std::ios::app)
            << "[languages]\ndir = \"" << source_path("languages") << "\"\nsupport_dir = \""
            << source_path("languages/support") << "\"\n";
    if (extra_toml.find("[zygote]") == std::string::npos)
        std::ofstream(config_path, std::ios::app) << "[zygote]\nenabled = " << (zygote_on() ? "true" : "false") << "\n";
    const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = launch({.argv = {binary_, "--config", config_path}, .stderr_fd = log_fd});
    ::close(log_fd);
    const bool up = wait_until(
        [&] {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                release_uid_slot();
                throw std::runtime_error("jaild exited at start:\n" + log());
            }
            Connection probe(socket_);
            return probe.fd() >= 0;
        },
        10s);
    // A constructor that throws runs no destructor: stop the daemon here.
    const auto fail = [this](const std::string& what) {
        const std::string text = what + ":\n" + log();
        terminate();
        throw std::runtime_error(text);
    };
    if (!up) fail("jaild did not start listening");
    // The source tree's python.toml has a zygote: with the zygote on, runs right after start are warm.
    if (zygote_enabled(extra_toml) && extra_toml.find("[languages]") == std::string::npos &&
        !wait_zygote_ready(socket_))
        fail("no zygote ready 60 s after start");
}

Daemon::~Daemon() {
    if (pid_ > 0) terminate();
}

int Daemon::terminate() {
    const int status = terminate_child(pid_);
    release_uid_slot();
    return status;
}

void Daemon::kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    release_uid_slot();
}

std::string Daemon::log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

Connection::Connection(const std::string& socket) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) close();
}

Connection::~Connection() { close(); }

void Connection::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool send_all(int fd, const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

void Connection::send_raw(const std::string& bytes) { send_all(fd_, bytes); }

void Connection::send(const v1::ClientMessage& message) { send_raw(framing::encode(message)); }

namespace {

bool read_exact(int fd, char* data, std::size_t size, std::chrono::steady_clock::time_point deadline) {
    std::size_t done = 0;
    while (done < size) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd pfd{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) != 1) return false;
        const ssize_t n = ::read(fd, data + done, size - done);
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

bool Connection::receive(v1::ServerMessage& message, std::chrono::milliseconds timeout) {
    if (fd_ < 0) return false;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::array<unsigned char, framing::header_bytes> header{};
    if (!read_exact(fd_, reinterpret_cast<char*>(header.data()), header.size(), deadline)) return false;
    std::string payload(framing::decode_header(header), '\0');
    if (!read_exact(fd_, payload.data(), payload.size(), deadline)) return false;
    return message.ParseFromString(payload);
}

v1::Stats stats(const std::string& socket) {
    Connection connection(socket);
    v1::ClientMessage request;
    request.set_request_id("stats");
    request.mutable_stats();
    connection.send(request);
    v1::ServerMessage reply;
    if (!connection.receive(reply) || !reply.has_stats()) throw std::runtime_error("no stats from jaild at " + socket);
    return reply.stats();
}

bool wait_zygote_ready(const std::string& socket, std::chrono::milliseconds timeout) {
    return wait_until([&] { return stats(socket).zygotes_ready() >= 1; }, timeout);
}

v1::ClientMessage run_message(const std::vector<std::string>& argv, const v1::Limits& limits) {
    v1::ClientMessage message;
    message.set_request_id("test");
    for (const std::string& arg : argv) message.mutable_run()->add_argv(arg);
    *message.mutable_run()->mutable_limits() = limits;
    return message;
}

v1::ClientMessage shell(const std::string& script, const v1::Limits& limits) {
    return run_message({"/bin/sh", "-c", script}, limits);
}

RunResult receive_run(Connection& connection, std::chrono::milliseconds timeout) {
    RunResult result;
    v1::ServerMessage message;
    while (connection.receive(message, timeout)) {
        result.events.push_back({std::chrono::steady_clock::now(), message});
        if (message.has_started()) {
            result.job_id = message.started().job_id();
            result.uid = message.started().uid();
        } else if (message.has_output()) {
            (message.output().stream() == v1::STREAM_STDERR ? result.err : result.out) += message.output().data();
        } else if (message.has_exit()) {
            result.has_exit = true;
            result.exit = message.exit();
            break;
        } else if (message.has_error()) {
            result.has_error = true;
            result.error = message.error();
            break;
        }
    }
    return result;
}

RunResult run(const std::string& socket, const v1::ClientMessage& request) {
    Connection connection(socket);
    REQUIRE(connection.fd() >= 0);
    connection.send(request);
    return receive_run(connection);
}

RunResult run_sh(const std::string& socket, const std::string& script, const v1::Limits& limits) {
    return run(socket, shell(script, limits));
}

namespace {

std::string slurp_file(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The job cgroup (job-...) a process is in, from /proc/PID/cgroup ("" when none).
std::string job_cgroup_of(const std::string& pid) {
    std::istringstream lines(slurp_file("/proc/" + pid + "/cgroup"));
    std::string line;
    while (std::getline(lines, line)) {
        const std::size_t at = line.find("/job-");
        if (at == std::string::npos) continue;
        const std::size_t end = line.find('/', at + 1);
        return line.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
    }
    return {};
}

bool is_warm_cgroup(const std::string& name) { return name.find("-warm") != std::string::npos; }
// A zygote's cgroup (jaild/sandbox/zygote.h): the daemon's while it runs, never a run's.
bool is_zygote_cgroup(const std::string& name) { return name.find("-zygote-") != std::string::npos; }

// A warm sandbox no run has taken yet (jaild/sandbox/warm_pool.h): its first process being set up (still named
// jaild), exec'ing jaild-reaper (for a moment the new command line reads empty), or its reaper waiting with
// the command line jaild gave it (a taken one's is wiped to "jaild-reaper" once its program runs). The
// daemon's idle state, not something a run left.
bool waiting_warm(const std::string& pid) {
    if (!is_warm_cgroup(job_cgroup_of(pid))) return false;
    const std::string comm = slurp_file("/proc/" + pid + "/comm");
    if (comm == "jaild\n") return true;
    const std::string cmdline = slurp_file("/proc/" + pid + "/cmdline");
    return comm == "jaild-reaper\n" && (cmdline.empty() || cmdline == std::string("jaild-reaper\0warm\0", 18));
}

}  // namespace

std::vector<pid_t> pool_processes() {
    std::vector<pid_t> found;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream status(entry.path() / "status");
        std::string line;
        while (std::getline(status, line)) {
            // A zombie runs nothing; one whose parent died waits for the host's init, which may be slow to reap.
            if (line.rfind("State:\tZ", 0) == 0) break;
            if (line.rfind("Uid:", 0) != 0) continue;
            std::istringstream fields(line.substr(4));
            std::uint32_t uid = 0;
            while (fields >> uid) {
                if (uid >= kUidBase && uid < kUidBase + kUidSlots * kUidCount) {
                    found.push_back(std::stoi(name));
                    break;
                }
            }
            break;
        }
    }
    return found;
}

std::vector<pid_t> sandbox_processes() {
    std::vector<pid_t> found;
    for (const pid_t pid : pool_processes()) {
        if (!waiting_warm(std::to_string(pid))) found.push_back(pid);
    }
    return found;
}

std::vector<std::string> job_cgroups() {
    // A warm sandbox's cgroup keeps its name when a run takes it: it counts as the run's as soon as a
    // process in it is not a waiting sandbox's.
    std::set<std::string> taken;
    for (const pid_t pid : sandbox_processes()) {
        const std::string name = job_cgroup_of(std::to_string(pid));
        if (is_warm_cgroup(name)) taken.insert(name);
    }
    std::vector<std::string> runs;
    for (std::string& name : all_job_cgroups()) {
        if (is_zygote_cgroup(name)) continue;
        if (!is_warm_cgroup(name) || taken.count(name)) runs.push_back(std::move(name));
    }
    return runs;
}

std::vector<std::string> all_job_cgroups() { return cgroup::detect("")->list_jobs(); }

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

void check_nothing_left(const std::string& run_dir, pid_t jaild) {
    wait_until([] { return sandbox_processes().empty() && job_cgroups().empty(); }, 3s);
    for (const pid_t pid : sandbox_processes()) {
        const std::string dir = "/proc/" + std::to_string(pid);
        std::string cmdline = slurp_file(dir + "/cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        UNSCOPED_INFO("left: pid " << pid << " comm " << slurp_file(dir + "/comm") << "cmdline [" << cmdline
                                   << "] cgroup " << job_cgroup_of(std::to_string(pid)));
    }
    CHECK(sandbox_processes().empty());
    for (const std::string& name : job_cgroups()) UNSCOPED_INFO("left: cgroup " << name);
    CHECK(job_cgroups().empty());
    // Warm sandboxes stay, but no more of them than the daemon keeps (two by default, and one being made): a
    // run that took one and left its cgroup behind would add one each time.
    if (jaild > 0) {
        const std::string mine = "job-" + std::to_string(jaild) + "-";
        std::size_t warm = 0;
        for (const std::string& name : all_job_cgroups())
            if (name.rfind(mine, 0) == 0 && is_warm_cgroup(name)) ++warm;
        CHECK(warm <= 3);
    }
    // The host's mounts, and jaild's own (its workspaces live in its private mount namespace).
    std::vector<std::string> tables = {"/proc/self/mountinfo"};
    if (jaild > 0) tables.push_back("/proc/" + std::to_string(jaild) + "/mountinfo");
    for (const std::string& table : tables) {
        std::ifstream mountinfo(table);
        std::string line;
        while (std::getline(mountinfo, line)) {
            INFO(table);
            CHECK(line.find(run_dir + "/work/") == std::string::npos);
            if (table == tables.front()) CHECK(line.find(run_dir) == std::string::npos);
        }
    }
    std::error_code ec;
    if (fs::exists(run_dir + "/root", ec)) CHECK(fs::is_empty(run_dir + "/root", ec));
    if (fs::exists(run_dir + "/work", ec)) CHECK(fs::is_empty(run_dir + "/work", ec));
}

v1::Limits limits(std::uint32_t wall_ms, std::uint32_t cpu_ms, std::uint64_t memory_kb) {
    v1::Limits l;
    l.set_wall_ms(wall_ms);
    l.set_cpu_ms(cpu_ms);
    l.set_memory_kb(memory_kb);
    return l;
}

}  // namespace jaild::test
