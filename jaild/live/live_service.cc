#include "jaild/live/live_service.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>

#include <openssl/evp.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "jaild/plan_from_request.h"
#include "jaild/replies.h"
#include "jaild/sandbox/rootfs.h"
#include "jaild/session_service.h"
#include "jaild/supervisor.h"

namespace jaild::live {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;
using K = v1::ClientMessage::KindCase;

namespace {

v1::ServerMessage error_message(ErrorCode code, const std::string& message, const std::string& field = {}) {
    return error_reply(code, message, field);
}

v1::ServerMessage done() {
    v1::ServerMessage reply;
    reply.mutable_done();
    return reply;
}

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
        if (p.signal)
            out.set_signal_name(std::string("SIG") + (::sigabbrev_np(p.signal) ? ::sigabbrev_np(p.signal) : "?"));
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
    if (p.signal)
        exit.set_signal_name(std::string("SIG") + (::sigabbrev_np(p.signal) ? ::sigabbrev_np(p.signal) : "?"));
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

// A kernel's event (jaild_kernel.py) as the protocol's message; false for the cell's end.
bool cell_message(const std::string& text, v1::ServerMessage& out) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return true;  // never from our kernel; skipped
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
        return true;
    }
    v1::CellResult& result = *out.mutable_cell_result();
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
    return true;
}

}  // namespace

LiveService::LiveService(Supervisor& supervisor) : supervisor_(supervisor) {}
LiveService::~LiveService() = default;

bool LiveService::handles(const v1::ClientMessage& request) {
    if (request.kind_case() == K::kSessionCreate) return request.session_create().live();
    return !session_id_of(request).empty() ||
           (request.kind_case() >= K::kSessionSetTimeout && request.kind_case() <= K::kContextDelete);
}

std::size_t LiveService::processes_running() const {
    std::size_t total = 0;
    for (const auto& [id, sandbox] : sandboxes_) total += sandbox->running();
    return total;
}

void LiveService::session_ended(const std::string& session_id) {
    deadlines_.erase(session_id);
    const auto it = sandboxes_.find(session_id);
    if (it != sandboxes_.end()) it->second->stop();
}

void LiveService::stop_all() {
    for (const auto& [id, sandbox] : sandboxes_) sandbox->stop();
    deadlines_.clear();
}

std::shared_ptr<LiveSandbox> LiveService::sandbox_of(const std::string& session_id) const {
    const auto it = sandboxes_.find(session_id);
    return it == sandboxes_.end() || !it->second->up() ? nullptr : it->second;
}

asio::awaitable<std::shared_ptr<LiveSandbox>> LiveService::ensure(std::shared_ptr<Session> session, ErrorCode& code,
                                                                  std::string& message) {
    const std::string id = session->meta.id;
    if (auto up = sandbox_of(id)) co_return up;
    // With the session held: its files are copied in while no file request writes them, and two requests
    // that both found it down start one sandbox.
    std::shared_ptr<SessionLock> held = co_await supervisor_.sessions().lock(session);
    if (auto up = sandbox_of(id)) co_return up;
    const std::uint32_t most = supervisor_.config().sessions.max_live;
    if (session->deleted) {
        code = ErrorCode::not_found;
        message = "the session was deleted";
    } else if (most == 0) {
        code = ErrorCode::failed_precondition;
        message = "live sessions are turned off on this jaild (sessions.max_live = 0)";
    } else if (sandboxes_.size() >= most) {
        code = ErrorCode::resource_exhausted;
        message = fmt::format("jaild runs its maximum of {} live sessions; delete one or retry later", most);
    } else if (!session->live_root.empty()) {  // its last sandbox is still writing its files back
        code = ErrorCode::resource_exhausted;
        message = "the session's previous sandbox is still ending; retry in a moment";
    }
    if (code != ErrorCode::none) co_return nullptr;
    auto sandbox = LiveSandbox::start(
        supervisor_, session,
        [this, id](LiveSandbox& ended) {
            const auto it = sandboxes_.find(id);
            if (it != sandboxes_.end() && it->second.get() == &ended) sandboxes_.erase(it);
        },
        code, message);
    if (sandbox) sandboxes_[id] = sandbox;
    co_return sandbox;
}

