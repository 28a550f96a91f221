#include "jaild/live/live_service.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "jaild/live/live_messages.h"
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

v1::ServerMessage not_live(const std::string& id) {
    return error_message(ErrorCode::failed_precondition,
                         "session \"" + id + "\" is not live: create one with \"live\": true", "session_id");
}

v1::ServerMessage no_process(const std::string& id, std::uint32_t pid) {
    return error_message(ErrorCode::not_found, fmt::format("no process {} in session \"{}\"", pid, id), "pid");
}

v1::ServerMessage no_context(const std::string& id, const std::string& context) {
    return error_message(ErrorCode::not_found, "no context \"" + context + "\" in session \"" + id + "\"",
                         "context_id");
}

// A ProcessStart as the RunRequest whose argv, env and cwd checks it takes, over the session's env and cwd.
v1::RunRequest as_run(const Session& session, const v1::ProcessStart& start) {
    v1::RunRequest run;
    run.mutable_argv()->CopyFrom(start.argv());
    for (const auto& [key, value] : session.meta.env) (*run.mutable_env())[key] = value;
    for (const auto& [key, value] : start.env()) (*run.mutable_env())[key] = value;
    if (start.has_pty()) run.mutable_env()->insert({"TERM", "xterm-256color"});
    run.set_cwd(start.cwd().empty() ? session.meta.cwd : start.cwd());
    return run;
}

// A timeout a request names, and its field; none when it names none.
std::pair<std::uint64_t, const char*> timeout_of(const v1::ClientMessage& m) {
    switch (m.kind_case()) {
        case K::kSessionCreate: return {m.session_create().timeout_ms(), "timeout_ms"};
        case K::kSessionSetTimeout: return {m.session_set_timeout().timeout_ms(), "timeout_ms"};
        case K::kProcessStart: return {m.process_start().timeout_ms(), "timeout_ms"};
        case K::kContextRun: return {m.context_run().timeout_ms(), "timeout_ms"};
        default: return {0, ""};
    }
}

// A timeout is at most sessions.live_max_s: no sandbox lives longer, and a larger one would overflow.
std::optional<v1::ServerMessage> check_timeout(const v1::ClientMessage& request, std::uint32_t live_max_s) {
    const auto [timeout, field] = timeout_of(request);
    const std::uint64_t most = std::uint64_t{live_max_s} * 1000;
    if (timeout <= most) return std::nullopt;
    return error_message(ErrorCode::invalid_argument,
                         fmt::format("{} {} exceeds the maximum {} (sessions.live_max_s)", field, timeout, most),
                         field);
}

bool valid_size(const v1::PtySize& size) {
    return size.rows() > 0 && size.cols() > 0 && size.rows() <= 1000 && size.cols() <= 1000;
}

// What a ProcessStart asks that its RunPlan does not check; an error reply when it asks wrong.
std::optional<v1::ServerMessage> check_start(const v1::ProcessStart& start) {
    if (!start.user().empty() && start.user() != "user")
        return error_message(
            ErrorCode::invalid_argument,
            "user must be \"user\" (the session's own uid): nothing in a sandbox runs as " + start.user(), "user");
    if (start.has_pty() && !valid_size(start.pty()))
        return error_message(ErrorCode::invalid_argument, "pty rows and cols must be 1 to 1000", "pty");
    return std::nullopt;
}

// The interpreter of a context: IPython in the session's sandbox, its cell channel on fd 3.
StartSpec kernel_spec(const Session& session, const Context& context) {
    StartSpec spec;
    spec.argv = {"python3", "-I", std::string(support_mount) + "/jaild_kernel.py"};
    std::map<std::string, std::string> env = default_run_env();
    for (const auto& [key, value] : session.meta.env) env[key] = value;
    for (const auto& [key, value] : context.env) env[key] = value;
    env["MPLBACKEND"] = "Agg";
    for (const auto& [key, value] : env) spec.env.push_back(key + "=" + value);
    spec.cwd = context.cwd;
    spec.stdin_open = false;  // a cell that reads stdin gets its end at once, never waits for input no one sends
    spec.kernel = true;
    spec.context_id = context.id;
    return spec;
}

}  // namespace

LiveService::LiveService(Supervisor& supervisor) : supervisor_(supervisor) {}
LiveService::~LiveService() = default;

