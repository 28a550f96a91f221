#include "jaild/connection.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <optional>

#include "common/framing.h"
#include "jaild.pb.h"
#include "jaild/job.h"
#include "jaild/probe.h"
#include "jaild/supervisor.h"

namespace jaild {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using Socket = asio::local::stream_protocol::socket;

namespace {

constexpr std::size_t kMaxRequestId = 128;
constexpr std::size_t kOutQueue = 32;  // frames waiting for a slow client before producers wait too
// Streamed stdin the program has not read yet; past it jaild stops reading the client until it drains.
constexpr std::size_t kStdinBacklog = 4 * 1024 * 1024;

bool valid_request_id(const std::string& id) {
    return id.size() <= kMaxRequestId &&
           std::all_of(id.begin(), id.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

std::vector<std::uint32_t> peer_groups(int fd, gid_t primary) {
    std::vector<std::uint32_t> groups{primary};
    std::vector<gid_t> list(64);
    socklen_t len = static_cast<socklen_t>(list.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, list.data(), &len) == 0)
        groups.insert(groups.end(), list.begin(), list.begin() + len / sizeof(gid_t));
    return groups;
}

class Connection {
public:
    Connection(Supervisor& supervisor, Socket socket)
        : supervisor_(supervisor), socket_(std::move(socket)), out_(socket_.get_executor(), kOutQueue) {}

    asio::awaitable<void> serve() {
        co_await (write_loop() && handle_then_finish());
        boost::system::error_code ignored;
        socket_.shutdown(Socket::shutdown_both, ignored);
        socket_.close(ignored);
    }

private:
    // Named, not temporary: see send_error.
    asio::awaitable<void> send(const v1::ServerMessage& message) {
        std::string frame = framing::encode(message);
        co_await out_.async_send(boost::system::error_code{}, std::move(frame), asio::as_tuple(asio::use_awaitable));
    }

    // Views, not strings: GCC 12 mishandles std::string temporaries inside co_await expressions (see
    // handle()), so callers pass literals or named strings and the copies are made here.
    asio::awaitable<void> send_error(int code, std::string_view message, std::string_view field = {}) {
        spdlog::warn("request {}: {}{}{}", request_id_, message, field.empty() ? "" : " field ", field);
        v1::ServerMessage reply;
        reply.mutable_error()->set_code(static_cast<v1::ErrorCode>(code));
        reply.mutable_error()->set_message(std::string(message));
        reply.mutable_error()->set_field(std::string(field));
        co_await send(reply);
    }

    // The only writer of the socket: frames from every producer go through out_, in order. After a write
    // error (the client left) frames are drained and dropped so producers never block.
    asio::awaitable<void> write_loop() {
        for (;;) {
            auto [ec, frame] = co_await out_.async_receive(asio::as_tuple(asio::use_awaitable));
            if (ec || frame.empty()) co_return;  // an empty frame is the end marker
            if (broken_) continue;
            // A client that stays connected but stops reading would otherwise hold its run (uid, cgroup) for ever.
            asio::steady_timer deadline(socket_.get_executor(),
                                        std::chrono::milliseconds(supervisor_.config().server.write_timeout_ms));
            auto written =
                co_await (asio::async_write(socket_, asio::buffer(frame), asio::as_tuple(asio::use_awaitable)) ||
                          deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
            if (written.index() == 1 || std::get<0>(std::get<0>(written))) {
                if (written.index() == 1) spdlog::warn("request {}: client stopped reading; dropping it", request_id_);
                broken_ = true;
                boost::system::error_code ignored;
                socket_.close(ignored);  // also ends watch_client's read, which cancels a running job
            }
        }
    }

    asio::awaitable<void> handle_then_finish() {
        co_await handle();
        std::string end_marker;
        co_await out_.async_send(boost::system::error_code{}, std::move(end_marker),
                                 asio::as_tuple(asio::use_awaitable));
    }

    bool authorize() {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
        const bool ok = peer_allowed(cred.uid, peer_groups(socket_.native_handle(), cred.gid),
                                     supervisor_.config().server.allowed_uids, supervisor_.allowed_gids());
        if (!ok) spdlog::warn("refused peer pid {} uid {} gid {}", cred.pid, cred.uid, cred.gid);
        return ok;
    }

    // The first frame, within the configured time.
    asio::awaitable<std::error_code> read_request(std::string& payload) {
        asio::steady_timer deadline(socket_.get_executor());
        deadline.expires_after(std::chrono::milliseconds(supervisor_.config().server.request_timeout_ms));
        auto result =
            co_await (framing::async_read_frame(socket_, supervisor_.config().server.max_frame_bytes, payload) ||
                      deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
        if (result.index() == 1) co_return std::make_error_code(std::errc::timed_out);
        co_return std::get<0>(result);
    }

    asio::awaitable<void> handle() {
        if (!authorize()) {
            co_await send_error(v1::ERROR_CODE_PERMISSION_DENIED, "this user is not allowed to use jaild");
            co_return;
        }
        std::string payload;
        if (std::error_code ec = co_await read_request(payload)) {
            if (framing::is_eof(ec)) co_return;  // connected and left: nothing to answer
            // Built before the co_await: GCC 12 destroys a conditional operator's std::string temporary twice
            // when it sits in a co_await expression (a double free that took jaild down on every bad frame).
            const std::string message =
                ec == std::errc::timed_out ? "no request received in time" : "bad frame: " + ec.message();
            co_await send_error(v1::ERROR_CODE_PROTOCOL, message);
            co_return;
        }
        v1::ClientMessage request;
        if (!framing::decode(payload, request)) {
            co_await send_error(v1::ERROR_CODE_PROTOCOL, "frame is not a valid ClientMessage");
            co_return;
        }
        if (!valid_request_id(request.request_id())) {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT,
                                "request_id must be at most 128 printable ASCII characters", "request_id");
            co_return;
        }
        request_id_ = request.request_id().empty() ? "-" : request.request_id();
        co_await dispatch(request);
    }

    asio::awaitable<void> dispatch(const v1::ClientMessage& request) {
        using K = v1::ClientMessage::KindCase;
        switch (request.kind_case()) {
            case K::kRun: co_await run(request.run()); co_return;
            case K::kExecute: co_await execute(request.execute()); co_return;
            case K::kLanguages: co_await languages(); co_return;
            case K::kCheck: {
                v1::ServerMessage reply;
                *reply.mutable_check() =
                    to_proto(probe_host(supervisor_.config(), supervisor_.cgroups(), &supervisor_.spawner()));
                co_await send(reply);
                co_return;
            }
            case K::kStdin:
            case K::kCancel:
            case K::KIND_NOT_SET:
                co_await send_error(v1::ERROR_CODE_PROTOCOL, "the first message must be a request");
                co_return;
            default: {
                const auto* field = request.GetDescriptor()->FindFieldByNumber(static_cast<int>(request.kind_case()));
                const std::string message = "this jaild does not serve " + field->name() + " requests yet";
                co_await send_error(v1::ERROR_CODE_UNIMPLEMENTED, message);
                co_return;
            }
        }
    }

    asio::awaitable<void> run(const v1::RunRequest& request) {
        const Config& config = supervisor_.config();
        auto planned = make_run_plan(request, config.limits_default, config.limits_max);
        if (auto* error = std::get_if<PlanError>(&planned)) {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT, error->message, error->field);
            co_return;
        }
        RunPlan plan = std::move(std::get<RunPlan>(planned));
        plan.request_id = request_id_;
        std::optional<RunPlan> no_compile;  // named: no temporaries inside co_await (GCC 12, see handle())
        co_await (run_steps(std::move(no_compile), std::move(plan)) || watch_client());
    }

    asio::awaitable<void> execute(const v1::ExecuteRequest& request) {
        const Config& config = supervisor_.config();
        auto planned = make_execute_plan(request, supervisor_.languages(), config.limits_default, config.limits_max);
        if (auto* error = std::get_if<PlanError>(&planned)) {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT, error->message, error->field);
            co_return;
        }
        ExecutePlan plan = std::move(std::get<ExecutePlan>(planned));
        plan.run.request_id = request_id_;
        if (plan.compile) plan.compile->request_id = request_id_;
        co_await (run_steps(std::move(plan.compile), std::move(plan.run)) || watch_client());
    }

    asio::awaitable<void> languages() {
        v1::ServerMessage reply;
        for (const Language& language : supervisor_.languages().all()) {
            v1::Language& out = *reply.mutable_languages()->add_languages();
            out.set_name(language.name);
            out.mutable_aliases()->Add(language.aliases.begin(), language.aliases.end());
            out.set_version(language.version);
            out.set_compiled(language.compile.has_value());
        }
        co_await send(reply);
    }

    // The steps of one request under one uid: the compile step when there is one, then the program. The
    // compile step shares the program's workspace (a host-side tmpfs) and its output is kept back: it is
    // the answer only if compiling fails.
    asio::awaitable<void> run_steps(std::optional<RunPlan> compile, RunPlan program) {
        StartError start_error;
        std::shared_ptr<Lease> lease = supervisor_.lease(compile ? compile->limits.tmp_bytes : 0, start_error);
        if (!lease) {
            co_await send_error(start_error.code, start_error.message);
            co_return;
        }
        if (compile) {
            const std::uint64_t cap = compile->limits.output_bytes;
            std::shared_ptr<Job> job = supervisor_.start(std::move(*compile), start_error, lease);
            if (!job) {
                co_await send_error(start_error.code, start_error.message);
                co_return;
            }
            co_await send_started(*job);
            std::string output;  // the compiler's stdout and stderr, in the order they came
            Job::Sink keep = [&output, cap](v1::ServerMessage message) -> asio::awaitable<void> {
                const std::string& data = message.output().data();
                output.append(data, 0, std::min<std::size_t>(data.size(), cap - std::min(cap, output.size())));
                co_return;
            };
            v1::ServerMessage reply;
            *reply.mutable_exit() = co_await run_job(job, std::move(keep));
            job.reset();
            if (reply.exit().status() != v1::STATUS_OK) {
                co_await send_compile_failure(reply, output);
                co_return;
            }
        }
        std::shared_ptr<Job> job = supervisor_.start(std::move(program), start_error, std::move(lease));
        if (!job) {
            co_await send_error(start_error.code, start_error.message);
            co_return;
        }
        if (!started_sent_) co_await send_started(*job);
        stdin_target_ = job;
        for (auto& [data, eof] : pending_stdin_) job->feed_stdin(std::move(data), eof);
        pending_stdin_.clear();
        Job::Sink sink = [this](v1::ServerMessage message) -> asio::awaitable<void> { co_await send(message); };
        v1::ServerMessage reply;
        *reply.mutable_exit() = co_await run_job(job, std::move(sink));
        const RunnerVerdict verdict = job->verdict();
        stdin_target_.reset();
        job.reset();  // its run slot is free before the client can see the Exit and ask for another
        if (verdict == RunnerVerdict::no_main) {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT, missing_main_message, "code");
            co_return;
        }
        co_await send(reply);
    }