void LiveService::arm_deadline(const Session& session) {
    const std::string id = session.meta.id;
    if (session.meta.deadline_ms == 0) {
        deadlines_.erase(id);
        return;
    }
    auto& timer = deadlines_[id];
    if (!timer) timer = std::make_unique<asio::steady_timer>(supervisor_.executor());
    timer->expires_after(std::chrono::milliseconds(std::max<std::int64_t>(0, session.meta.deadline_ms - now_ms())));
    timer->async_wait([this, id](boost::system::error_code ec) {
        if (ec) return;
        std::shared_ptr<Session> session = supervisor_.sessions().find_any(id);
        if (!session || session->meta.deadline_ms == 0 || session->meta.deadline_ms > now_ms()) return;
        spdlog::info("session {} reached its deadline", id);
        supervisor_.sessions().remove(session);
    });
}

v1::ServerMessage LiveService::info(const Session& session) const {
    v1::ServerMessage reply;
    const SessionStore& store = supervisor_.sessions();
    fill_session_info(session, store.quota_bytes(), store.config().ttl_s, *reply.mutable_session());
    return reply;
}

asio::awaitable<void> LiveService::create(const std::string& principal, const v1::ClientMessage& request,
                                          SessionService& sessions, Send& send) {
    const std::uint32_t most = supervisor_.config().sessions.max_live;
    if (most == 0) {
        co_await send(error_message(ErrorCode::failed_precondition,
                                    "live sessions are turned off on this jaild (sessions.max_live = 0)", "live"));
        co_return;
    }
    if (sandboxes_.size() >= most) {
        co_await send(
            error_message(ErrorCode::resource_exhausted,
                          fmt::format("jaild runs its maximum of {} live sessions; delete one or retry later", most)));
        co_return;
    }
    const std::size_t before = supervisor_.sessions().size();
    v1::ServerMessage created = sessions.session_request(principal, request);
    if (!created.has_session()) {
        co_await send(created);
        co_return;
    }
    std::shared_ptr<Session> session = supervisor_.sessions().find(principal, created.session().session_id());
    const bool fresh = supervisor_.sessions().size() > before;
    if (!fresh) {  // the caller's session of that name, made live now
        const std::uint64_t timeout = request.session_create().timeout_ms();
        session->meta.live = true;
        session->meta.deadline_ms = timeout ? now_ms() + static_cast<std::int64_t>(timeout) : 0;
        supervisor_.sessions().save(*session);
    }
    ErrorCode code = ErrorCode::none;
    std::string message;
    if (!co_await ensure(session, code, message)) {
        if (fresh) supervisor_.sessions().remove(session);
        co_await send(error_message(code, message));
        co_return;
    }
    arm_deadline(*session);
    co_await send(info(*session));
}