bool LiveService::handles(const v1::ClientMessage& request) {
    if (request.kind_case() == K::kSessionCreate) return request.session_create().live();
    return !session_id_of(request).empty() || request.kind_case() == K::kSessionSetTimeout ||
           (request.kind_case() >= K::kProcessStart && request.kind_case() <= K::kContextDelete);
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

void LiveService::clear() {
    stopped_ = true;
    deadlines_.clear();
    sandboxes_.clear();
}

void LiveService::stop_all() {
    stopped_ = true;
    for (const auto& [id, sandbox] : sandboxes_) sandbox->stop();
    deadlines_.clear();
}

std::shared_ptr<LiveSandbox> LiveService::sandbox_of(const std::string& session_id) const {
    const auto it = sandboxes_.find(session_id);
    return it == sandboxes_.end() || !it->second->up() ? nullptr : it->second;
}

asio::awaitable<std::shared_ptr<LiveSandbox>> LiveService::ensure(std::shared_ptr<Session> session, ErrorCode& code,
                                                                  std::string& message) {
    // GCC 12 coroutines (docs/development.md): one co_return, after the last co_await.
    const std::string id = session->meta.id;
    std::shared_ptr<LiveSandbox> sandbox = sandbox_of(id);
    // With the session held: its files are copied in while no file request writes them, and two requests
    // that both found it down start one sandbox.
    std::shared_ptr<SessionLock> held;
    if (!sandbox) held = co_await supervisor_.sessions().lock(session);
    if (!sandbox) sandbox = sandbox_of(id);
    const std::uint32_t most = supervisor_.config().sessions.max_live;
    if (sandbox) {
    } else if (session->deleted) {
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
    } else {
        sandbox = LiveSandbox::start(
            supervisor_, session,
            [this, id](LiveSandbox& ended) {
                const auto it = sandboxes_.find(id);
                if (it != sandboxes_.end() && it->second.get() == &ended) sandboxes_.erase(it);
            },
            code, message);
        if (sandbox) sandboxes_[id] = sandbox;
    }
    co_return sandbox;
}

void LiveService::arm_deadline(const Session& session) {
    if (stopped_) return;
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
    v1::ServerMessage reply;
    if (most == 0)
        reply = error_message(ErrorCode::failed_precondition,
                              "live sessions are turned off on this jaild (sessions.max_live = 0)", "live");
    else if (sandboxes_.size() >= most)
        reply =
            error_message(ErrorCode::resource_exhausted,
                          fmt::format("jaild runs its maximum of {} live sessions; delete one or retry later", most));
    const std::size_t before = supervisor_.sessions().size();
    if (!reply.has_error()) reply = sessions.session_request(principal, request);
    const bool fresh = supervisor_.sessions().size() > before;
    std::shared_ptr<Session> session =
        reply.has_session() ? supervisor_.sessions().find(principal, reply.session().session_id()) : nullptr;
    const bool was_ordinary = session && !session->meta.live;
    if (was_ordinary) {  // the caller's session of that name, made live now
        const std::uint64_t timeout = request.session_create().timeout_ms();
        session->meta.live = true;
        session->meta.deadline_ms = timeout ? now_ms() + static_cast<std::int64_t>(timeout) : 0;
        supervisor_.sessions().save(*session);
    }
    ErrorCode code = ErrorCode::none;
    std::string message;
    std::shared_ptr<LiveSandbox> sandbox;
    if (session) sandbox = co_await ensure(session, code, message);
    if (session && !sandbox) {
        if (fresh) supervisor_.sessions().remove(session);
        if (was_ordinary) {  // it stays what it was
            session->meta.live = false;
            session->meta.deadline_ms = 0;
            supervisor_.sessions().save(*session);
        }
        reply = error_message(code, message);
    } else if (session) {
        arm_deadline(*session);
        reply = info(*session);
    }
    co_await send(std::move(reply));
}

asio::awaitable<void> LiveService::handle(const std::string& principal, const v1::ClientMessage& request,
                                          SessionService& sessions, Send send, Receive receive) {
    std::optional<v1::ServerMessage> too_long = check_timeout(request, supervisor_.config().sessions.live_max_s);
    if (too_long) {
        co_await send(std::move(*too_long));
        co_return;
    }
    if (request.kind_case() == K::kSessionCreate) {
        co_await create(principal, request, sessions, send);
        co_return;
    }
    const std::string id = session_id_of(request);
    std::shared_ptr<Session> session = supervisor_.sessions().find(principal, id);
    v1::ServerMessage refusal;
    if (!session)
        refusal = SessionService::no_session(id);
    else if (!session->meta.live)
        refusal = not_live(id);
    if (refusal.has_error()) {
        co_await send(std::move(refusal));
        co_return;
    }
    supervisor_.sessions().note_use(*session);
    switch (request.kind_case()) {
        case K::kProcessStart: co_await start_process(session, request.process_start(), send); break;
        case K::kContextCreate: co_await create_context(session, request.context_create(), send); break;
        case K::kContextRun: co_await run_cell(*session, request.context_run(), send); break;
        case K::kProcessAttach: co_await attach(*session, request.process_attach(), send, receive); break;
        default: {
            v1::ServerMessage reply = answer(*session, request);
            co_await send(std::move(reply));
        }
    }
}

v1::ServerMessage LiveService::answer(Session& session, const v1::ClientMessage& request) {
    std::shared_ptr<LiveSandbox> sandbox = sandbox_of(session.meta.id);
    v1::ServerMessage reply;
    switch (request.kind_case()) {
        case K::kSessionSetTimeout: {
            const std::uint64_t timeout = request.session_set_timeout().timeout_ms();
            session.meta.deadline_ms = timeout ? now_ms() + static_cast<std::int64_t>(timeout) : 0;
            supervisor_.sessions().save(session);
            arm_deadline(session);
            return info(session);
        }
        case K::kProcessList:
            reply.mutable_processes();
            if (sandbox)
                for (const auto& process : sandbox->processes())
                    fill_process(*process, *reply.mutable_processes()->add_processes());
            return reply;
        case K::kContextList:
            reply.mutable_contexts();
            if (sandbox)
                for (const auto& context : sandbox->contexts())
                    *reply.mutable_contexts()->add_contexts() = context_message(*context).context();
            return reply;
        case K::kContextInterrupt:
        case K::kContextRestart:
        case K::kContextDelete: return context_control(session, sandbox.get(), request);
        default: return process_control(session, sandbox.get(), request);
    }
}

v1::ServerMessage LiveService::context_control(const Session& session, LiveSandbox* sandbox,
                                               const v1::ClientMessage& request) {
    const std::string context_id = context_id_of(request);
    std::shared_ptr<Context> context = sandbox ? sandbox->find_context(context_id) : nullptr;
    if (!context) return no_context(session.meta.id, context_id);
    const bool running = context->kernel && context->kernel->running;
    if (request.kind_case() == K::kContextInterrupt && running) sandbox->send_signal(context->kernel->pid, SIGINT);
    if (request.kind_case() == K::kContextRestart) {
        if (running) sandbox->send_signal(context->kernel->pid, SIGKILL);
        context->kernel.reset();
    }
    if (request.kind_case() == K::kContextDelete) sandbox->remove_context(context_id);
    return done();
}

v1::ServerMessage LiveService::process_control(const Session& session, LiveSandbox* sandbox,
                                               const v1::ClientMessage& request) {
    const std::uint32_t pid = pid_of(request);
    std::shared_ptr<Process> process = sandbox ? sandbox->find(pid) : nullptr;
    if (!process) return no_process(session.meta.id, pid);
    if (request.has_process_input() && process->running &&
        !sandbox->write_stdin(pid, request.process_input().data(), request.process_input().eof()))
        return error_message(ErrorCode::resource_exhausted,
                             fmt::format("process {} is not reading its input fast enough; retry later", pid), "pid");
    if (request.has_process_signal()) {
        const int signal = request.process_signal().signal();
        if (signal <= 0 || signal >= NSIG)
            return error_message(ErrorCode::invalid_argument, fmt::format("no signal {}", signal), "signal");
        if (process->running) sandbox->send_signal(pid, signal);
    }
    if (request.has_process_resize()) {
        if (!process->pty)
            return error_message(ErrorCode::failed_precondition,
                                 fmt::format("process {} has no terminal to resize", pid), "pid");
        if (!valid_size(request.process_resize().size()))
            return error_message(ErrorCode::invalid_argument, "rows and cols must be 1 to 1000", "size");
        if (process->running)
            sandbox->resize(pid, request.process_resize().size().rows(), request.process_resize().size().cols());
    }
    return done();
}

asio::awaitable<void> LiveService::start_process(std::shared_ptr<Session> session, const v1::ProcessStart& start,
                                                 Send& send) {
    const Config& config = supervisor_.config();
    const v1::RunRequest run = as_run(*session, start);
    std::variant<RunPlan, PlanError> planned = make_run_plan(run, config.limits_default, config.limits_max);
    std::optional<v1::ServerMessage> refused = check_start(start);
    if (const auto* error = std::get_if<PlanError>(&planned))
        refused = error_message(ErrorCode::invalid_argument, error->message,
                                error->field == "argv" ? "command" : error->field);
    ErrorCode code = ErrorCode::none;
    std::string message;
    std::shared_ptr<LiveSandbox> sandbox;
    if (!refused) sandbox = co_await ensure(session, code, message);
    if (!refused && !sandbox) refused = error_message(code, message);
    StartResult started;
    if (!refused) {
        const RunPlan& plan = std::get<RunPlan>(planned);
        StartSpec spec{plan.argv, plan.env,           plan.cwd, std::nullopt, !start.stdin_closed(),
                       false,     start.timeout_ms(), {}};
        if (start.has_pty()) spec.pty = std::make_pair(start.pty().rows(), start.pty().cols());
        started = co_await sandbox->start_process(std::move(spec));
        if (!started.process)
            refused = error_message(started.code, started.message,
                                    started.code == ErrorCode::invalid_argument ? "command" : "");
    }
    v1::ServerMessage reply;
    if (refused)
        reply = std::move(*refused);
    else
        fill_process(*started.process, *reply.mutable_process());
    co_await send(std::move(reply));
}

asio::awaitable<void> LiveService::create_context(std::shared_ptr<Session> session, const v1::ContextCreate& create,
                                                  Send& send) {
    const std::string cwd = create.cwd().empty() ? session->meta.cwd : create.cwd();
    std::optional<v1::ServerMessage> refused;
    if (!create.language().empty() && create.language() != "python" && create.language() != "python3")
        refused = error_message(ErrorCode::invalid_argument,
                                "contexts run python only; \"" + create.language() + "\" is not served", "language");
    else if (std::string error = check_cwd_path(cwd); !error.empty())
        refused = error_message(ErrorCode::invalid_argument, error, "cwd");
    ErrorCode code = ErrorCode::none;
    std::string message;
    std::shared_ptr<LiveSandbox> sandbox;
    if (!refused) sandbox = co_await ensure(session, code, message);
    v1::ServerMessage reply;
    if (refused)
        reply = std::move(*refused);
    else if (!sandbox)
        reply = error_message(code, message);
    else
        reply = context_message(*sandbox->add_context("python", cwd, {create.env().begin(), create.env().end()}));
    co_await send(std::move(reply));
}

asio::awaitable<void> LiveService::attach(const Session& session, const v1::ProcessAttach& request, Send& send,
                                          Receive& receive) {
    std::shared_ptr<LiveSandbox> sandbox = sandbox_of(session.meta.id);
    std::shared_ptr<Process> process = sandbox ? sandbox->find(request.pid()) : nullptr;
    if (!process) {
        v1::ServerMessage refusal = no_process(session.meta.id, request.pid());
        co_await send(std::move(refusal));
        co_return;
    }
    OutputLog::Cursor cursor = request.live_only() ? process->log.end() : process->log.start();
    auto stream = [&]() -> asio::awaitable<void> {
        // Output that came while a send was suspended is read again before the process's end is looked at,
        // and before waiting (a wakeup only reaches a waiter already waiting).
        for (;;) {
            std::vector<OutputLog::Piece> pieces;
            if (!request.no_output()) pieces = process->log.read(cursor);
            for (OutputLog::Piece& piece : pieces) {
                v1::ServerMessage out = output_message(std::move(piece));
                co_await send(std::move(out));
            }
            if (!pieces.empty()) continue;
            if (!process->running) break;
            co_await process->changed.wait();
        }
        v1::ServerMessage exit = exit_message(*process);
        co_await send(std::move(exit));
    };
    // The client's input while attached; it leaving detaches (the process runs on).
    auto input = [&]() -> asio::awaitable<void> {
        for (;;) {
            std::optional<v1::ClientMessage> message = co_await receive();
            if (!message) break;
            if (!process->running) continue;
            // Backpressure: a client typing faster than the process reads waits, its input is not dropped.
            if (message->has_stdin()) co_await sandbox->wait_outbox();
            if (message->has_stdin() && process->running)
                sandbox->write_stdin(process->pid, message->stdin().data(), message->stdin().eof());
            const int signal = message->has_process_signal() ? message->process_signal().signal() : 0;
            if (signal > 0 && signal < NSIG) sandbox->send_signal(process->pid, signal);
            if (message->has_process_resize() && process->pty && valid_size(message->process_resize().size()))
                sandbox->resize(process->pid, message->process_resize().size().rows(),
                                message->process_resize().size().cols());
        }
    };
    co_await (stream() || input());
}

asio::awaitable<void> LiveService::run_cell(const Session& session, const v1::ContextRun& request, Send& send) {
    std::shared_ptr<LiveSandbox> sandbox = sandbox_of(session.meta.id);
    std::shared_ptr<Context> context = sandbox ? sandbox->find_context(request.context_id()) : nullptr;
    if (!context) {
        v1::ServerMessage refusal = no_context(session.meta.id, request.context_id());
        co_await send(std::move(refusal));
        co_return;
    }
    // One cell at a time per context, in arrival order; a context deleted meanwhile runs nothing more.
    while (context->busy) co_await context->freed.wait();
    if (sandbox->find_context(request.context_id()) != context || !sandbox->up()) {
        v1::ServerMessage refusal = no_context(session.meta.id, request.context_id());
        co_await send(std::move(refusal));
        co_return;
    }
    context->busy = true;
    struct Release {
        Context& c;
        ~Release() {
            c.busy = false;
            c.freed.notify();
        }
    } release{*context};
    std::optional<v1::ServerMessage> refused;
    if (!context->kernel || !context->kernel->running) {
        StartSpec spec = kernel_spec(session, *context);
        StartResult started = co_await sandbox->start_process(std::move(spec));
        context->kernel = started.process;
        if (!started.process)
            refused = error_message(started.code == ErrorCode::invalid_argument ? ErrorCode::internal : started.code,
                                    "the context's interpreter did not start: " + started.message);
    }
    if (refused) {
        co_await send(std::move(*refused));
        co_return;
    }
    co_await stream_cell(*sandbox, *context, request, send);
}

asio::awaitable<void> LiveService::stream_cell(LiveSandbox& sandbox, Context& context, const v1::ContextRun& request,
                                               Send& send) {
    std::shared_ptr<Process> kernel = context.kernel;
    OutputLog::Cursor cursor = kernel->log.end();
    kernel->cell_events.clear();
    kernel->cell_event_bytes = 0;
    kernel->cell_open = true;
    sandbox.run_cell(kernel->pid, request.code());
    asio::steady_timer timeout(supervisor_.executor());
    if (request.timeout_ms()) {
        timeout.expires_after(std::chrono::milliseconds(request.timeout_ms()));
        timeout.async_wait([kernel, keep = sandbox.shared_from_this()](boost::system::error_code ec) {
            if (!ec && kernel->running) keep->send_signal(kernel->pid, SIGINT);
        });
    }
    // The agent forwards what a cell wrote before each of its events: each event is sent after the output
    // that came before it, and output after the end belongs to no cell.
    bool ended = false;
    while (!ended) {
        if (!kernel->cell_events.empty()) {
            // What the cell wrote before this event, then the event.
            auto [at, event] = std::move(kernel->cell_events.front());
            kernel->cell_events.pop_front();
            kernel->cell_event_bytes -= event.size();
            co_await send_output(*kernel, cursor, send, at);
            v1::ServerMessage out;
            ended = !cell_message(event, out);
            if (out.kind_case() != v1::ServerMessage::KIND_NOT_SET) co_await send(std::move(out));
            continue;
        }
        // Output that came while a send was suspended is read again before waiting (a wakeup only reaches a
        // waiter already waiting).
        if (co_await send_output(*kernel, cursor, send)) continue;
        if (!kernel->cell_events.empty()) continue;
        if (!kernel->running) {
            v1::ServerMessage error = interpreter_exited(kernel->exit_code);
            co_await send(std::move(error));
            v1::ServerMessage end;
            end.mutable_cell_end();
            co_await send(std::move(end));
            context.kernel.reset();
            break;
        }
        co_await kernel->changed.wait();
    }
    kernel->cell_open = false;
    kernel->cell_events.clear();
    kernel->cell_event_bytes = 0;
    timeout.cancel();
}

asio::awaitable<bool> LiveService::send_output(Process& process, OutputLog::Cursor& cursor, Send& send,
                                               std::uint64_t until) {
    std::vector<OutputLog::Piece> pieces = process.log.read(cursor, until);
    bool sent = false;
    for (OutputLog::Piece& piece : pieces) {
        if (piece.data.empty()) continue;
        v1::ServerMessage out = output_message(std::move(piece));
        co_await send(std::move(out));
        sent = true;
    }
    co_return sent;
}

}  // namespace jaild::live
