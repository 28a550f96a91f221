#include "jaild/jailctl/jailctl_live.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "jaild/jailctl/jailctl_attach.h"
#include "jaild/jailctl/jailctl_common.h"
#include "jaild/jailctl/terminal.h"

namespace jaild::jailctl {

namespace {

constexpr terminal::Size kDefaultPty{24, 80};  // -t without a terminal of jailctl's own to copy
constexpr int kCommandNotExecuted = 127;

// A command line as a shell would take it back: arguments with spaces or quotes in single quotes.
std::string shell_words(const google::protobuf::RepeatedPtrField<std::string>& argv) {
    std::string line;
    for (const std::string& arg : argv) {
        if (!line.empty()) line += ' ';
        if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                  "+-./:=@_,%") == std::string::npos) {
            line += arg;
            continue;
        }
        line += '\'';
        for (const char c : arg) line += c == '\'' ? std::string("'\\''") : std::string(1, c);
        line += '\'';
    }
    return line;
}

std::string status_text(const v1::ProcessInfo& p) {
    if (p.running()) return "running";
    if (p.signal() != 0)
        return "killed " + (p.signal_name().empty() ? "signal " + std::to_string(p.signal()) : p.signal_name());
    return "exited " + std::to_string(p.exit_code());
}

int ps(const std::string& socket_path, const LiveOptions& o) {
    v1::ClientMessage request;
    request.mutable_process_list()->set_session_id(o.id);
    const v1::ServerMessage reply = ask(socket_path, request);
    std::printf("%-7s %-16s %-3s  %s\n", "PID", "STATUS", "PTY", "COMMAND");
    for (const auto& p : reply.processes().processes()) {
        std::string command = shell_words(p.argv());
        if (!p.context_id().empty()) command += "  (context " + p.context_id() + ")";
        std::printf("%-7u %-16s %-3s  %s\n", p.pid(), status_text(p).c_str(), p.pty() ? "yes" : "no", command.c_str());
    }
    return 0;
}

// A command the sandbox could not execute (not found, not executable) ends jailctl with 127, as `run` and a
// shell do; any other refusal with 125.
[[noreturn]] void refused_start(const v1::Error& error) {
    const bool not_executed = error.code() == v1::ERROR_CODE_INVALID_ARGUMENT && error.field() == "command" &&
                              error.message().rfind("cannot execute", 0) == 0;
    fail(not_executed ? kCommandNotExecuted : kJailctlError, error_text(error));
}

int exec(const std::string& socket_path, const LiveOptions& o) {
    if (o.command.empty()) usage_error("sessions exec needs a command after --");
    v1::ClientMessage request;
    auto* start = request.mutable_process_start();
    start->set_session_id(o.id);
    for (const std::string& arg : o.command) start->add_argv(arg);
    put_env(o.env, start->mutable_env());
    start->set_cwd(o.cwd);
    start->set_timeout_ms(o.timeout_ms);
    start->set_stdin_closed(o.no_stdin);
    if (o.tty) {
        const terminal::Size size = terminal::window_size().value_or(kDefaultPty);
        start->mutable_pty()->set_rows(size.rows);
        start->mutable_pty()->set_cols(size.cols);
    }
    if (!o.detach) hold_attach_signals();
    const v1::ServerMessage reply = request_reply(socket_path, request);
    if (reply.has_error()) refused_start(reply.error());
    const std::uint32_t pid = reply.process().pid();
    if (o.detach) {
        std::printf("%u\n", pid);
        return 0;
    }
    attach(socket_path, {.session_id = o.id,
                         .pid = pid,
                         .pty = o.tty,
                         .forward_stdin = !o.no_stdin,
                         .eof_closes_stdin = true,
                         .forward_signals = true});
}

// attach: the terminal goes raw only for a process that has one; jaild's answer to ProcessAttach says when
// the pid is unknown.
int attach_command(const std::string& socket_path, const LiveOptions& o) {
    v1::ClientMessage request;
    request.mutable_process_list()->set_session_id(o.id);
    const v1::ServerMessage reply = ask(socket_path, request);
    bool pty = false;
    for (const auto& p : reply.processes().processes()) pty = pty || (p.pid() == o.pid && p.pty() && p.running());
    attach(socket_path, {.session_id = o.id,
                         .pid = o.pid,
                         .live_only = o.live_only,
                         .pty = pty,
                         .resize_at_start = pty,
                         .forward_stdin = true,
                         .eof_closes_stdin = false,
                         .forward_signals = false});
}

int kill(const std::string& socket_path, const LiveOptions& o) {
    const int sig = parse_signal(o.signal);
    if (sig == 0) usage_error("no such signal \"" + o.signal + "\" (a name like SIGTERM or TERM, or a number)");
    v1::ClientMessage request;
    auto* signal = request.mutable_process_signal();
    signal->set_session_id(o.id);
    signal->set_pid(o.pid);
    signal->set_signal(sig);
    ask(socket_path, request);
    return 0;
}

int context(const std::string& socket_path, const LiveOptions& o) {
    v1::ClientMessage request;
    auto* create = request.mutable_context_create();
    create->set_session_id(o.id);
    create->set_language(o.language);
    create->set_cwd(o.cwd);
    put_env(o.env, create->mutable_env());
    std::printf("%s\n", ask(socket_path, request).context().context_id().c_str());
    return 0;
}

