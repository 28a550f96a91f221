// jailctl: jaild's command-line client. `jailctl run -- CMD...` streams the sandboxed program's output to
// its own stdout/stderr, forwards its own stdin, and exits with the program's exit code (128+N for signal
// N), like `docker run`. `jailctl execute -l LANG FILE` does the same for code in a registered language
// (and prints main()'s result), `jailctl languages` lists them, `jailctl check` prints jaild's host probe,
// `jailctl stats` jaild's counters (the gateway's /metrics shows the same), `jailctl sessions` manages
// sessions (a live session's processes and contexts: jailctl_live.cc).
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "common/check_report_text.h"
#include "common/framing.h"
#include "common/jaild_client.h"
#include "jaild/jailctl/jailctl_common.h"
#include "jaild/jailctl/jailctl_files.h"
#include "jaild/jailctl/jailctl_live.h"

namespace {

using namespace jaild::jailctl;

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

void set_env(const RunOptions& o, google::protobuf::Map<std::string, std::string>* env) { put_env(o.env, env); }

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
    if (e.file.empty() == e.code.empty()) usage_error("give the code as a FILE (or - for stdin) or with --code");
    execute->set_code(e.file.empty() ? e.code : read_file(e.file));
    for (const std::string& arg : e.args) execute->add_args(arg);
    set_env(o, execute->mutable_env());
    set_limits(o, execute->mutable_limits());
    execute->set_stdin_stream(!o.no_stdin && e.file != "-");
    if (e.main_mode && e.result_mode) usage_error("--main and --result exclude each other");
    if (e.main_mode) execute->set_mode(jaild::v1::EXECUTE_MODE_MAIN);
    if (e.result_mode) execute->set_mode(jaild::v1::EXECUTE_MODE_RESULT_VARIABLE);
    execute->set_data_json(e.data);
    for (const std::string& spec : e.files) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos) usage_error("--file needs NAME=LOCAL_PATH, got \"" + spec + "\"");
        auto* file = execute->add_files();
        file->set_path(spec.substr(0, eq));
        file->set_content(read_file(spec.substr(eq + 1)));
    }
    return message;
}

int run_command(const std::string& socket_path, const jaild::v1::ClientMessage& request, bool forward) {
    boost::asio::io_context io;
    jaild::JaildClient client(io.get_executor());
    open_request(client, socket_path, request);
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
            die(error_text(message.error()));
        }
    }
}

int check_command(const std::string& socket_path) {
    jaild::v1::ClientMessage request;
    request.mutable_check();
    const jaild::v1::ServerMessage reply = ask(socket_path, request);
    std::fputs(jaild::check_report_text(reply.check()).c_str(), stdout);
    return reply.check().usable() ? 0 : jaild::check_failed_exit;
}

// A live session adds its state: how many processes run, its deadline, whether jaild restarted under it.
std::string live_state(const jaild::v1::SessionInfo& s) {
    if (!s.live()) return "";
    std::string text = "  live, " + std::to_string(s.processes_running()) + " running";
    if (s.deadline_unix_ms() > 0) {
        const std::time_t at = static_cast<std::time_t>(s.deadline_unix_ms() / 1000);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&at));
        text += ", ends " + std::string(when);
    }
    return text + (s.restarted() ? ", restarted" : "");
}

void print_session(const jaild::v1::SessionInfo& s) {
    std::printf("%s  %s  cwd=%s  %llu bytes in %llu files (quota %llu)%s%s\n", s.session_id().c_str(),
                s.name().empty() ? "-" : s.name().c_str(), s.cwd().c_str(),
                static_cast<unsigned long long>(s.disk_used_bytes()), static_cast<unsigned long long>(s.files_count()),
                static_cast<unsigned long long>(s.quota_bytes()), s.running() ? "  running" : "",
                live_state(s).c_str());
}

struct SessionOptions {
    std::string id, path, local;
    std::vector<std::string> env;
    std::string name;
    bool live = false;
    std::uint64_t timeout_ms = 0;  // create --live: its deadline from now; timeout: the new one
};