asio::awaitable<void> LiveService::handle(const std::string& principal, const v1::ClientMessage& request,
                                          SessionService& sessions, Send send, Receive receive) {
    if (request.kind_case() == K::kSessionCreate) {
        co_await create(principal, request, sessions, send);
        co_return;
    }
    const std::string id = session_id_of(request);
    std::shared_ptr<Session> session = supervisor_.sessions().find(principal, id);
    if (!session) {
        co_await send(SessionService::no_session(id));
        co_return;
    }
    if (!session->meta.live) {
        co_await send(error_message(ErrorCode::failed_precondition,
                                    "session \"" + id + "\" is not live: create one with \"live\": true",
                                    "session_id"));
        co_return;
    }
    supervisor_.sessions().note_use(*session);
    std::shared_ptr<LiveSandbox> sandbox = sandbox_of(id);
    const auto no_process = [&](std::uint32_t pid) {
        return error_message(ErrorCode::not_found, fmt::format("no process {} in session \"{}\"", pid, id), "pid");
    };
    const auto no_context = [&](const std::string& context) {
        return error_message(ErrorCode::not_found, "no context \"" + context + "\" in session \"" + id + "\"",
                             "context_id");
    };
    switch (request.kind_case()) {
        case K::kSessionSetTimeout: {
            const std::uint64_t timeout = request.session_set_timeout().timeout_ms();
            session->meta.deadline_ms = timeout ? now_ms() + static_cast<std::int64_t>(timeout) : 0;
            supervisor_.sessions().save(*session);
            arm_deadline(*session);
            co_await send(info(*session));
            co_return;
        }
        case K::kProcessStart: co_await start_process(*session, request.process_start(), send); co_return;
        case K::kProcessList: {
            v1::ServerMessage reply;
            reply.mutable_processes();
            if (sandbox)
                for (const auto& process : sandbox->processes())
                    fill_process(*process, *reply.mutable_processes()->add_processes());
            co_await send(reply);
            co_return;
        }
        case K::kContextList: {
            v1::ServerMessage reply;
            reply.mutable_contexts();
            if (sandbox)
                for (const auto& context : sandbox->contexts())
                    *reply.mutable_contexts()->add_contexts() = context_message(*context).context();
            co_await send(reply);
            co_return;
        }
        case K::kContextCreate: {
            const auto& create = request.context_create();
            if (!create.language().empty() && create.language() != "python" && create.language() != "python3") {
                co_await send(error_message(ErrorCode::invalid_argument,
                                            "contexts run python only; \"" + create.language() + "\" is not served",
                                            "language"));
                co_return;
            }
            const std::string cwd = create.cwd().empty() ? session->meta.cwd : create.cwd();
            if (std::string error = check_cwd_path(cwd); !error.empty()) {
                co_await send(error_message(ErrorCode::invalid_argument, error, "cwd"));
                co_return;
            }
            ErrorCode code = ErrorCode::none;
            std::string message;
            if (!(sandbox = co_await ensure(session, code, message))) {
                co_await send(error_message(code, message));
                co_return;
            }
            auto context = sandbox->add_context("python", cwd, {create.env().begin(), create.env().end()});
            co_await send(context_message(*context));
            co_return;
        }
        default: break;
    }
    if (request.kind_case() == K::kContextRun) {
        co_await run_cell(*session, request.context_run(), send);
        co_return;
    }
    // The rest name a process or a context of the sandbox that is up now.
    const std::string context_id = context_id_of(request);
    if (!context_id.empty() || request.kind_case() >= K::kContextCreate) {
        std::shared_ptr<Context> context = sandbox ? sandbox->find_context(context_id) : nullptr;
        if (!context) {
            co_await send(no_context(context_id));
            co_return;
        }
        if (request.kind_case() == K::kContextInterrupt && context->kernel && context->kernel->running)
            sandbox->send_signal(context->kernel->pid, SIGINT);
        if (request.kind_case() == K::kContextRestart && context->kernel && context->kernel->running) {
            sandbox->send_signal(context->kernel->pid, SIGKILL);
            context->kernel.reset();
        }
        if (request.kind_case() == K::kContextDelete) sandbox->remove_context(context_id);
        co_await send(done());
        co_return;
    }
    const std::uint32_t pid = pid_of(request);
    std::shared_ptr<Process> process = sandbox ? sandbox->find(pid) : nullptr;
    if (!process) {
        co_await send(no_process(pid));
        co_return;
    }
    switch (request.kind_case()) {
        case K::kProcessAttach: co_await attach(*sandbox, request.process_attach(), send, receive); co_return;
        case K::kProcessInput:
            if (process->running)
                sandbox->write_stdin(pid, request.process_input().data(), request.process_input().eof());
            break;
        case K::kProcessSignal: {
            const int signal = request.process_signal().signal();
            if (signal <= 0 || signal >= NSIG) {
                co_await send(
                    error_message(ErrorCode::invalid_argument, fmt::format("no signal {}", signal), "signal"));
                co_return;
            }
            if (process->running) sandbox->send_signal(pid, signal);
            break;
        }
        case K::kProcessResize: {
            const auto& size = request.process_resize().size();
            if (!process->pty) {
                co_await send(error_message(ErrorCode::failed_precondition,
                                            fmt::format("process {} has no terminal to resize", pid), "pid"));
                co_return;
            }
            if (size.rows() == 0 || size.cols() == 0 || size.rows() > 1000 || size.cols() > 1000) {
                co_await send(error_message(ErrorCode::invalid_argument, "rows and cols must be 1 to 1000", "size"));
                co_return;
            }
            if (process->running) sandbox->resize(pid, size.rows(), size.cols());
            break;
        }
        default: break;
    }
    co_await send(done());
}