    asio::awaitable<void> send_started(const Job& job) {
        started_sent_ = true;
        v1::ServerMessage started;
        started.mutable_started()->set_job_id(job.id());
        started.mutable_started()->set_uid(job.uid());
        co_await send(started);
    }

    // A compile step that did not succeed: the program never runs; the compiler's words are its stderr.
    asio::awaitable<void> send_compile_failure(v1::ServerMessage& reply, const std::string& output) {
        v1::Exit& exit = *reply.mutable_exit();
        if (exit.status() == v1::STATUS_CANCELLED || exit.status() == v1::STATUS_INTERNAL_ERROR) {
            co_await send(reply);
            co_return;
        }
        if (!output.empty()) {
            v1::ServerMessage message;
            message.mutable_output()->set_stream(v1::STREAM_STDERR);
            message.mutable_output()->set_data(output);
            co_await send(message);
        }
        const std::string why = exit.status() == v1::STATUS_RUNTIME_ERROR ? "" : " (" + exit.error() + ")";
        exit.set_error(output.empty() ? "compilation failed" + why : "compilation failed" + why + ":\n" + output);
        exit.set_status(v1::STATUS_COMPILE_ERROR);
        co_await send(reply);
    }

    // One job to its end; the client watcher (running beside run_steps) can kill it meanwhile.
    asio::awaitable<v1::Exit> run_job(std::shared_ptr<Job> job, Job::Sink sink) {
        current_ = job;
        if (client_gone_ != KillReason::none) job->kill(client_gone_);
        v1::Exit exit = co_await job->run(std::move(sink));
        current_.reset();
        spdlog::info("job {}: request {} ended: {} in {} ms", job->id(), request_id_, v1::Status_Name(exit.status()),
                     exit.wall_ms());
        co_return exit;
    }

