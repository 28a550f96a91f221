// jailctl: jaild's command-line client. `jailctl run -- CMD...` streams the sandboxed program's output to
// its own stdout/stderr, forwards its own stdin, and exits with the program's exit code (128+N for signal
// N), like `docker run`. `jailctl execute -l LANG FILE` does the same for code in a registered language
// (and prints main()'s result), `jailctl languages` lists them, `jailctl check` prints jaild's host probe.
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
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

struct ExecuteOptions {
    std::string language;
    std::string file;  // the code: a file, or - for jailctl's stdin (the program then gets none)
    std::string code;  // or given inline
    bool main_mode = false;
    bool result_mode = false;
    std::string data;
    std::vector<std::string> files;  // NAME=LOCAL_PATH, written into the workspace
    std::vector<std::string> args;
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

void set_limits(const RunOptions& o, jaild::v1::Limits* limits) {
    limits->set_cpu_ms(o.time_ms);
    limits->set_wall_ms(o.wall_ms);
    limits->set_memory_kb(o.mem_kb);
    limits->set_fsize_kb(o.fsize_kb);
    limits->set_nofile(o.nofile);
    limits->set_nproc(o.nproc);
    limits->set_output_bytes(o.output_bytes);
}

void set_env(const RunOptions& o, google::protobuf::Map<std::string, std::string>* env) {
    for (const std::string& kv : o.env) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) die("--env needs KEY=VALUE, got \"" + kv + "\"");
        (*env)[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
}

jaild::v1::ClientMessage build_run(const RunOptions& o) {
    jaild::v1::ClientMessage message;
    auto* run = message.mutable_run();
    for (const std::string& arg : o.command) run->add_argv(arg);
    set_env(o, run->mutable_env());
    run->set_cwd(o.cwd);
    run->set_stdin_stream(!o.no_stdin);
    set_limits(o, run->mutable_limits());
    return message;
}

std::string read_file(const std::string& path) {
    std::stringstream text;
    if (path == "-") {
        text << std::cin.rdbuf();
        return text.str();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) die("cannot read " + path + ": " + std::strerror(errno));
    text << in.rdbuf();
    return text.str();
}

jaild::v1::ClientMessage build_execute(const RunOptions& o, ExecuteOptions e) {
    if (!e.code.empty() && !e.file.empty()) {  // with --code, every positional is an argument
        e.args.insert(e.args.begin(), e.file);
        e.file.clear();
    }
    jaild::v1::ClientMessage message;
    auto* execute = message.mutable_execute();
    execute->set_language(e.language);
    if (e.file.empty() == e.code.empty()) die("give the code as a FILE (or - for stdin) or with --code");
    execute->set_code(e.file.empty() ? e.code : read_file(e.file));
    for (const std::string& arg : e.args) execute->add_args(arg);
    set_env(o, execute->mutable_env());
    set_limits(o, execute->mutable_limits());
    execute->set_stdin_stream(!o.no_stdin && e.file != "-");
    if (e.main_mode && e.result_mode) die("--main and --result exclude each other");
    if (e.main_mode) execute->set_mode(jaild::v1::EXECUTE_MODE_MAIN);
    if (e.result_mode) execute->set_mode(jaild::v1::EXECUTE_MODE_RESULT_VARIABLE);
    execute->set_data_json(e.data);
    for (const std::string& spec : e.files) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos) die("--file needs NAME=LOCAL_PATH, got \"" + spec + "\"");
        auto* file = execute->add_files();
        file->set_path(spec.substr(0, eq));
        file->set_content(read_file(spec.substr(eq + 1)));
    }
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
    // main() mode: the result on stdout after what the program printed, the error and trace on stderr.
    if (!exit.result_json().empty()) write_all(1, exit.result_json() + "\n");
    if (exit.status() == jaild::v1::STATUS_COMPILE_ERROR) {
        std::fputs("jailctl: compilation failed\n", stderr);
        return 1;
    }
    if (exit.status() == jaild::v1::STATUS_RUNTIME_ERROR && !exit.trace().empty())
        std::fprintf(stderr, "jailctl: %s\n", exit.error().c_str());
    else if (exit.status() == jaild::v1::STATUS_RUNTIME_ERROR && exit.exit_code() == 1 && !exit.error().empty() &&
             exit.error().rfind("exited with", 0) != 0)
        std::fprintf(stderr, "jailctl: %s\n", exit.error().c_str());
    return exit.exit_code() & 0xff;
}