asio::awaitable<void> LiveService::start_process(Session& session, const v1::ProcessStart& start, Send& send) {
    // The same checks as a /run's argv, env and cwd, over the session's env and cwd.
    v1::RunRequest as_run;
    as_run.mutable_argv()->CopyFrom(start.argv());
    for (const auto& [key, value] : session.meta.env) (*as_run.mutable_env())[key] = value;
    for (const auto& [key, value] : start.env()) (*as_run.mutable_env())[key] = value;
    if (start.has_pty()) (*as_run.mutable_env()).insert({"TERM", "xterm-256color"});
    as_run.set_cwd(start.cwd().empty() ? session.meta.cwd : start.cwd());
    const Config& config = supervisor_.config();
    auto planned = make_run_plan(as_run, config.limits_default, config.limits_max);
    if (auto* error = std::get_if<PlanError>(&planned)) {
        co_await send(error_message(ErrorCode::invalid_argument, error->message,
                                    error->field == "argv" ? "command" : error->field));
        co_return;
    }
    if (!start.user().empty() && start.user() != "user") {
        co_await send(error_message(
            ErrorCode::invalid_argument,
            "user must be \"user\" (the session's own uid): nothing in a sandbox runs as " + start.user(), "user"));
        co_return;
    }
    if (start.has_pty() && (start.pty().rows() == 0 || start.pty().cols() == 0 || start.pty().rows() > 1000 ||
                            start.pty().cols() > 1000)) {
        co_await send(error_message(ErrorCode::invalid_argument, "pty rows and cols must be 1 to 1000", "pty"));
        co_return;
    }
    RunPlan plan = std::move(std::get<RunPlan>(planned));
    std::shared_ptr<Session> held = supervisor_.sessions().find_any(session.meta.id);
    ErrorCode code = ErrorCode::none;
    std::string message;
    std::shared_ptr<LiveSandbox> sandbox = co_await ensure(held, code, message);
    if (!sandbox) {
        co_await send(error_message(code, message));
        co_return;
    }
    StartSpec spec{plan.argv, plan.env, plan.cwd, std::nullopt, !start.stdin_closed(), false, start.timeout_ms(), {}};
    if (start.has_pty()) spec.pty = std::make_pair(start.pty().rows(), start.pty().cols());
    StartResult started = co_await sandbox->start_process(std::move(spec));
    if (!started.process) {
        co_await send(
            error_message(started.code, started.message, started.code == ErrorCode::invalid_argument ? "command" : ""));
        co_return;
    }
    v1::ServerMessage reply;
    fill_process(*started.process, *reply.mutable_process());
    co_await send(reply);
}

asio::awaitable<void> LiveService::attach(LiveSandbox& sandbox, const v1::ProcessAttach& request, Send& send,
                                          Receive& receive) {
    std::shared_ptr<Process> process = sandbox.find(request.pid());
    auto keep = sandbox.shared_from_this();
    OutputLog::Cursor cursor = request.live_only() ? process->log.end() : process->log.start();
    auto stream = [&]() -> asio::awaitable<void> {
        for (;;) {
            if (!request.no_output()) {
                for (OutputLog::Piece& piece : process->log.read(cursor)) {
                    v1::ServerMessage out;
                    out.mutable_output()->set_stream(piece.stream == Stream::stdout_ ? v1::STREAM_STDOUT
                                                                                     : v1::STREAM_STDERR);
                    out.mutable_output()->set_dropped(piece.dropped);
                    out.mutable_output()->set_data(std::move(piece.data));
                    co_await send(std::move(out));
                }
            }
            if (!process->running) {
                co_await send(exit_message(*process));
                co_return;
            }
            co_await process->changed.wait();
        }
    };
    // The client's input while attached; it leaving detaches (the process runs on).
    auto input = [&]() -> asio::awaitable<void> {
        for (;;) {
            std::optional<v1::ClientMessage> message = co_await receive();
            if (!message) co_return;
            if (!process->running) continue;
            if (message->has_stdin())
                sandbox.write_stdin(process->pid, message->stdin().data(), message->stdin().eof());
            if (message->has_process_signal() && message->process_signal().signal() > 0 &&
                message->process_signal().signal() < NSIG)
                sandbox.send_signal(process->pid, message->process_signal().signal());
            if (message->has_process_resize() && process->pty) {
                const auto& size = message->process_resize().size();
                if (size.rows() > 0 && size.cols() > 0 && size.rows() <= 1000 && size.cols() <= 1000)
                    sandbox.resize(process->pid, size.rows(), size.cols());
            }
        }
    };
    co_await (stream() || input());
}