    // During a request: stdin chunks and Cancel from the client; its leaving (EOF, reset, garbage) cancels
    // the run. Stdin that comes while no program takes it yet (during a compile step) waits for it. Ends
    // only when cancelled, which happens when the request is over.
    asio::awaitable<void> watch_client() {
        asio::steady_timer pause(socket_.get_executor());
        for (;;) {
            // Backpressure: let the program read first (and, before it runs, wait for it).
            while ((stdin_target_ ? stdin_target_->stdin_backlog() : pending_bytes_) > kStdinBacklog) {
                pause.expires_after(std::chrono::milliseconds(5));
                co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
                if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none)
                    co_return;
            }
            std::string payload;
            const std::error_code ec =
                co_await framing::async_read_frame(socket_, supervisor_.config().server.max_frame_bytes, payload);
            // Cancelled means the request is over. An aborted read without cancellation is the socket being
            // closed under us (write deadline): that is the client gone, like EOF.
            if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return;
            v1::ClientMessage message;
            if (ec || !framing::decode(payload, message) || !(message.has_stdin() || message.has_cancel())) {
                spdlog::info("request {}: client left or broke the protocol ({}); killing the run", request_id_,
                             ec ? ec.message() : "unexpected message");
                client_gone_ = KillReason::client_gone;
                if (current_) current_->kill(KillReason::client_gone);
                break;
            }
            if (message.has_cancel()) {
                if (client_gone_ == KillReason::none) client_gone_ = KillReason::cancelled;
                if (current_) current_->kill(KillReason::cancelled);
            }
            if (message.has_stdin()) {
                if (stdin_target_) {
                    stdin_target_->feed_stdin(message.stdin().data(), message.stdin().eof());
                } else {
                    pending_bytes_ += message.stdin().data().size();
                    pending_stdin_.emplace_back(message.stdin().data(), message.stdin().eof());
                }
            }
        }
        asio::steady_timer forever(socket_.get_executor(), asio::steady_timer::time_point::max());
        co_await forever.async_wait(asio::as_tuple(asio::use_awaitable));
    }