int sessions_command(const std::string& socket_path, const std::string& action, const SessionOptions& o,
                     const RunOptions& run) {
    jaild::v1::ClientMessage request;
    if (action == "list") {
        request.mutable_session_list();
        const auto reply = ask(socket_path, request);  // named: a range-for over a temporary's member dangles
        for (const auto& s : reply.sessions().sessions()) print_session(s);
        return 0;
    }
    if (action == "create") {
        RunOptions env_only;
        env_only.env = o.env;
        set_env(env_only, request.mutable_session_create()->mutable_env());
        request.mutable_session_create()->set_name(o.name);
        if (o.timeout_ms > 0 && !o.live) usage_error("sessions create --timeout-ms needs --live");
        request.mutable_session_create()->set_live(o.live);
        request.mutable_session_create()->set_timeout_ms(o.timeout_ms);
        std::printf("%s\n", ask(socket_path, request).session().session_id().c_str());
        return 0;
    }
    if (action == "rm") {
        request.mutable_session_delete()->set_session_id(o.id);
        ask(socket_path, request);
        return 0;
    }
    if (action == "timeout") {
        request.mutable_session_set_timeout()->set_session_id(o.id);
        request.mutable_session_set_timeout()->set_timeout_ms(o.timeout_ms);
        print_session(ask(socket_path, request).session());
        return 0;
    }
    if (action == "info") {
        request.mutable_session_get()->set_session_id(o.id);
        print_session(ask(socket_path, request).session());
        return 0;
    }
    if (action == "files") {
        request.mutable_file_list()->set_session_id(o.id);
        const auto reply = ask(socket_path, request);
        for (const auto& f : reply.files().files())
            std::printf("%-9s %10llu  %s\n", f.type().c_str(), static_cast<unsigned long long>(f.size()),
                        f.path().c_str());
        return 0;
    }
    if (action == "put" || action == "get") {  // streamed in chunks: any size within the quota
        boost::asio::io_context io;
        jaild::JaildClient client(io.get_executor());
        connect(client, socket_path);
        const std::string error = action == "put" ? jaild::jailctl::put_file(client, o.id, o.path, o.local)
                                                  : jaild::jailctl::get_file(client, o.id, o.path, 1);
        if (!error.empty()) die(error);
        return 0;
    }
    // run
    if (run.command.empty()) usage_error("sessions run needs a command after --");
    jaild::v1::ClientMessage message = build_run(run);
    message.mutable_run()->set_session_id(o.id);
    return run_command(socket_path, message, !run.no_stdin);
}

int languages_command(const std::string& socket_path) {
    jaild::v1::ClientMessage request;
    request.mutable_languages();
    const jaild::v1::ServerMessage reply = ask(socket_path, request);
    for (const auto& language : reply.languages().languages()) {
        std::string aliases;
        for (const auto& alias : language.aliases()) aliases += (aliases.empty() ? "" : ", ") + alias;
        std::printf("%-10s %-20s %-9s %s\n", language.name().c_str(), language.version().c_str(),
                    language.compiled() ? "compiled" : "", aliases.c_str());
    }
    return 0;
}

int stats_command(const std::string& socket_path) {
    jaild::v1::ClientMessage request;
    request.mutable_stats();
    const jaild::v1::ServerMessage reply = ask(socket_path, request);
    const jaild::v1::Stats& s = reply.stats();
    const std::pair<const char*, unsigned long long> rows[] = {
        {"sandboxes in flight", s.sandboxes_in_flight()},
        {"sandboxes warm", s.sandboxes_warm()},
        {"sessions", s.sessions_open()},
        {"sessions disk bytes", s.sessions_disk_bytes()},
        {"uids in use", s.uids_in_use()},
        {"uids", s.uids_total()},
        {"jobs started", s.jobs_started()},
        {"jobs finished", s.jobs_finished()},
        {"connections", s.connections()},
        {"zygotes ready", s.zygotes_ready()},
        {"zygote runs", s.zygote_runs()},
        {"zygote starts", s.zygote_starts()},
        {"zygote failures", s.zygote_failures()},
        {"live sessions", s.sessions_live()},
        {"live processes", s.live_processes()},
    };
    for (const auto& [name, value] : rows) std::printf("%-20s %llu\n", name, value);
    return 0;
}

}  // namespace

// Everything after the first "--" is the program's: its command line or its arguments, never jailctl's options.
// jailctl splits it off itself (CLI11 would keep the "--" as an argument once a positional came before it).
std::vector<std::string> split_trailing(int& argc, char** argv) {
    std::vector<std::string> trailing;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--") != 0) continue;
        trailing.assign(argv + i + 1, argv + argc);
        argc = i;
        break;
    }
    return trailing;
}

void append(std::vector<std::string>& to, const std::vector<std::string>& more) {
    to.insert(to.end(), more.begin(), more.end());
}

