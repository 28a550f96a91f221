// jaild-bench-spawn: the cost of starting one program, measured the same way for every runner.
//
//   jaild-bench-spawn exec  [--runs N] [--seconds S] [--warmup W] [--pause-ms P] -- CMD [ARG...]
//   jaild-bench-spawn proto --socket PATH [--runs N] [--seconds S] [--warmup W] [--concurrency C] [--pause-ms P]
//                           -- CMD [ARG...]
//
// `exec` forks and execs CMD (posix_spawn, stdin and stdout on /dev/null) and waits for it: the physical
// floor when CMD is the program itself, a peer's cost when CMD is `bwrap ... /bin/true`, jailctl's when CMD is
// `jailctl run -- /bin/true`. `proto` sends a RunRequest straight to jaild over its socket (no client process)
// from C threads at once. Both stop after N measured runs or S seconds, whichever comes first, and print one
// `key=value` line (see stats.h). A run that exits non-zero or whose Exit is not STATUS_OK counts as an error.
// --pause-ms sleeps between runs (not measured): the latency of a run that finds the machine idle, rather
// than one that follows the previous run at once and meets the work it left behind (on 2 cores, a namespace
// torn down or a sandbox prepared for the next run competes with the run being measured).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/stats.h"
#include "common/jaild_client.h"

extern char** environ;

namespace {

using jaild::bench::Clock;

struct Options {
    std::string mode;
    std::string socket;
    std::size_t runs = 100;
    double seconds = 30;
    std::size_t warmup = 3;
    std::size_t concurrency = 1;
    double pause_ms = 0;
    std::vector<std::string> command;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "jaild-bench-spawn: %s\nusage: jaild-bench-spawn exec|proto [--socket PATH] [--runs N] "
                 "[--seconds S] [--warmup W] [--concurrency C] [--pause-ms P] -- CMD [ARG...]\n",
                 why);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    if (argc < 2) usage("no mode");
    Options options;
    options.mode = argv[1];
    if (options.mode != "exec" && options.mode != "proto") usage("mode must be exec or proto");
    int i = 2;
    for (; i < argc && std::strcmp(argv[i], "--") != 0; i += 2) {
        if (i + 1 >= argc) usage("option without a value");
        const std::string key = argv[i], value = argv[i + 1];
        if (key == "--socket")
            options.socket = value;
        else if (key == "--runs")
            options.runs = std::stoul(value);
        else if (key == "--seconds")
            options.seconds = std::stod(value);
        else if (key == "--warmup")
            options.warmup = std::stoul(value);
        else if (key == "--concurrency")
            options.concurrency = std::max<std::size_t>(1, std::stoul(value));
        else if (key == "--pause-ms")
            options.pause_ms = std::stod(value);
        else
            usage("unknown option");
    }
    for (++i; i < argc; ++i) options.command.emplace_back(argv[i]);
    if (options.command.empty()) usage("no command after --");
    if (options.mode == "proto" && options.socket.empty()) usage("proto needs --socket");
    return options;
}

// One fork+exec+wait of the command; true when it exited 0.
bool exec_once(const std::vector<char*>& argv) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return false;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// One RunRequest over a fresh connection, as jailctl and the gateway make it; true when the Exit is OK.
bool proto_once(const Options& options) {
    boost::asio::io_context io;
    jaild::JaildClient client(io.get_executor());
    if (client.connect(options.socket)) return false;
    jaild::v1::ClientMessage request;
    request.set_request_id("bench");
    for (const auto& arg : options.command) request.mutable_run()->add_argv(arg);
    if (client.send(request)) return false;
    jaild::v1::ServerMessage message;
    while (!client.receive(message)) {
        if (message.has_exit()) return message.exit().status() == jaild::v1::STATUS_OK;
        if (message.has_error()) return false;
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    std::vector<char*> exec_argv;
    for (const auto& arg : options.command) exec_argv.push_back(const_cast<char*>(arg.c_str()));
    exec_argv.push_back(nullptr);
    const auto once = [&] { return options.mode == "exec" ? exec_once(exec_argv) : proto_once(options); };

    for (std::size_t i = 0; i < options.warmup; ++i) once();

    std::mutex mutex;
    std::vector<double> samples;
    std::size_t errors = 0;
    std::atomic<std::size_t> next{0};
    const auto start = Clock::now();
    const auto deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    const auto worker = [&] {
        while (next.fetch_add(1) < options.runs && Clock::now() < deadline) {
            if (options.pause_ms > 0)
                std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options.pause_ms));
            const auto begin = Clock::now();
            const bool ok = once();
            const double ms = jaild::bench::ms_since(begin);
            const std::lock_guard lock(mutex);
            if (ok)
                samples.push_back(ms);
            else
                ++errors;
        }
    };
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < options.concurrency; ++i) threads.emplace_back(worker);
    for (auto& thread : threads) thread.join();
    jaild::bench::print_report(std::move(samples), errors, jaild::bench::ms_since(start) / 1000.0);
    return 0;
}