asio::awaitable<void> LiveService::run_cell(Session& session, const v1::ContextRun& request, Send& send) {
    std::shared_ptr<LiveSandbox> sandbox = sandbox_of(session.meta.id);
    std::shared_ptr<Context> context = sandbox ? sandbox->find_context(request.context_id()) : nullptr;
    if (!context) {
        co_await send(error_message(
            ErrorCode::not_found, "no context \"" + request.context_id() + "\" in session \"" + session.meta.id + "\"",
            "context_id"));
        co_return;
    }
    // One cell at a time per context, in arrival order.
    while (context->busy) co_await context->freed.wait();
    context->busy = true;
    struct Release {
        Context& c;
        ~Release() {
            c.busy = false;
            c.freed.notify();
        }
    } release{*context};
    if (!context->kernel || !context->kernel->running) {
        StartSpec spec;
        spec.argv = {"python3", "-I", std::string(support_mount) + "/jaild_kernel.py"};
        std::map<std::string, std::string> env = default_run_env();
        for (const auto& [key, value] : session.meta.env) env[key] = value;
        for (const auto& [key, value] : context->env) env[key] = value;
        env["MPLBACKEND"] = "Agg";
        for (const auto& [key, value] : env) spec.env.push_back(key + "=" + value);
        spec.cwd = context->cwd;
        spec.kernel = true;
        spec.context_id = context->id;
        StartResult started = co_await sandbox->start_process(std::move(spec));
        if (!started.process) {
            co_await send(
                error_message(started.code == ErrorCode::invalid_argument ? ErrorCode::internal : started.code,
                              "the context's interpreter did not start: " + started.message));
            co_return;
        }
        context->kernel = started.process;
    }
    std::shared_ptr<Process> kernel = context->kernel;
    OutputLog::Cursor cursor = kernel->log.end();
    kernel->cell_events.clear();
    sandbox->run_cell(kernel->pid, request.code());
    asio::steady_timer timeout(supervisor_.executor());
    if (request.timeout_ms()) {
        timeout.expires_after(std::chrono::milliseconds(request.timeout_ms()));
        timeout.async_wait([kernel, sandbox](boost::system::error_code ec) {
            if (!ec && kernel->running) sandbox->send_signal(kernel->pid, SIGINT);
        });
    }
    for (;;) {
        for (OutputLog::Piece& piece : kernel->log.read(cursor)) {
            if (piece.data.empty()) continue;
            v1::ServerMessage out;
            out.mutable_output()->set_stream(piece.stream == Stream::stdout_ ? v1::STREAM_STDOUT : v1::STREAM_STDERR);
            out.mutable_output()->set_dropped(piece.dropped);
            out.mutable_output()->set_data(std::move(piece.data));
            co_await send(std::move(out));
        }
        bool ended = false;
        while (!kernel->cell_events.empty() && !ended) {
            v1::ServerMessage out;
            ended = !cell_message(kernel->cell_events.front(), out);
            kernel->cell_events.pop_front();
            if (out.kind_case() != v1::ServerMessage::KIND_NOT_SET) co_await send(std::move(out));
        }
        if (ended) break;
        if (!kernel->running) {
            v1::ServerMessage error;
            error.mutable_cell_error()->set_name("InterpreterExited");
            error.mutable_cell_error()->set_value(fmt::format(
                "the context's interpreter ended (exit code {}); the next cell starts a fresh one", kernel->exit_code));
            co_await send(std::move(error));
            v1::ServerMessage end;
            end.mutable_cell_end();
            co_await send(std::move(end));
            context->kernel.reset();
            break;
        }
        co_await kernel->changed.wait();
    }
    timeout.cancel();
}

}  // namespace jaild::live