int run_command(const std::string& socket_path, const jaild::v1::ClientMessage& request, bool forward) {
    boost::asio::io_context io;
    jaild::JaildClient client(io.get_executor());
    if (auto ec = client.connect(socket_path)) die("cannot connect to " + socket_path + ": " + ec.message());
    if (auto ec = client.send(request)) die("sending the request: " + ec.message());
    if (forward) std::thread(forward_stdin, client.socket().native_handle()).detach();
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

int languages_command(const std::string& socket_path) {
    boost::asio::io_context io;
    jaild::JaildClient client(io.get_executor());
    if (auto ec = client.connect(socket_path)) die("cannot connect to " + socket_path + ": " + ec.message());
    jaild::v1::ClientMessage request;
    request.mutable_languages();
    if (auto ec = client.send(request)) die("sending the request: " + ec.message());
    jaild::v1::ServerMessage reply;
    if (auto ec = client.receive(reply)) die("connection to jaild lost: " + ec.message());
    if (reply.has_error()) die(reply.error().message());
    for (const auto& language : reply.languages().languages()) {
        std::string aliases;
        for (const auto& alias : language.aliases()) aliases += (aliases.empty() ? "" : ", ") + alias;
        std::printf("%-10s %-20s %-9s %s\n", language.name().c_str(), language.version().c_str(),
                    language.compiled() ? "compiled" : "", aliases.c_str());
    }
    return 0;
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

    ExecuteOptions execute;
    RunOptions execute_run;
    CLI::App* execute_cmd = app.add_subcommand("execute", "run code in a registered language (jailctl languages)");
    execute_cmd->add_option("-l,--language", execute.language, "language name or alias")->required();
    execute_cmd->add_option("--code", execute.code, "the code itself, instead of a FILE");
    execute_cmd->add_flag("--main", execute.main_mode, "Python: call main() and print its JSON result");
    execute_cmd->add_flag("--result", execute.result_mode, "Python: print the variable `result` as JSON");
    execute_cmd->add_option("--data", execute.data, "JSON object whose keys become variables (--main/--result)");
    execute_cmd->add_option("--file", execute.files, "NAME=LOCAL_PATH put in the workspace, repeatable")
        ->allow_extra_args(false)
        ->take_all();
    execute_cmd->add_option("--time", execute_run.time_ms, "CPU time limit, ms");
    execute_cmd->add_option("--wall", execute_run.wall_ms, "wall-clock limit, ms");
    execute_cmd->add_option("--mem", execute_run.mem_kb, "memory limit, KiB");
    execute_cmd->add_option("--output", execute_run.output_bytes, "bytes kept per output stream");
    execute_cmd->add_option("--env", execute_run.env, "KEY=VALUE, repeatable")->allow_extra_args(false)->take_all();
    execute_cmd->add_flag("--no-stdin", execute_run.no_stdin, "give the program an empty stdin");
    execute_cmd->add_option("source", execute.file, "file with the code, or - to read it from stdin");
    execute_cmd->add_option("args", execute.args, "arguments for the program, after --");
    execute_cmd->positionals_at_end();

    CLI::App* languages_cmd = app.add_subcommand("languages", "list the languages jaild runs, with versions");
    CLI::App* check_cmd = app.add_subcommand("check", "show which isolation features the host allows");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help is a "parse error" that exits 0; a real usage error is jailctl's failure, not the program's.
        return app.exit(e) == 0 ? 0 : kJailctlError;
    }
    if (run_cmd->parsed()) return run_command(socket_path, build_run(run), !run.no_stdin);
    if (execute_cmd->parsed()) {
        const auto request = build_execute(execute_run, execute);
        return run_command(socket_path, request, request.execute().stdin_stream());
    }
    if (languages_cmd->parsed()) return languages_command(socket_path);
    if (check_cmd->parsed()) return check_command(socket_path);
    return kJailctlError;
}
