#include "jaild/live/live_messages.h"

#include <openssl/evp.h>
#include <string.h>

#include <boost/json.hpp>

namespace jaild::live {

namespace json = boost::json;
using K = v1::ClientMessage::KindCase;

namespace {

std::string signal_name(int signal) {
    const char* abbrev = ::sigabbrev_np(signal);
    return std::string("SIG") + (abbrev ? abbrev : "?");
}

std::string string_of(const json::object& o, const char* key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The kernel sends images in base64 (its events are JSON); the protocol carries their bytes.
std::string from_base64(const std::string& text) {
    if (text.empty() || text.size() % 4 != 0) return {};
    std::string out(text.size() / 4 * 3, '\0');
    const int n = ::EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                    reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return {};
    std::size_t padding = 0;
    for (auto it = text.rbegin(); it != text.rend() && *it == '=' && padding < 2; ++it) ++padding;
    out.resize(static_cast<std::size_t>(n) - padding);
    return out;
}

void fill_result(const json::object& o, v1::CellResult& result) {
    result.set_text(string_of(o, "text"));
    result.set_html(string_of(o, "html"));
    result.set_svg(string_of(o, "svg"));
    result.set_markdown(string_of(o, "markdown"));
    result.set_latex(string_of(o, "latex"));
    result.set_json(string_of(o, "json"));
    result.set_javascript(string_of(o, "javascript"));
    result.set_png(from_base64(string_of(o, "png")));
    result.set_jpeg(from_base64(string_of(o, "jpeg")));
    const json::value* main = o.if_contains("is_main_result");
    result.set_is_main_result(main && main->is_bool() && main->as_bool());
}

}  // namespace

std::string session_id_of(const v1::ClientMessage& m) {
    switch (m.kind_case()) {
        case K::kSessionSetTimeout: return m.session_set_timeout().session_id();
        case K::kProcessStart: return m.process_start().session_id();
        case K::kProcessList: return m.process_list().session_id();
        case K::kProcessAttach: return m.process_attach().session_id();
        case K::kProcessInput: return m.process_input().session_id();
        case K::kProcessSignal: return m.process_signal().session_id();
        case K::kProcessResize: return m.process_resize().session_id();
        case K::kContextCreate: return m.context_create().session_id();
        case K::kContextList: return m.context_list().session_id();
        case K::kContextRun: return m.context_run().session_id();
        case K::kContextInterrupt: return m.context_interrupt().session_id();
        case K::kContextRestart: return m.context_restart().session_id();
        case K::kContextDelete: return m.context_delete().session_id();
        default: return {};
    }
}

std::string context_id_of(const v1::ClientMessage& m) {
    switch (m.kind_case()) {
        case K::kContextRun: return m.context_run().context_id();
        case K::kContextInterrupt: return m.context_interrupt().context_id();
        case K::kContextRestart: return m.context_restart().context_id();
        case K::kContextDelete: return m.context_delete().context_id();
        default: return {};
    }
}

std::uint32_t pid_of(const v1::ClientMessage& m) {
    switch (m.kind_case()) {
        case K::kProcessAttach: return m.process_attach().pid();
        case K::kProcessInput: return m.process_input().pid();
        case K::kProcessSignal: return m.process_signal().pid();
        case K::kProcessResize: return m.process_resize().pid();
        default: return 0;
    }
}

void fill_process(const Process& p, v1::ProcessInfo& out) {
    out.set_pid(p.pid);
    out.mutable_argv()->Add(p.argv.begin(), p.argv.end());
    out.set_running(p.running);
    if (!p.running) {
        out.set_exit_code(p.exit_code);
        out.set_signal(p.signal);
        if (p.signal) out.set_signal_name(signal_name(p.signal));
    }
    out.set_pty(p.pty);
    out.set_cwd(p.cwd);
    out.set_started_unix_ms(p.started_ms);
    out.set_context_id(p.context_id);
}

v1::ServerMessage exit_message(const Process& p) {
    v1::ServerMessage reply;
    v1::Exit& exit = *reply.mutable_exit();
    exit.set_exit_code(p.exit_code);
    exit.set_signal(p.signal);
    if (p.signal) exit.set_signal_name(signal_name(p.signal));
    exit.set_wall_ms(static_cast<std::uint64_t>(std::max<std::int64_t>(0, p.ended_ms - p.started_ms)));
    if (p.timed_out) {
        exit.set_status(v1::STATUS_TIMEOUT);
        exit.set_timeout_kind("wall");
        exit.set_error("the process ran past its timeout and was killed");
    } else {
        exit.set_status(p.exit_code == 0 ? v1::STATUS_OK : v1::STATUS_RUNTIME_ERROR);
    }
    return reply;
}

v1::ServerMessage context_message(const Context& c) {
    v1::ServerMessage reply;
    v1::ContextInfo& out = *reply.mutable_context();
    out.set_context_id(c.id);
    out.set_language(c.language);
    out.set_pid(c.kernel && c.kernel->running ? c.kernel->pid : 0);
    out.set_cwd(c.cwd);
    return reply;
}

v1::ServerMessage output_message(OutputLog::Piece piece) {
    v1::ServerMessage out;
    out.mutable_output()->set_stream(piece.stream == Stream::stdout_ ? v1::STREAM_STDOUT : v1::STREAM_STDERR);
    out.mutable_output()->set_dropped(piece.dropped);
    out.mutable_output()->set_data(std::move(piece.data));
    return out;
}

bool cell_message(const std::string& text, v1::ServerMessage& out) {
    boost::system::error_code ec;
    const json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return true;
    const json::object& o = v.as_object();
    const std::string type = string_of(o, "type");
    if (type == "end") {
        const json::value* count = o.if_contains("execution_count");
        out.mutable_cell_end()->set_execution_count(
            count && count->is_int64() ? static_cast<std::uint32_t>(count->as_int64()) : 0);
        return false;
    }
    if (type == "error") {
        v1::CellError& error = *out.mutable_cell_error();
        error.set_name(string_of(o, "name"));
        error.set_value(string_of(o, "value"));
        error.set_traceback(string_of(o, "traceback"));
    } else if (type == "result") {
        fill_result(o, *out.mutable_cell_result());
    }
    return true;
}

v1::ServerMessage interpreter_exited(int exit_code) {
    v1::ServerMessage error;
    error.mutable_cell_error()->set_name("InterpreterExited");
    error.mutable_cell_error()->set_value("the context's interpreter ended (exit code " + std::to_string(exit_code) +
                                          "); the next cell starts a fresh one");
    return error;
}

}  // namespace jaild::live