// A result's text; then which images it has (a terminal cannot show them), or when it has no text, which
// forms: the API returns them.
void print_result(const v1::CellResult& r) {
    if (!r.text().empty()) write_all(1, r.text().back() == '\n' ? r.text() : r.text() + "\n");
    const bool text = !r.text().empty();
    struct Form {
        const char* name;
        std::size_t size;
        bool image;
    };
    const Form forms[] = {{"png", r.png().size(), true},
                          {"jpeg", r.jpeg().size(), true},
                          {"svg", r.svg().size(), true},
                          {"html", r.html().size(), false},
                          {"markdown", r.markdown().size(), false},
                          {"latex", r.latex().size(), false},
                          {"json", r.json().size(), false},
                          {"javascript", r.javascript().size(), false}};
    std::string shown;
    for (const Form& form : forms)
        if (form.size > 0 && (form.image || !text))
            shown += (shown.empty() ? "" : ", ") + std::string(form.name) + " " + std::to_string(form.size) + " bytes";
    if (!shown.empty()) write_all(1, "[" + shown + "]\n");
}

// Runs one cell: its output as it comes, its results' text on stdout, its error on stderr; exits 1 when it
// raised, else 0.
int cell(const std::string& socket_path, const LiveOptions& o) {
    v1::ClientMessage request;
    auto* run = request.mutable_context_run();
    run->set_session_id(o.id);
    run->set_context_id(o.context_id);
    run->set_code(o.code == "-" ? std::string(std::istreambuf_iterator<char>(std::cin), {}) : o.code);
    run->set_timeout_ms(o.timeout_ms);
    boost::asio::io_context io;
    JaildClient client(io.get_executor());
    open_request(client, socket_path, request);
    bool raised = false;
    for (;;) {
        v1::ServerMessage message;
        if (auto ec = client.receive(message)) die("connection to jaild lost: " + ec.message());
        if (message.has_output()) {
            write_all(message.output().stream() == v1::STREAM_STDERR ? 2 : 1, message.output().data());
        } else if (message.has_cell_result()) {
            print_result(message.cell_result());
        } else if (message.has_cell_error()) {
            const v1::CellError& e = message.cell_error();
            const std::string text = e.traceback().empty() ? e.name() + ": " + e.value() : e.traceback();
            write_all(2, text.back() == '\n' ? text : text + "\n");
            raised = true;
        } else if (message.has_cell_end()) {
            return raised ? 1 : 0;
        } else if (message.has_error()) {
            die(error_text(message.error()));
        }
    }
}

}  // namespace

int parse_signal(const std::string& text) {
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos)
        return text.size() <= 2 && std::atoi(text.c_str()) >= 1 && std::atoi(text.c_str()) < NSIG
                   ? std::atoi(text.c_str())
                   : 0;
    std::string name = text;
    if (name.size() > 3 && ::strncasecmp(name.c_str(), "SIG", 3) == 0) name.erase(0, 3);
    for (int sig = 1; sig < SIGRTMIN; ++sig) {
        const char* abbrev = ::sigabbrev_np(sig);
        if (abbrev && ::strcasecmp(abbrev, name.c_str()) == 0) return sig;
    }
    return 0;
}

void add_live_commands(CLI::App& sessions, LiveOptions& o) {
    CLI::App* exec = sessions.add_subcommand("exec", "start a process in a live session and attach to it");
    exec->add_option("id", o.id, "session id")->required();
    exec->add_flag("-t,--tty", o.tty, "give it a terminal, sized and driven by jailctl's own");
    exec->add_flag("-d,--detach", o.detach, "print its pid and leave it running");
    exec->add_option("--env", o.env, "KEY=VALUE, repeatable")->allow_extra_args(false)->take_all();
    exec->add_option("--cwd", o.cwd, "working directory (default: the session's)");
    exec->add_option("--timeout-ms", o.timeout_ms, "wall-clock limit, then SIGKILL (default: none)");
    exec->add_flag("--no-stdin", o.no_stdin, "start it with its stdin closed");
    exec->add_option("command", o.command, "the command and its arguments, after --");

    sessions.add_subcommand("ps", "a live session's processes")->add_option("id", o.id, "session id")->required();

    CLI::App* attach = sessions.add_subcommand("attach", "a process's output so far and live, and its stdin");
    attach->add_option("id", o.id, "session id")->required();
    attach->add_option("pid", o.pid, "process id (sessions ps)")->required();
    attach->add_flag("--live", o.live_only, "only what it writes from now on");

    CLI::App* kill = sessions.add_subcommand("kill", "send a signal to a process (its whole group)");
    kill->add_option("id", o.id, "session id")->required();
    kill->add_option("pid", o.pid, "process id")->required();
    kill->add_option("-s,--signal", o.signal, "a name (SIGTERM, TERM) or a number; default SIGTERM");

    CLI::App* context = sessions.add_subcommand("context", "a new interpreter context; prints its id");
    context->add_option("id", o.id, "session id")->required();
    context->add_option("-l,--language", o.language, "its language (default python)");
    context->add_option("--cwd", o.cwd, "its working directory (default: the session's)");
    context->add_option("--env", o.env, "KEY=VALUE, repeatable")->allow_extra_args(false)->take_all();

    CLI::App* cell = sessions.add_subcommand("cell", "run code in a context, which keeps its state");
    cell->add_option("id", o.id, "session id")->required();
    cell->add_option("context", o.context_id, "context id (sessions context)")->required();
    cell->add_option("code", o.code, "the code, or - to read it from stdin")->required();
    cell->add_option("--timeout-ms", o.timeout_ms, "then the cell is interrupted (default: none)");
}

std::optional<int> live_command(const std::string& socket_path, const std::string& action, const LiveOptions& o) {
    if (action == "exec") return exec(socket_path, o);
    if (action == "ps") return ps(socket_path, o);
    if (action == "attach") return attach_command(socket_path, o);
    if (action == "kill") return kill(socket_path, o);
    if (action == "context") return context(socket_path, o);
    if (action == "cell") return cell(socket_path, o);
    return std::nullopt;
}

}  // namespace jaild::jailctl
