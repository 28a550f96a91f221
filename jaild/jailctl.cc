// jailctl: jaild's command-line client. `jailctl run -- CMD...` streams the sandboxed program's output to
// its own stdout/stderr, forwards its own stdin, and exits with the program's exit code (128+N for signal
// N), like `docker run`. `jailctl check` prints jaild's host probe.
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "common/check_format.h"
#include "common/framing.h"
#include "common/jaild_client.h"

namespace {

constexpr int kJailctlError = 125;  // jailctl or jaild failed, not the program (docker's convention)

struct RunOptions {
    std::uint32_t time_ms = 0, wall_ms = 0, nofile = 0, nproc = 0;
    std::uint64_t mem_kb = 0, fsize_kb = 0, output_bytes = 0;
    std::vector<std::string> env;
    std::string cwd;
    bool no_stdin = false;
    std::vector<std::string> command;
};

[[noreturn]] void die(const std::string& message) {
    std::fprintf(stderr, "jailctl: %s\n", message.c_str());
    std::fflush(stderr);
    std::_Exit(kJailctlError);
}

void write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // our own stdout is gone (e.g. `| head`): keep draining jaild
        done += static_cast<std::size_t>(n);
    }
}

// Sends frames from the stdin thread; the main thread only reads, so a mutex-free raw send is enough.
void send_raw(int fd, const jaild::v1::ClientMessage& message) {
    const std::string frame = jaild::framing::encode(message);
    std::size_t done = 0;
    while (done < frame.size()) {
        const ssize_t n = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

void forward_stdin(int socket_fd) {
    std::string buffer(64 * 1024, '\0');
    for (;;) {
        const ssize_t n = ::read(0, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        jaild::v1::ClientMessage message;
        if (n <= 0) {
            message.mutable_stdin()->set_eof(true);
            send_raw(socket_fd, message);
            return;
        }
        message.mutable_stdin()->set_data(buffer.data(), static_cast<std::size_t>(n));
        send_raw(socket_fd, message);
    }
}

jaild::v1::ClientMessage build_run(const RunOptions& o) {
    jaild::v1::ClientMessage message;
    auto* run = message.mutable_run();
    for (const std::string& arg : o.command) run->add_argv(arg);
    for (const std::string& kv : o.env) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) die("--env needs KEY=VALUE, got \"" + kv + "\"");
        (*run->mutable_env())[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    run->set_cwd(o.cwd);
    run->set_stdin_stream(!o.no_stdin);
    auto* limits = run->mutable_limits();
    limits->set_cpu_ms(o.time_ms);
    limits->set_wall_ms(o.wall_ms);
    limits->set_memory_kb(o.mem_kb);
    limits->set_fsize_kb(o.fsize_kb);
    limits->set_nofile(o.nofile);
    limits->set_nproc(o.nproc);
    limits->set_output_bytes(o.output_bytes);
    return message;
}

int exit_code_of(const jaild::v1::Exit& exit) {
    using jaild::v1::Status;
    static const std::map<Status, const char*> kMessages = {
        {jaild::v1::STATUS_TIMEOUT, "time limit exceeded"},
        {jaild::v1::STATUS_MEMORY_LIMIT, "memory limit exceeded"},
        {jaild::v1::STATUS_OUTPUT_LIMIT, "output limit exceeded"},
        {jaild::v1::STATUS_INTERNAL_ERROR, "sandbox failure"},
        {jaild::v1::STATUS_CANCELLED, "cancelled"},
    };
    if (auto it = kMessages.find(exit.status()); it != kMessages.end())
        std::fprintf(stderr, "jailctl: %s: %s\n", it->second, exit.error().c_str());
    // The program could not be started (not found, not executable, bad --cwd): say why, as a shell would.
    if (exit.status() == jaild::v1::STATUS_RUNTIME_ERROR && exit.exit_code() == 127 && exit.signal() == 0 &&
        exit.error().rfind("cannot ", 0) == 0)
        std::fprintf(stderr, "jailctl: %s\n", exit.error().c_str());
    if (exit.status() == jaild::v1::STATUS_INTERNAL_ERROR) return kJailctlError;
    return exit.exit_code() & 0xff;
}

int run_command(const std::string& socket_path, const RunOptions& options) {
    boost::asio::io_context io;
    jaild::JaildClient client(io.get_executor());
    if (auto ec = client.connect(socket_path)) die("cannot connect to " + socket_path + ": " + ec.message());
    if (auto ec = client.send(build_run(options))) die("sending the request: " + ec.message());
    if (!options.no_stdin) std::thread(forward_stdin, client.socket().native_handle()).detach();
    for (;;) {
        jaild::v1::ServerMessage message;
        if (auto ec = client.receive(message)) die("connection to jaild lost: " + ec.message());
        if (message.has_output()) {
            write_all(message.output().stream() == jaild::v1::STREAM_STDERR ? 2 : 1, message.output().data());
        } else if (message.has_exit()) {
            const int code = exit_code_of(message.exit());
            std::fflush(stderr);
            std::_Exit(code);  // the stdin thread may be blocked in read(0)
        } else if (message.has_error()) {
            const auto& error = message.error();
            die(error.message() + (error.field().empty() ? "" : " (field " + error.field() + ")"));
        }
    }
}

int check_command(const std::string& socket_path) {
    boost::asio::io_context io;
    jaild::JaildClient client(io.get_executor());
    if (auto ec = client.connect(socket_path)) die("cannot connect to " + socket_path + ": " + ec.message());
    jaild::v1::ClientMessage request;
    request.mutable_check();
    if (auto ec = client.send(request)) die("sending the request: " + ec.message());
    jaild::v1::ServerMessage reply;
    if (auto ec = client.receive(reply)) die("connection to jaild lost: " + ec.message());
    if (reply.has_error()) die(reply.error().message());
    std::fputs(jaild::format_check(reply.check()).c_str(), stdout);
    return reply.check().usable() ? 0 : jaild::check_failed_exit;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"jailctl: run programs in jaild sandboxes"};
    app.require_subcommand(1);
    const char* env_socket = std::getenv("JAILD_SOCKET");
    std::string socket_path = env_socket ? env_socket : "/run/jaild/jaild.sock";
    app.add_option("--socket", socket_path, "jaild's socket (default $JAILD_SOCKET or /run/jaild/jaild.sock)");

    RunOptions run;
    CLI::App* run_cmd = app.add_subcommand("run", "run a command in a sandbox");
    run_cmd->add_option("--time", run.time_ms, "CPU time limit, ms");
    run_cmd->add_option("--wall", run.wall_ms, "wall-clock limit, ms");
    run_cmd->add_option("--mem", run.mem_kb, "memory limit, KiB");
    run_cmd->add_option("--fsize", run.fsize_kb, "largest file, KiB");
    run_cmd->add_option("--nofile", run.nofile, "open files per process");
    run_cmd->add_option("--nproc", run.nproc, "processes and threads");
    run_cmd->add_option("--output", run.output_bytes, "bytes kept per output stream");
    // One value per --env, so the command after it is never taken for more KEY=VALUE pairs.
    run_cmd->add_option("--env", run.env, "KEY=VALUE, repeatable")->allow_extra_args(false)->take_all();
    run_cmd->add_option("--cwd", run.cwd, "working directory inside the sandbox (default /workspace)");
    run_cmd->add_flag("--no-stdin", run.no_stdin, "give the program an empty stdin");
    run_cmd->add_option("command", run.command, "the command and its arguments, after --")->required();
    run_cmd->positionals_at_end();

    CLI::App* check_cmd = app.add_subcommand("check", "show which isolation features the host allows");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help is a "parse error" that exits 0; a real usage error is jailctl's failure, not the program's.
        return app.exit(e) == 0 ? 0 : kJailctlError;
    }
    if (run_cmd->parsed()) return run_command(socket_path, run);
    if (check_cmd->parsed()) return check_command(socket_path);
    return kJailctlError;
}
