// Test support for integration tests: a real jaild started on a scratch socket, run directory and uid range,
// a client that collects a run's events, and the checks that nothing was left behind on the host.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "jaild.pb.h"

namespace jaild::test {

// Distinct from the default pool (a dev jaild may be running); JAILD_TEST_UID_BASE moves it so that two
// suites can run side by side on one machine.
inline const std::uint32_t kUidBase = [] {
    const char* base = std::getenv("JAILD_TEST_UID_BASE");
    return base ? static_cast<std::uint32_t>(std::strtoul(base, nullptr, 10)) : 61000u;
}();
inline constexpr std::uint32_t kUidCount = 200;  // 99 sandboxes: a pair of uids each, the last pair the probe's
// A test may run several daemons at once; jaild refuses a uid range another running jaild holds, so each takes
// the first free one of kUidSlots ranges of kUidCount uids from kUidBase (a lone daemon: [kUidBase,
// kUidBase + kUidCount)). Left-behind checks cover all of them.
inline constexpr std::uint32_t kUidSlots = 4;

// An ASan build: freed memory waits in ASan's quarantine and shadow memory is mapped, so a peak RSS measures
// the sanitizer; memory bounds are checked in the plain build only.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif

// The peak resident memory of a process so far (VmHWM), in KiB.
long peak_kb(pid_t pid);

std::string bin(const std::string& name);          // path of a built binary (build/bin/NAME)
std::string source_path(const std::string& name);  // path of a file in the source tree

// A scratch directory removed (recursively, without following symlinks) at destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// JAILD_TEST_ZYGOTE=1: daemons whose test does not set [zygote] run with the zygote on (warm Python).
bool zygote_on();
// `[zygote]` holds in extra_toml, or else zygote_on().
bool zygote_enabled(const std::string& extra_toml);

class Daemon {
public:
    // Starts build/bin/jaild with a config holding the scratch paths plus `extra_toml` (keys of [sandbox], or
    // whole TOML sections, e.g. "[limits.default]\nwall_ms = 2000\n"; a uid_count there replaces the test
    // pool's size), and waits until its socket accepts connections. Without a [zygote] section in extra_toml
    // the zygote is on only when JAILD_TEST_ZYGOTE=1 (zygote_on()); when it is on and the daemon uses the
    // source tree's languages, start also waits until a zygote is ready, so the first runs are warm.
    explicit Daemon(const std::string& extra_toml = "", const std::string& server_extra = "");
    // The same, listening on `socket_path` instead of a scratch socket (a restarted jaild at the same place).
    struct AtSocket {
        std::string path;
    };
    explicit Daemon(AtSocket at, const std::string& extra_toml = "");
    // The same, running another jaild binary (e.g. a copy without jaild-reaper beside it).
    struct Binary {
        std::string path;
    };
    Daemon(Binary binary, const std::string& extra_toml);
    ~Daemon();  // SIGTERM and wait, if still running
    Daemon(const Daemon&) = delete;

    const std::string& socket() const { return socket_; }
    const std::string& run_dir() const { return run_dir_; }
    pid_t pid() const { return pid_; }
    // SIGTERM, wait for exit; returns the exit status as waitpid gives it.
    int terminate();
    void kill9();
    std::string log() const;  // what jaild wrote to stderr

private:
    void start(const std::string& extra_toml, const std::string& server_extra);
    void release_uid_slot();

    TempDir dir_;
    int uid_slot_ = -1;  // which of the kUidSlots ranges this daemon holds while it runs; -1: none
    std::string binary_ = bin("jaild");
    std::string socket_, run_dir_, log_path_;
    pid_t pid_ = -1;
};

struct Event {
    std::chrono::steady_clock::time_point at;
    v1::ServerMessage message;
};

struct RunResult {
    bool has_exit = false;
    v1::Exit exit;
    bool has_error = false;
    v1::Error error;
    std::string job_id;
    std::uint32_t uid = 0;
    std::string out, err;
    std::vector<Event> events;
};

// A ClientMessage running argv with the given limits (0 = default).
v1::ClientMessage run_message(const std::vector<std::string>& argv, const v1::Limits& limits = {});
v1::ClientMessage shell(const std::string& script, const v1::Limits& limits = {});  // /bin/sh -c script

// Sends the request on a new connection and collects every event until Exit or Error.
RunResult run(const std::string& socket, const v1::ClientMessage& request);
RunResult run_sh(const std::string& socket, const std::string& script, const v1::Limits& limits = {});

// jaild's counters (a StatsRequest on a new connection).
v1::Stats stats(const std::string& socket);
// Waits up to `timeout` until the daemon's stats say a zygote is ready.
bool wait_zygote_ready(const std::string& socket, std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Writes all of bytes to a socket; false when the peer is gone.
bool send_all(int fd, const std::string& bytes);

// A connection kept open by the test (to drop it mid-run, or send raw bytes).
class Connection {
public:
    explicit Connection(const std::string& socket);
    ~Connection();
    int fd() const { return fd_; }
    void send(const v1::ClientMessage& message);
    void send_raw(const std::string& bytes);
    // Next message, or false on EOF/error/timeout.
    bool receive(v1::ServerMessage& message, std::chrono::milliseconds timeout = std::chrono::seconds(20));
    void close();

private:
    int fd_ = -1;
};

// Collects the events of a request already sent on `connection` until Exit or Error (or EOF/timeout).
RunResult receive_run(Connection& connection, std::chrono::milliseconds timeout = std::chrono::seconds(90));

// Host checks.
// Live (not zombie) processes whose uid is in the test pool; sandbox_processes() leaves out waiting warm
// sandboxes' (the daemon's idle state, jaild/sandbox/warm_pool.h).
std::vector<pid_t> pool_processes();
std::vector<pid_t> sandbox_processes();
// job-* cgroups under jaild's cgroup base, but waiting warm sandboxes' and zygotes' (a daemon's standing state).
std::vector<std::string> job_cgroups();
std::vector<std::string> all_job_cgroups();  // every job-* cgroup (nothing may be left once daemons stop)
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);
// Asserts (Catch2 CHECK) that no sandbox process, job cgroup or mount below run_dir is left; with jaild's
// pid, also that no workspace is still mounted in its mount namespace.
void check_nothing_left(const std::string& run_dir, pid_t jaild = -1);

v1::Limits limits(std::uint32_t wall_ms = 0, std::uint32_t cpu_ms = 0, std::uint64_t memory_kb = 0);

// Hello world in each shipped language (languages/*.toml): prints "hello\n".
inline const std::map<std::string, std::string> kHelloWorld = {
    {"python", "print('hello')"},
    {"bash", "echo hello"},
    {"sh", "echo hello"},
    {"node", "console.log('hello')"},
    {"perl", "print \"hello\\n\";"},
    {"c", "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"},
    {"cpp", "#include <iostream>\nint main() { std::cout << \"hello\" << std::endl; }\n"},
};

}  // namespace jaild::test