int main(int argc, char** argv) {
    const std::vector<std::string> trailing = split_trailing(argc, argv);
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
    run_cmd->add_option("command", run.command, "the command and its arguments, after --");
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
    CLI::App* stats_cmd = app.add_subcommand("stats", "jaild's counters: sandboxes, sessions, uids, jobs");

    // jailctl sessions list|create|info|rm|files|run ID -- CMD...|put ID PATH [FILE]|get ID PATH, and for live
    // sessions timeout|exec|ps|attach|kill|context|cell (jailctl_live.cc)
    CLI::App* sessions_cmd = app.add_subcommand("sessions", "stateful workspaces that persist between runs");
    sessions_cmd->require_subcommand(1);
    SessionOptions session;
    RunOptions session_run;
    sessions_cmd->add_subcommand("list", "your sessions");
    CLI::App* create_cmd = sessions_cmd->add_subcommand("create", "a new session; prints its id");
    create_cmd->add_option("--env", session.env, "KEY=VALUE, repeatable")->allow_extra_args(false)->take_all();
    create_cmd->add_option("--name", session.name, "return the session of this name if it exists");
    create_cmd->add_flag("--live", session.live, "its sandbox stays up: processes (exec) and contexts (cell)");
    create_cmd->add_option("--timeout-ms", session.timeout_ms, "live: it ends this long from now whatever its use");
    CLI::App* timeout_cmd = sessions_cmd->add_subcommand("timeout", "move a live session's deadline (0: none)");
    timeout_cmd->add_option("id", session.id, "session id")->required();
    timeout_cmd->add_option("ms", session.timeout_ms, "from now, in ms")->required();
    LiveOptions live;
    add_live_commands(*sessions_cmd, live);
    for (const char* name : {"info", "rm", "files"})
        sessions_cmd
            ->add_subcommand(name, std::string(name) == "rm"     ? "delete a session and its files"
                                   : std::string(name) == "info" ? "a session's details"
                                                                 : "list a session's files")
            ->add_option("id", session.id, "session id")
            ->required();
    CLI::App* srun_cmd = sessions_cmd->add_subcommand("run", "run a command in a session");
    srun_cmd->add_option("id", session.id, "session id")->required();
    srun_cmd->add_option("--time", session_run.time_ms, "CPU time limit, ms");
    srun_cmd->add_option("--wall", session_run.wall_ms, "wall-clock limit, ms");
    srun_cmd->add_option("--mem", session_run.mem_kb, "memory limit, KiB");
    srun_cmd->add_option("--env", session_run.env, "KEY=VALUE, repeatable")->allow_extra_args(false)->take_all();
    srun_cmd->add_option("--cwd", session_run.cwd, "working directory (default: the session's)");
    srun_cmd->add_flag("--no-stdin", session_run.no_stdin, "give the program an empty stdin");
    srun_cmd->add_option("command", session_run.command, "the command and its arguments, after --");
    CLI::App* put_cmd = sessions_cmd->add_subcommand("put", "upload a file (from FILE, or stdin)");
    put_cmd->add_option("id", session.id, "session id")->required();
    put_cmd->add_option("path", session.path, "path in the workspace")->required();
    put_cmd->add_option("file", session.local, "local file (default: stdin)");
    CLI::App* get_cmd = sessions_cmd->add_subcommand("get", "download a file to stdout");
    get_cmd->add_option("id", session.id, "session id")->required();
    get_cmd->add_option("path", session.path, "path in the workspace")->required();
    CLI::App* check_cmd = app.add_subcommand("check", "show which isolation features the host allows");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help is a "parse error" that exits 0; a real usage error exits 2.
        return app.exit(e) == 0 ? 0 : kUsageError;
    }
    append(run.command, trailing);
    append(execute.args, trailing);
    append(session_run.command, trailing);
    append(live.command, trailing);
    if (run_cmd->parsed()) {
        if (run.command.empty()) usage_error("run needs a command after --");
        return run_command(socket_path, build_run(run), !run.no_stdin);
    }
    if (execute_cmd->parsed()) {
        const auto request = build_execute(execute_run, execute);
        return run_command(socket_path, request, request.execute().stdin_stream());
    }
    if (languages_cmd->parsed()) return languages_command(socket_path);
    if (stats_cmd->parsed()) return stats_command(socket_path);
    if (sessions_cmd->parsed()) {
        const std::string action = sessions_cmd->get_subcommands().front()->get_name();
        if (!trailing.empty() && action != "run" && action != "exec")
            usage_error("sessions " + action + " takes no command after --");
        if (const auto code = live_command(socket_path, action, live)) return *code;
        return sessions_command(socket_path, action, session, session_run);
    }
    if (check_cmd->parsed()) return check_command(socket_path);
    return kJailctlError;
}
