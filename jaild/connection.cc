#include "jaild/connection.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

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
#include "common/requirements.h"
#include "jaild.pb.h"
#include "jaild/file_transfer.h"
#include "jaild/job.h"
#include "jaild/package_steps.h"
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

// A session's name (seed 002's user_id): 1 to 128 printable ASCII characters, spaces included.
bool valid_session_name(const std::string& name) {
    return !name.empty() && name.size() <= kMaxRequestId &&
           std::all_of(name.begin(), name.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

std::string session_id_of(const v1::ClientMessage& m) {
    using K = v1::ClientMessage::KindCase;
    switch (m.kind_case()) {
        case K::kSessionGet: return m.session_get().session_id();
        case K::kSessionDelete: return m.session_delete().session_id();
        case K::kSessionSetEnv: return m.session_set_env().session_id();
        case K::kSessionSetCwd: return m.session_set_cwd().session_id();
        case K::kFileList: return m.file_list().session_id();
        case K::kFileGet: return m.file_get().session_id();
        case K::kFilePut: return m.file_put().session_id();
        case K::kFileDelete: return m.file_delete().session_id();
        default: return {};
    }
}

template <class Map>
std::string check_env(const Map& env) {
    if (env.size() > 1024) return "env has more than 1024 variables";
    for (const auto& [key, value] : env) {
        if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos)
            return "invalid environment variable name \"" + key + "\"";
        if (value.find('\0') != std::string::npos) return "value of " + key + " contains a NUL byte";
    }
    return {};
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

    // GCC 12 coroutines (docs/development.md): views, so callers pass no std::string temporary to co_await
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
        peer_uid_ = cred.uid;
        const bool ok = peer_allowed(cred.uid, peer_groups(socket_.native_handle(), cred.gid),
                                     supervisor_.config().server.allowed_uids, supervisor_.allowed_gids());
        if (!ok) spdlog::warn("refused peer pid {} uid {} gid {}", cred.pid, cred.uid, cred.gid);
        return ok;
    }

    // The next frame, within timeout_ms.
    asio::awaitable<std::error_code> read_frame(std::string& payload, std::uint32_t timeout_ms) {
        asio::steady_timer deadline(socket_.get_executor());
        deadline.expires_after(std::chrono::milliseconds(timeout_ms));
        auto result =
            co_await (framing::async_read_frame(socket_, supervisor_.config().server.max_frame_bytes, payload) ||
                      deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
        if (result.index() == 1) co_return std::make_error_code(std::errc::timed_out);
        co_return std::get<0>(result);
    }

    asio::awaitable<void> handle() {
        if (!authorize()) {
            co_await send_error(v1::ERROR_CODE_PERMISSION_DENIED,
                                "uid " + std::to_string(peer_uid_) +
                                    " is not allowed to use jaild: add it to the socket's group (server.socket_group) "
                                    "or to server.allowed_uids");
            co_return;
        }
        std::string payload;
        if (std::error_code ec = co_await read_frame(payload, supervisor_.config().server.request_timeout_ms)) {
            if (framing::is_eof(ec)) co_return;  // connected and left: nothing to answer
            // GCC 12 coroutines (docs/development.md): the conditional's string is built before the co_await
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
        if (!valid_request_id(request.principal())) {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT,
                                "principal must be at most 128 printable ASCII characters", "principal");
            co_return;
        }
        // A peer's callers (the gateway's) are kept apart from each other and from other peers.
        principal_ =
            "uid:" + std::to_string(peer_uid_) + (request.principal().empty() ? "" : "/" + request.principal());
        co_await dispatch(request);
    }

    asio::awaitable<void> dispatch(const v1::ClientMessage& request) {
        using K = v1::ClientMessage::KindCase;
        switch (request.kind_case()) {
            case K::kRun: co_await run(request.run()); co_return;
            case K::kExecute: co_await execute(request.execute()); co_return;
            case K::kLanguages: co_await languages(); co_return;
            case K::kSessionCreate:
            case K::kSessionGet:
            case K::kSessionList:
            case K::kSessionDelete:
            case K::kSessionSetEnv:
            case K::kSessionSetCwd:
            case K::kFileList:
            case K::kFileGet:
            case K::kFilePut:
                if (request.has_file_get() ? request.file_get().chunked() : request.file_put().chunked()) {
                    co_await transfer(request);
                    co_return;
                }
                [[fallthrough]];
            case K::kFileDelete: {
                v1::ServerMessage reply = co_await session_request(request);
                co_await send(reply);
                co_return;
            }
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
                // A request kind this build's protocol knows but does not serve (a newer client's unknown
                // kind parses as KIND_NOT_SET, above).
                const std::string message = "this jaild does not serve requests of kind " +
                                            std::to_string(static_cast<int>(request.kind_case())) + " yet";
                co_await send_error(v1::ERROR_CODE_UNIMPLEMENTED, message);
                co_return;
            }
        }
    }

    // The caller's session the request names, with its env put under the request's; null when there is none
    // (or it is another principal's).
    template <class Request>
    std::shared_ptr<Session> join_session(Request& request) {
        std::shared_ptr<Session> session = supervisor_.sessions().find(principal_, request.session_id());
        if (session)
            for (const auto& [key, value] : session->meta.env) request.mutable_env()->insert({key, value});
        return session;
    }

    asio::awaitable<void> send_no_session(std::string_view id) {
        const std::string message = "no session \"" + std::string(id) + "\"";
        co_await send_error(v1::ERROR_CODE_NOT_FOUND, message, "session_id");
    }

    asio::awaitable<void> run(const v1::RunRequest& original) {
        const Config& config = supervisor_.config();
        v1::RunRequest request = original;
        std::shared_ptr<Session> session;
        if (!request.session_id().empty()) {
            if (!(session = join_session(request))) {
                co_await send_no_session(request.session_id());
                co_return;
            }
            if (request.cwd().empty()) request.set_cwd(session->meta.cwd);  // unless the request names one
        }
        auto planned = make_run_plan(request, config.limits_default, config.limits_max);
        if (auto* error = std::get_if<PlanError>(&planned)) {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT, error->message, error->field);
            co_return;
        }
        RunPlan plan = std::move(std::get<RunPlan>(planned));
        plan.request_id = request_id_;
        // GCC 12 coroutines (docs/development.md): named, not a temporary in the co_await
        std::optional<RunPlan> no_compile;
        co_await (run_steps(std::move(no_compile), std::move(plan), std::move(session)) || watch_client());
    }

    asio::awaitable<void> execute(const v1::ExecuteRequest& original) {
        const Config& config = supervisor_.config();
        v1::ExecuteRequest request = original;
        std::shared_ptr<Session> session;
        if (!request.session_id().empty() && !(session = join_session(request))) {
            co_await send_no_session(request.session_id());
            co_return;
        }
        auto planned = make_execute_plan(request, supervisor_.languages(), config.limits_default, config.limits_max);
        if (auto* error = std::get_if<PlanError>(&planned)) {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT, error->message, error->field);
            co_return;
        }
        ExecutePlan plan = std::move(std::get<ExecutePlan>(planned));
        plan.run.request_id = request_id_;
        if (plan.compile) plan.compile->request_id = request_id_;
        auto wanted = requirements::parse(request.requirements());
        if (const auto* error = std::get_if<requirements::Error>(&wanted)) {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT, error->message, "requirements");
            co_return;
        }
        if (!request.requirements().empty() && plan.language->name != "python") {
            co_await send_error(v1::ERROR_CODE_INVALID_ARGUMENT, "requirements are for python only", "requirements");
            co_return;
        }
        PackageStore::Requirements list = std::move(std::get<PackageStore::Requirements>(wanted));
        co_await (packages_then_steps(std::move(list), std::move(plan), std::move(session)) || watch_client());
    }

    // A request's requirements (there are none when the text holds only comments) made available to its
    // run (package_steps.h), then its steps.
    asio::awaitable<void> packages_then_steps(PackageStore::Requirements list, ExecutePlan plan,
                                              std::shared_ptr<Session> session) {
        std::shared_ptr<PackageStore::Hold> env;  // held until the run is over: never removed under it
        if (!list.empty()) {
            v1::ServerMessage progress;
            progress.mutable_progress()->set_message("Installing packages...");
            co_await send(progress);
            RunHelper run = [this](RunPlan helper, std::shared_ptr<Lease> lease) {
                return run_helper(std::move(helper), std::move(lease));
            };
            std::function<bool()> gone = [this] { return client_gone_ != KillReason::none; };
            const std::string version = plan.language->version;
            PackagesReady ready =
                co_await prepare_packages(supervisor_, list, plan.run, version, std::move(run), std::move(gone));
            if (ready.code != 0) {
                co_await send_error(ready.code, ready.message, ready.field);
                co_return;
            }
            if (client_gone_ != KillReason::none) co_return;
            if ((env = std::move(ready.env))) use_packages(plan.run, *env, supervisor_.packages());
        }
        co_await run_steps(std::move(plan.compile), std::move(plan.run), std::move(session));
    }

    // One helper sandbox of a request (package_steps.h), killed like its run when the client leaves.
    asio::awaitable<HelperOutcome> run_helper(RunPlan plan, std::shared_ptr<Lease> lease) {
        plan.request_id = request_id_;
        StartError start_error;
        HelperOutcome out;
        std::shared_ptr<Job> job = supervisor_.start(std::move(plan), start_error, std::move(lease));
        if (!job) {
            out.error = start_error.message;
            co_return out;
        }
        Job::Sink keep = [&out](v1::ServerMessage message) -> asio::awaitable<void> {
            const std::string& data = message.output().data();
            constexpr std::size_t cap = 1 << 20;
            out.output.append(data, 0, std::min<std::size_t>(data.size(), cap - std::min(cap, out.output.size())));
            co_return;
        };
        const v1::Exit exit = co_await run_job(job, std::move(keep));
        out.ok = exit.status() == v1::STATUS_OK;
        out.program_error = exit.status() == v1::STATUS_RUNTIME_ERROR;
        out.error = exit.error();
        co_return out;
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
    // the answer only if compiling fails. In a session, the steps wait for the session, run on a copy of its
    // files sized to its quota, and the files are copied back before the answer goes out.
    asio::awaitable<void> run_steps(std::optional<RunPlan> compile, RunPlan program, std::shared_ptr<Session> session) {
        std::shared_ptr<SessionLock> held;
        if (session) {
            held = co_await supervisor_.sessions().lock(session);
            if (session->deleted) {
                co_await send_error(v1::ERROR_CODE_NOT_FOUND, "the session was deleted", "session_id");
                co_return;
            }
        }
        StartError start_error;
        // Steps that share a workspace hold one uid for all of them; a single step takes its own in start(),
        // where it may take a warm sandbox (warm_pool.h) instead.
        std::shared_ptr<Lease> lease;
        if (session || compile) {
            const std::uint64_t bytes = session ? supervisor_.sessions().quota_bytes() : compile->limits.tmp_bytes;
            lease = supervisor_.lease(bytes, start_error);
            if (!lease) {
                co_await send_error(start_error.code, start_error.message);
                co_return;
            }
        }
        if (session) {
            const PlanError error = enter_session(*session, *lease, compile, program);
            if (!error.message.empty()) {
                const int code = error.field.empty() ? v1::ERROR_CODE_INTERNAL : v1::ERROR_CODE_INVALID_ARGUMENT;
                co_await send_error(code, error.message, error.field);
                co_return;
            }
        }
        const std::string transient = program.transient_file;
        v1::ServerMessage last = co_await run_in(std::move(compile), std::move(program), lease);
        if (session) {
            if (!transient.empty()) {
                unique_fd workspace(
                    ::open((lease->workspace() + "/workspace").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
                if (workspace) ::unlinkat(workspace.get(), transient.c_str(), 0);
            }
            if (std::error_code ec = supervisor_.sessions().stage_out(*session, lease->workspace())) {
                spdlog::error("session {}: saving its files failed: {}", session->meta.id, ec.message());
                if (last.has_exit() && last.exit().status() == v1::STATUS_OK) {
                    last.mutable_exit()->set_status(v1::STATUS_INTERNAL_ERROR);
                    last.mutable_exit()->set_error("saving the session's files failed: " + ec.message());
                }
            }
        }
        lease.reset();
        held.reset();
        co_await send(last);
    }

    // The session's files into the run's workspace, the request's files written beneath it (never through
    // a mount operation, which would follow a symlink planted in the session), and its /tmp bound too.
    PlanError enter_session(Session& session, Lease& lease, std::optional<RunPlan>& compile, RunPlan& program) {
        const std::string& root = lease.workspace();
        if (std::error_code ec = supervisor_.sessions().stage_in(session, root, lease.uid()))
            return {"", "copying the session's files into the run failed: " + ec.message()};
        std::error_code ec;
        unique_fd workspace(::open((root + "/workspace").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!workspace) return {"", "opening the run's workspace failed: " + std::string(std::strerror(errno))};
        for (RunPlan* plan : {compile ? &*compile : nullptr, &program}) {
            if (!plan) continue;
            for (const PlanFile& file : plan->files) {
                ec = session_files::write_file(workspace.get(), file.path, file.content, lease.uid(), lease.uid());
                if (!ec && file.executable) {
                    unique_fd written = session_files::open_beneath(workspace.get(), file.path, O_RDONLY, 0, ec);
                    if (written) ::fchmod(written.get(), 0755);
                }
                if (ec == std::errc::no_space_on_device)
                    return {"files", "the files do not fit in the session's quota"};
                if (ec) return {"files", "file \"" + file.path + "\": " + session_files::describe(ec)};
            }
            plan->files.clear();
            plan->workspace_source = root + "/workspace";
            plan->tmp_source = root + "/tmp";
        }
        return {};
    }

    // One request's steps; returns the message that ends it (Exit or Error), which the caller sends.
    asio::awaitable<v1::ServerMessage> run_in(std::optional<RunPlan> compile, RunPlan program,
                                              std::shared_ptr<Lease> lease) {
        StartError start_error;
        if (compile) {
            const std::uint64_t cap = compile->limits.output_bytes;
            std::shared_ptr<Job> job = supervisor_.start(std::move(*compile), start_error, lease);
            if (!job) co_return error_message(start_error.code, start_error.message);
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
                co_await compile_failure(reply, output);
                co_return reply;
            }
        }
        std::shared_ptr<Job> job = supervisor_.start(std::move(program), start_error, lease);
        if (!job) co_return error_message(start_error.code, start_error.message);
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
        if (verdict == RunnerVerdict::no_main)
            co_return error_message(v1::ERROR_CODE_INVALID_ARGUMENT, missing_main_message, "code");
        co_return reply;
    }

    static v1::ServerMessage error_message(int code, std::string_view message, std::string_view field = {}) {
        v1::ServerMessage reply;
        reply.mutable_error()->set_code(static_cast<v1::ErrorCode>(code));
        reply.mutable_error()->set_message(std::string(message));
        reply.mutable_error()->set_field(std::string(field));
        return reply;
    }

    // Sessions and their files: one answer each.
    asio::awaitable<v1::ServerMessage> session_request(const v1::ClientMessage& request) {
        using K = v1::ClientMessage::KindCase;
        SessionStore& store = supervisor_.sessions();
        if (request.kind_case() == K::kSessionCreate) {
            const auto& create = request.session_create();
            if (std::string error = check_env(create.env()); !error.empty())
                co_return error_message(v1::ERROR_CODE_INVALID_ARGUMENT, error, "env");
            if (!create.name().empty() && !valid_session_name(create.name()))
                co_return error_message(v1::ERROR_CODE_INVALID_ARGUMENT,
                                        "name must be 1 to 128 printable ASCII characters", "name");
            SessionError error;
            std::map<std::string, std::string> env(create.env().begin(), create.env().end());
            std::shared_ptr<Session> session = store.create(principal_, env, create.name(), error);
            if (!session) co_return error_message(error.code, error.message, error.field);
            co_return info_message(*session);
        }
        if (request.kind_case() == K::kSessionList) {
            v1::ServerMessage reply;
            reply.mutable_sessions();  // an empty list is still a list
            for (const auto& session : store.list(principal_))
                fill_info(*session, *reply.mutable_sessions()->add_sessions());
            co_return reply;
        }
        const std::string id = session_id_of(request);
        std::shared_ptr<Session> session = store.find(principal_, id);
        if (!session) co_return error_message(v1::ERROR_CODE_NOT_FOUND, "no session \"" + id + "\"", "session_id");
        switch (request.kind_case()) {
            case K::kSessionGet: co_return info_message(*session);  // looking is not using (expiry)
            case K::kSessionDelete: {
                store.remove(session);
                v1::ServerMessage reply;
                reply.mutable_done();
                co_return reply;
            }
            case K::kSessionSetEnv: {
                const auto& change = request.session_set_env();
                if (std::string error = check_env(change.set()); !error.empty())
                    co_return error_message(v1::ERROR_CODE_INVALID_ARGUMENT, error, "env");
                for (const auto& [key, value] : change.set()) session->meta.env[key] = value;
                for (const std::string& key : change.unset()) session->meta.env.erase(key);
                store.touch(*session);
                co_return info_message(*session);
            }
            case K::kSessionSetCwd: {
                const std::string& cwd = request.session_set_cwd().cwd();
                std::string error = check_cwd_path(cwd);
                if (error.empty()) {
                    const Rootfs& rootfs = supervisor_.spawner().rootfs();
                    error = store.check_cwd(*session, cwd, rootfs.templated() ? rootfs.new_root() : std::string());
                }
                if (!error.empty()) co_return error_message(v1::ERROR_CODE_INVALID_ARGUMENT, error, "cwd");
                session->meta.cwd = cwd;
                store.touch(*session);
                co_return info_message(*session);
            }
            default: break;
        }
        // File operations wait for the session like a run does: they never see a run's half-copied files.
        std::shared_ptr<SessionLock> held = co_await store.lock(session);
        if (session->deleted)
            co_return error_message(v1::ERROR_CODE_NOT_FOUND, "the session was deleted", "session_id");
        co_return file_request(request, *session);
    }

    v1::ServerMessage file_request(const v1::ClientMessage& request, Session& session) {
        using K = v1::ClientMessage::KindCase;
        SessionStore& store = supervisor_.sessions();
        if (request.kind_case() == K::kFilePut) return file_transfer::put_whole(store, session, request.file_put());
        if (request.kind_case() == K::kFileGet)
            return file_transfer::get_whole(store, session, request.file_get(),
                                            supervisor_.config().server.max_frame_bytes - 1024);
        std::error_code ec;
        unique_fd workspace = store.open_workspace(session, ec);
        if (!workspace)
            return error_message(v1::ERROR_CODE_INTERNAL, "cannot open the session's workspace: " + ec.message());
        v1::ServerMessage reply;
        if (request.kind_case() == K::kFileList) {
            reply.mutable_files();  // an empty workspace is still a listing
            for (const session_files::Entry& entry : session_files::list(workspace.get())) {
                v1::FileEntry& out = *reply.mutable_files()->add_files();
                out.set_path(entry.path);
                out.set_size(entry.size);
                out.set_type(entry.type);
                out.set_mtime_unix_ms(entry.mtime_ms);
            }
            return reply;
        }
        const std::string& path = request.file_delete().path();
        if (std::string error = check_relative_path(path); !error.empty())
            return error_message(v1::ERROR_CODE_INVALID_ARGUMENT, error, "path");
        ec = session_files::remove(workspace.get(), path);
        store.refresh_usage(session);
        if (ec) return file_transfer::path_error(path, ec);
        reply.mutable_done();
        return reply;
    }

    // A chunked FilePut or FileGet, streamed (file_transfer.h) while this connection holds the session.
    asio::awaitable<void> transfer(const v1::ClientMessage& request) {
        SessionStore& store = supervisor_.sessions();
        const std::string id = session_id_of(request);
        std::shared_ptr<Session> session = store.find(principal_, id);
        if (!session) {
            co_await send_no_session(id);
            co_return;
        }
        std::shared_ptr<SessionLock> held = co_await store.lock(session);
        if (session->deleted) {
            co_await send_error(v1::ERROR_CODE_NOT_FOUND, "the session was deleted", "session_id");
            co_return;
        }
        file_transfer::Channel channel{
            [this](const v1::ServerMessage& message) -> asio::awaitable<void> { co_await send(message); },
            [this](v1::ClientMessage& message) -> asio::awaitable<std::error_code> {
                // A client that sends nothing for as long as one that reads nothing is dropped.
                std::string payload;
                if (auto ec = co_await read_frame(payload, supervisor_.config().server.write_timeout_ms)) co_return ec;
                if (!framing::decode(payload, message)) co_return framing::errc::malformed;
                co_return std::error_code{};
            },
            [this] { return broken_; }};
        if (request.has_file_put())
            co_await file_transfer::upload(channel, store, *session, request.file_put());
        else
            co_await file_transfer::download(channel, store, *session, request.file_get());
    }

    void fill_info(const Session& session, v1::SessionInfo& out) const {
        out.set_session_id(session.meta.id);
        out.set_name(session.meta.name);
        out.set_created_unix_ms(session.meta.created_ms);
        out.set_last_used_unix_ms(session.meta.last_used_ms);
        for (const auto& [key, value] : session.meta.env) (*out.mutable_env())[key] = value;
        out.set_cwd(session.meta.cwd);
        out.set_disk_used_bytes(session.meta.disk_used);
        out.set_files_count(session.meta.files);
        out.set_quota_bytes(supervisor_.sessions().quota_bytes());
        out.set_running(session.busy());
    }

    v1::ServerMessage info_message(const Session& session) const {
        v1::ServerMessage reply;
        fill_info(session, *reply.mutable_session());
        return reply;
    }

    asio::awaitable<void> send_started(const Job& job) {
        started_sent_ = true;
        v1::ServerMessage started;
        started.mutable_started()->set_job_id(job.id());
        started.mutable_started()->set_uid(job.uid());
        co_await send(started);
    }

    // A compile step that did not succeed: the program never runs; the compiler's words are its stderr (sent
    // here) and its error (in the Exit the caller sends).
    asio::awaitable<void> compile_failure(v1::ServerMessage& reply, const std::string& output) {
        v1::Exit& exit = *reply.mutable_exit();
        if (exit.status() == v1::STATUS_CANCELLED || exit.status() == v1::STATUS_INTERNAL_ERROR) co_return;
        if (!output.empty()) {
            v1::ServerMessage message;
            message.mutable_output()->set_stream(v1::STREAM_STDERR);
            message.mutable_output()->set_data(output);
            co_await send(message);
        }
        const std::string why = exit.status() == v1::STATUS_RUNTIME_ERROR ? "" : " (" + exit.error() + ")";
        exit.set_error(output.empty() ? "compilation failed" + why : "compilation failed" + why + ":\n" + output);
        exit.set_status(v1::STATUS_COMPILE_ERROR);
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
    std::uint32_t peer_uid_ = 0;
    std::string principal_;
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
