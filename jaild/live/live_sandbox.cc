#include "jaild/live/live_sandbox.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include "jaild/job.h"
#include "jaild/plan_from_request.h"
#include "jaild/sandbox/rootfs.h"
#include "jaild/sessions.h"
#include "jaild/supervisor.h"

namespace jaild::live {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

// How long a request waits for the agent's first word, or for its answer to a start.
constexpr milliseconds kAgentPatience{10'000};
// Output keeps a session in use (its idle TTL), noted at most this often.
constexpr std::int64_t kTouchEveryMs = 1'000;

RunPlan agent_plan(const Config& config, const Session& session, const Lease& lease) {
    const SessionsConfig& live = config.sessions;
    RunPlan plan;
    plan.request_id = "live-" + session.meta.id;
    plan.principal = session.meta.principal;
    plan.argv = {"python3", "-I", "-S", std::string(support_mount) + "/jaild_agent.py"};
    for (const auto& [key, value] : default_run_env()) plan.env.push_back(key + "=" + value);
    plan.cwd = workspace_dir;
    ResolvedLimits& l = plan.limits;
    l.cpu_ms = live.live_cpu_s * 1000;
    l.wall_ms = live.live_max_s * 1000;
    l.memory_bytes = live.live_memory_kb * 1024;
    l.fsize_bytes = config.limits_max.fsize_kb * 1024;
    l.nofile = std::max<std::uint32_t>(config.limits_max.nofile, 1024);
    l.nproc = live.live_nproc;
    l.output_bytes = 1024 * 1024;  // the agent's own diagnostics (its stdout and stderr), logged
    l.tmp_bytes = live.quota_kb * 1024;
    l.stack_bytes = config.limits_default.stack_kb * 1024;
    plan.result_channel = true;
    plan.live = true;
    plan.workspace_source = SessionStore::run_workspace(lease.workspace());
    plan.tmp_source = SessionStore::run_tmp(lease.workspace());
    plan.session_id = session.meta.id;
    return plan;
}

std::string start_payload(const StartSpec& spec) {
    json::object o;
    o["argv"] = json::value_from(spec.argv);
    o["env"] = json::value_from(spec.env);
    o["cwd"] = spec.cwd;
    if (spec.pty)
        o["pty"] = json::object{{"rows", spec.pty->first}, {"cols", spec.pty->second}};
    else
        o["pty"] = nullptr;
    o["stdin"] = spec.stdin_open;
    o["kernel"] = spec.kernel;
    return json::serialize(o);
}

std::optional<json::object> parse_object(const std::string& text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return std::nullopt;
    return std::move(v.as_object());
}

std::int64_t number_or(const json::object& o, const char* key, std::int64_t fallback) {
    const json::value* v = o.if_contains(key);
    if (!v || !v->is_number()) return fallback;
    boost::system::error_code ec;
    const auto n = v->to_number<std::int64_t>(ec);
    return ec ? fallback : n;
}

}  // namespace

asio::awaitable<void> Signal::wait() {
    auto timer = timer_;  // outlives this coroutine's owner if that goes first
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

LiveSandbox::LiveSandbox(Supervisor& supervisor, std::shared_ptr<Session> session, Ended ended)
    : supervisor_(supervisor),
      session_(std::move(session)),
      session_id_(session_->meta.id),
      ended_(std::move(ended)),
      control_(supervisor.executor()),
      outbox_ready_(supervisor.executor()),
      outbox_drained_(supervisor.executor()),
      ready_changed_(supervisor.executor()) {}

LiveSandbox::~LiveSandbox() = default;

std::shared_ptr<LiveSandbox> LiveSandbox::start(Supervisor& supervisor, std::shared_ptr<Session> session, Ended ended,
                                                ErrorCode& code, std::string& message) {
    SessionStore& store = supervisor.sessions();
    StartError error;
    std::shared_ptr<Lease> lease = supervisor.lease(std::max<std::uint64_t>(store.quota_bytes(), 4096), error);
    if (!lease) {
        code = error.code;
        message = error.message;
        return nullptr;
    }
    if (std::error_code ec = store.stage_in(*session, lease->workspace(), lease->uid())) {
        code = ErrorCode::internal;
        message = "copying the session's files into its sandbox failed: " + ec.message();
        return nullptr;
    }
    std::shared_ptr<Job> job = supervisor.start(agent_plan(supervisor.config(), *session, *lease), error, lease);
    if (!job) {
        code = error.code;
        message = error.message;
        return nullptr;
    }
    auto self = std::shared_ptr<LiveSandbox>(new LiveSandbox(supervisor, session, std::move(ended)));
    self->lease_ = std::move(lease);
    self->job_ = std::move(job);
    self->control_.assign(asio::local::stream_protocol(), self->job_->take_control().release());
    session->live_root = self->lease_->workspace();
    session->live_uid = self->lease_->uid();
    const auto executor = supervisor.executor();
    asio::co_spawn(executor, self->run_job(), asio::detached);
    asio::co_spawn(executor, self->read_agent(), asio::detached);
    asio::co_spawn(executor, self->write_agent(), asio::detached);
    spdlog::info("session {}: live sandbox up as uid {} (job {})", self->session_id_, self->uid(), self->job_->id());
    return self;
}

const std::string& LiveSandbox::storage() const { return lease_->workspace(); }
std::uint32_t LiveSandbox::uid() const { return lease_->uid(); }

asio::awaitable<void> LiveSandbox::run_job() {
    auto self = shared_from_this();
    Job::Sink log_agent = [this](v1::ServerMessage message) -> asio::awaitable<void> {
        std::string text = message.output().data();
        while (!text.empty() && text.back() == '\n') text.pop_back();
        spdlog::warn("session {}: agent: {}", session_id_, text);
        co_return;
    };
    const v1::Exit exit = co_await job_->run(std::move(log_agent));
    up_ = false;
    spdlog::info("session {}: live sandbox ended ({}{})", session_id_, v1::Status_Name(exit.status()),
                 exit.error().empty() ? "" : ": " + exit.error());
    boost::system::error_code ignored;
    control_.close(ignored);
    outbox_ready_.notify();
    outbox_drained_.notify();
    end_all();
    job_.reset();
    // Its files go back to the session's disk, unless it was deleted; then the storage is released.
    if (!session_->deleted) {
        std::shared_ptr<SessionLock> held = co_await supervisor_.sessions().lock(session_);
        session_->live_root.clear();
        session_->live_uid = 0;
        if (!session_->deleted) {
            if (std::error_code ec = supervisor_.sessions().stage_out(*session_, lease_->workspace()))
                spdlog::error("session {}: writing its live files back failed: {}", session_id_, ec.message());
        }
    } else {
        session_->live_root.clear();
    }
    lease_.reset();
    if (ended_) ended_(*this);
}

asio::awaitable<void> LiveSandbox::read_agent() {
    auto self = shared_from_this();
    std::string header(header_bytes, '\0');
    for (;;) {
        auto [ec, n] = co_await asio::async_read(control_, asio::buffer(header), asio::as_tuple(asio::use_awaitable));
        if (ec) break;
        const std::optional<std::size_t> length = payload_length(header);
        if (!length) {
            spdlog::error("session {}: the agent sent a malformed frame; ending the sandbox", session_id_);
            break;
        }
        Frame frame{static_cast<FrameType>(static_cast<unsigned char>(header[4])), read_u32(header.substr(5)),
                    std::string(*length, '\0')};
        if (*length > 0) {
            auto [ec2, n2] =
                co_await asio::async_read(control_, asio::buffer(frame.payload), asio::as_tuple(asio::use_awaitable));
            if (ec2) break;
        }
        on_frame(frame);
    }
    // The agent is gone (or spoke nonsense): the sandbox cannot serve anything more.
    stop();
}

asio::awaitable<void> LiveSandbox::write_agent() {
    auto self = shared_from_this();
    while (up_) {
        while (!outbox_.empty() && up_) {
            auto [ec, n] = co_await asio::async_write(control_, asio::buffer(outbox_.front()),
                                                      asio::as_tuple(asio::use_awaitable));
            if (ec) {
                outbox_.clear();
                outbox_bytes_ = 0;
                stop();
                co_return;
            }
            outbox_bytes_ -= outbox_.front().size();
            outbox_.pop_front();
            if (outbox_bytes_ < stdin_backlog) outbox_drained_.notify();
        }
        if (!up_) break;
        co_await outbox_ready_.wait();
    }
}

void LiveSandbox::send(FrameType type, std::uint32_t id, std::string_view payload) {
    if (!up_) return;
    outbox_.push_back(encode_frame(type, id, payload));
    outbox_bytes_ += outbox_.back().size();
    outbox_ready_.notify();
}

void LiveSandbox::on_frame(const Frame& frame) {
    switch (frame.type) {
        case FrameType::ready:
            ready_ = true;
            ready_changed_.notify();
            return;
        case FrameType::started: on_started(frame.id, frame.payload); return;
        case FrameType::stdout_data:
        case FrameType::stderr_data: {
            const auto it = processes_.find(frame.id);
            if (it == processes_.end()) return;
            it->second->log.append(frame.type == FrameType::stdout_data ? Stream::stdout_ : Stream::stderr_,
                                   frame.payload);
            it->second->changed.notify();
            touch_session();
            return;
        }
        case FrameType::exited: on_exit(frame.id, frame.payload); return;
        case FrameType::cell_event: {
            const auto it = processes_.find(frame.id);
            if (it == processes_.end()) return;
            Process& kernel = *it->second;
            // A thread the cell left behind may display() after the cell ended, or without end: nothing
            // reads those, so they are not kept.
            const bool end = frame.payload.find("\"end\"") != std::string::npos;
            if (!kernel.cell_open || (!end && kernel.cell_event_bytes + frame.payload.size() > cell_events_cap)) return;
            kernel.cell_event_bytes += frame.payload.size();
            kernel.cell_events.emplace_back(kernel.log.end().seq, frame.payload);
            kernel.changed.notify();
            touch_session();
            return;
        }
        default: spdlog::warn("session {}: the agent sent an unknown frame type {}", session_id_, int(frame.type));
    }
}

void LiveSandbox::on_started(std::uint32_t request, const std::string& payload) {
    const auto pending = pending_.find(request);
    if (pending == pending_.end()) {
        // Started after its requester gave up waiting: nobody knows it, so it does not run on unseen.
        std::optional<json::object> late = parse_object(payload);
        const std::int64_t pid = late ? number_or(*late, "pid", 0) : 0;
        if (pid > 0) send_signal(static_cast<std::uint32_t>(pid), SIGKILL);
        return;
    }
    Pending& p = pending->second;
    p.answered = true;
    std::optional<json::object> answer = parse_object(payload);
    const std::int64_t pid = answer ? number_or(*answer, "pid", 0) : 0;
    if (pid <= 0) {
        const json::value* error = answer ? answer->if_contains("error") : nullptr;
        p.error = error && error->is_string() ? std::string(error->as_string()) : "the agent did not start it";
        ready_changed_.notify();
        return;
    }
    auto process =
        std::make_shared<Process>(supervisor_.executor(), supervisor_.config().sessions.live_output_kb * 1024);
    process->pid = static_cast<std::uint32_t>(pid);
    process->argv = p.spec.argv;
    process->cwd = p.spec.cwd;
    process->pty = p.spec.pty.has_value();
    process->started_ms = now_ms();
    process->context_id = p.spec.context_id;
    if (p.spec.timeout_ms) {
        process->timeout = std::make_unique<asio::steady_timer>(supervisor_.executor());
        process->timeout->expires_after(milliseconds(p.spec.timeout_ms));
        std::weak_ptr<Process> weak = process;
        process->timeout->async_wait([this, weak, self = weak_from_this()](boost::system::error_code ec) {
            auto alive = self.lock();
            auto proc = weak.lock();
            if (ec || !alive || !proc || !proc->running) return;
            proc->timed_out = true;
            send_signal(proc->pid, SIGKILL);
        });
    }
    processes_[process->pid] = process;
    ++session_->processes_running;
    p.process = process;
    ready_changed_.notify();
}

void LiveSandbox::on_exit(std::uint32_t pid, const std::string& payload) {
    const auto it = processes_.find(pid);
    if (it == processes_.end()) return;
    Process& process = *it->second;
    std::optional<json::object> status = parse_object(payload);
    process.signal = status ? static_cast<int>(number_or(*status, "signal", 0)) : SIGKILL;
    process.exit_code = status ? static_cast<int>(number_or(*status, "exit_code", 128 + process.signal)) : 137;
    if (!process.running) return;
    process.running = false;
    process.ended_ms = now_ms();
    if (session_->processes_running > 0) --session_->processes_running;
    if (process.timeout) process.timeout->cancel();
    process.changed.notify();
    touch_session();
}

void LiveSandbox::end_all() {
    for (auto& [pid, process] : processes_) {
        if (!process->running) continue;
        process->running = false;
        process->signal = SIGKILL;
        process->exit_code = 128 + SIGKILL;
        process->ended_ms = now_ms();
        if (process->timeout) process->timeout->cancel();
        process->changed.notify();
    }
    session_->processes_running = 0;
    ready_changed_.notify();
}

void LiveSandbox::touch_session() {
    const std::int64_t now = now_ms();
    if (now - last_touch_ms_ < kTouchEveryMs) return;
    last_touch_ms_ = now;
    supervisor_.sessions().note_use(*session_);
}

void LiveSandbox::evict_ended() {
    const std::size_t most = supervisor_.config().sessions.live_processes;
    while (processes_.size() >= most) {
        auto oldest = processes_.end();
        for (auto it = processes_.begin(); it != processes_.end(); ++it)
            if (!it->second->running && (oldest == processes_.end() || it->second->ended_ms < oldest->second->ended_ms))
                oldest = it;
        if (oldest == processes_.end()) return;
        processes_.erase(oldest);
    }
}

asio::awaitable<bool> LiveSandbox::wait_until(std::function<bool()> done) {
    auto self = shared_from_this();
    asio::steady_timer patience(supervisor_.executor());
    patience.expires_after(kAgentPatience);
    // Shared with the timer's handler, which may be queued already when this coroutine ends.
    auto expired = std::make_shared<bool>(false);
    patience.async_wait([expired, weak = weak_from_this()](boost::system::error_code ec) {
        auto alive = weak.lock();
        if (ec || !alive) return;
        *expired = true;
        alive->ready_changed_.notify();
    });
    while (!done() && up_ && !*expired) co_await ready_changed_.wait();
    patience.cancel();
    co_return done();
}

asio::awaitable<StartResult> LiveSandbox::start_process(StartSpec spec) {
    // GCC 12 coroutines (docs/development.md): one co_return, after the last co_await.
    auto self = shared_from_this();
    StartResult result;
    evict_ended();
    const std::size_t most = supervisor_.config().sessions.live_processes;
    if (!up_)
        result = {nullptr, ErrorCode::failed_precondition, "the session's sandbox has ended"};
    else if (processes_.size() >= most)
        result = {nullptr, ErrorCode::resource_exhausted,
                  fmt::format("the session runs its maximum of {} processes; wait for one to end", most)};
    bool ready = false;
    std::function<bool()> agent_ready = [this] { return ready_; };
    if (result.code == ErrorCode::none) ready = co_await wait_until(std::move(agent_ready));
    if (result.code == ErrorCode::none && !ready)
        result = {nullptr, ErrorCode::internal, "the session's sandbox did not become ready"};
    std::uint32_t request = 0;
    if (result.code == ErrorCode::none && processes_.size() + pending_.size() >= most)
        result = {nullptr, ErrorCode::resource_exhausted,
                  fmt::format("the session runs its maximum of {} processes; wait for one to end", most)};
    if (result.code == ErrorCode::none) {
        request = ++next_request_;
        const std::string payload = start_payload(spec);
        pending_[request].spec = std::move(spec);
        send(FrameType::start, request, payload);
    }
    bool answered = false;
    std::function<bool()> answered_yet = [this, request] { return pending_[request].answered; };
    if (request) answered = co_await wait_until(std::move(answered_yet));
    if (request) {
        Pending pending = std::move(pending_[request]);
        pending_.erase(request);
        if (pending.process)
            result.process = std::move(pending.process);
        else if (!answered)
            result = {nullptr, ErrorCode::internal, "the session's sandbox did not start it"};
        else
            result = {nullptr, ErrorCode::invalid_argument, std::move(pending.error)};
    }
    co_return result;
}

std::shared_ptr<Process> LiveSandbox::find(std::uint32_t pid) const {
    const auto it = processes_.find(pid);
    return it == processes_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Process>> LiveSandbox::processes() const {
    std::vector<std::shared_ptr<Process>> out;
    for (const auto& [pid, process] : processes_) out.push_back(process);
    return out;
}

std::size_t LiveSandbox::running() const {
    return static_cast<std::size_t>(
        std::count_if(processes_.begin(), processes_.end(), [](const auto& p) { return p.second->running; }));
}

bool LiveSandbox::write_stdin(std::uint32_t pid, std::string data, bool eof) {
    if (outbox_bytes_ >= stdin_backlog) return false;
    for (std::size_t at = 0; at < data.size(); at += max_payload)
        send(FrameType::stdin_data, pid, std::string_view(data).substr(at, max_payload));
    if (eof) send(FrameType::stdin_eof, pid, {});
    return true;
}

asio::awaitable<void> LiveSandbox::wait_outbox() {
    auto self = shared_from_this();
    while (up_ && outbox_bytes_ >= stdin_backlog) co_await outbox_drained_.wait();
}

void LiveSandbox::send_signal(std::uint32_t pid, int signal) {
    send(FrameType::signal, pid, json::serialize(json::object{{"signal", signal}}));
}

void LiveSandbox::resize(std::uint32_t pid, std::uint32_t rows, std::uint32_t cols) {
    send(FrameType::resize, pid, json::serialize(json::object{{"rows", rows}, {"cols", cols}}));
}

void LiveSandbox::run_cell(std::uint32_t pid, const std::string& code) {
    send(FrameType::cell, pid, json::serialize(json::object{{"code", code}}));
}

std::shared_ptr<Context> LiveSandbox::add_context(std::string language, std::string cwd,
                                                  std::map<std::string, std::string> env) {
    auto context = std::make_shared<Context>(supervisor_.executor());
    context->id = fmt::format("ctx-{}", ++next_context_);
    context->language = std::move(language);
    context->cwd = std::move(cwd);
    context->env = std::move(env);
    contexts_[context->id] = context;
    return context;
}

std::shared_ptr<Context> LiveSandbox::find_context(const std::string& id) const {
    const auto it = contexts_.find(id);
    return it == contexts_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Context>> LiveSandbox::contexts() const {
    std::vector<std::shared_ptr<Context>> out;
    for (const auto& [id, context] : contexts_) out.push_back(context);
    return out;
}

void LiveSandbox::remove_context(const std::string& id) {
    const auto it = contexts_.find(id);
    if (it == contexts_.end()) return;
    if (it->second->kernel && it->second->kernel->running) send_signal(it->second->kernel->pid, SIGKILL);
    contexts_.erase(it);
}

void LiveSandbox::stop() {
    if (job_) job_->kill(KillReason::cancelled);
}

}  // namespace jaild::live