    Supervisor& supervisor_;
    Socket socket_;
    asio::experimental::channel<void(boost::system::error_code, std::string)> out_;
    std::string request_id_ = "-";
    bool broken_ = false;
    bool started_sent_ = false;
    std::shared_ptr<Job> current_;       // the step running now (the watcher kills it when the client leaves)
    std::shared_ptr<Job> stdin_target_;  // the program step, once it runs
    std::deque<std::pair<std::string, bool>> pending_stdin_;  // stdin that came before the program started
    std::size_t pending_bytes_ = 0;
    KillReason client_gone_ = KillReason::none;
};

}  // namespace

bool peer_allowed(std::uint32_t uid, const std::vector<std::uint32_t>& groups, const std::vector<std::uint32_t>& uids,
                  const std::vector<std::uint32_t>& gids) {
    if (uid == 0 || std::find(uids.begin(), uids.end(), uid) != uids.end()) return true;
    return std::any_of(groups.begin(), groups.end(),
                       [&](std::uint32_t g) { return std::find(gids.begin(), gids.end(), g) != gids.end(); });
}

asio::awaitable<void> serve_connection(Supervisor& supervisor, Socket socket) {
    supervisor.connection_opened();
    struct Closed {
        Supervisor& supervisor;
        ~Closed() { supervisor.connection_closed(); }
    } closed{supervisor};
    Connection connection(supervisor, std::move(socket));
    co_await connection.serve();
}

}  // namespace jaild
