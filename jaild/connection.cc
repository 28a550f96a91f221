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
#include <optional>

#include "common/framing.h"
#include "jaild.pb.h"
#include "jaild/file_transfer.h"
#include "jaild/live/live_service.h"
#include "jaild/probe.h"
#include "jaild/quota_limits.h"
#include "jaild/replies.h"
#include "jaild/request_steps.h"
#include "jaild/session_service.h"
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
// A client attached to a live process may stay silent this long (a day) before jaild drops it.
constexpr std::uint32_t kAttachedIdleMs = 24 * 3600 * 1000;

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
    // GCC 12 coroutines (docs/development.md): callers pass a named message, not a temporary
    asio::awaitable<void> send(const v1::ServerMessage& message) {
        std::string frame = framing::encode(message);
        co_await out_.async_send(boost::system::error_code{}, std::move(frame), asio::as_tuple(asio::use_awaitable));
    }

    // GCC 12 coroutines (docs/development.md): views, so callers pass no std::string temporary to co_await
    asio::awaitable<void> send_error(ErrorCode code, std::string_view message, std::string_view field = {}) {
        spdlog::warn("request {}: {}{}{}", request_id_, message, field.empty() ? "" : " field ", field);
        const v1::ServerMessage reply = error_reply(code, message, field);
        co_await send(reply);
    }

    // Where a request's steps (request_steps.h) send what they produce.
    Job::Sink sender() {
        return [this](v1::ServerMessage message) -> asio::awaitable<void> { co_await send(message); };
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
            // GCC 12 coroutines (docs/development.md): the message is built before the co_await
            const std::string message = "uid " + std::to_string(peer_uid_) +
                                        " is not allowed to use jaild: add it to the socket's group "
                                        "(server.socket_group) or to server.allowed_uids";
            co_await send_error(ErrorCode::permission_denied, message);
            co_return;
        }
        std::string payload;
        if (std::error_code ec = co_await read_frame(payload, supervisor_.config().server.request_timeout_ms)) {
            if (framing::is_eof(ec)) co_return;  // connected and left: nothing to answer
            // GCC 12 coroutines (docs/development.md): the conditional's string is built before the co_await
            const std::string message =
                ec == std::errc::timed_out ? "no request received in time" : "bad frame: " + ec.message();
            co_await send_error(ErrorCode::protocol, message);
            co_return;
        }
        v1::ClientMessage request;
        if (!framing::decode(payload, request)) {
            co_await send_error(ErrorCode::protocol, "frame is not a valid ClientMessage");
            co_return;
        }
        if (!valid_request_id(request.request_id())) {
            co_await send_error(ErrorCode::invalid_argument,
                                "request_id must be at most 128 printable ASCII characters", "request_id");
            co_return;
        }
        request_id_ = request.request_id().empty() ? "-" : request.request_id();
        if (!valid_request_id(request.principal())) {
            co_await send_error(ErrorCode::invalid_argument, "principal must be at most 128 printable ASCII characters",
                                "principal");
            co_return;
        }
        // A peer's callers (the gateway's) are kept apart from each other and from other peers.
        principal_ =
            "uid:" + std::to_string(peer_uid_) + (request.principal().empty() ? "" : "/" + request.principal());
        co_await dispatch(request);
    }

    asio::awaitable<void> dispatch(const v1::ClientMessage& request) {
        using K = v1::ClientMessage::KindCase;
        if (live::LiveService::handles(request)) {
            co_await live_request(request);
            co_return;
        }
        switch (request.kind_case()) {
            case K::kRun: co_await run_steps(request.run(), request.quota()); co_return;
            case K::kExecute: co_await run_steps(request.execute(), request.quota()); co_return;
            case K::kLanguages: co_await languages(); co_return;
            case K::kLimits: {
                v1::ServerMessage reply;
                *reply.mutable_limit_sets() = to_proto(lowered_limits(supervisor_.config(), request.quota()));
                co_await send(reply);
                co_return;
            }
            case K::kNode: {
                v1::ServerMessage reply;
                reply.mutable_node()->set_node_id(supervisor_.config().node.id);
                if (const v1::Isolation* isolation = supervisor_.isolation())
                    *reply.mutable_node()->mutable_isolation() = *isolation;
                co_await send(reply);
                co_return;
            }
            case K::kStats: {
                const v1::ServerMessage reply = stats_reply();
                co_await send(reply);
                co_return;
            }
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
            case K::kFileDelete:
            case K::kFileStat:
            case K::kFileMakeDir:
            case K::kFileMove: {
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
                co_await send_error(ErrorCode::protocol, "the first message must be a request");
                co_return;
            default: {
                // A request kind this build's protocol knows but does not serve (a newer client's unknown
                // kind parses as KIND_NOT_SET, above).
                const std::string message = "this jaild does not serve requests of kind " +
                                            std::to_string(static_cast<int>(request.kind_case())) + " yet";
                co_await send_error(ErrorCode::unimplemented, message);
                co_return;
            }
        }
    }

    // Live sessions (jaild/live/): an attached client sends input for as long as it stays.
    asio::awaitable<void> live_request(const v1::ClientMessage& request) {
        const Rootfs& rootfs = supervisor_.spawner().rootfs();
        SessionService sessions(supervisor_.sessions(), rootfs.templated() ? rootfs.new_root() : std::string(),
                                supervisor_.config().server.max_frame_bytes - 1024);
        live::LiveService::Receive receive = [this]() -> asio::awaitable<std::optional<v1::ClientMessage>> {
            std::string payload;
            if (co_await read_frame(payload, kAttachedIdleMs)) co_return std::nullopt;
            v1::ClientMessage message;
            if (!framing::decode(payload, message)) co_return std::nullopt;
            co_return message;
        };
        live::LiveService::Send send = sender();  // GCC 12 coroutines (docs/development.md): a named local
        co_await supervisor_.live().handle(principal_, request, sessions, std::move(send), std::move(receive));
    }

    // A run or an execute request: made into its steps, which run while the client is watched.
    template <class Request>
    asio::awaitable<void> run_steps(const Request& request, const v1::Quota& quota) {
        RequestSteps steps(supervisor_, request_id_, control_, sender());
        if (std::optional<Refusal> refused = steps.prepare(request, principal_, quota)) {
            co_await send_error(refused->code, refused->message, refused->field);
            co_return;
        }
        co_await (steps.run() || watch_client());
    }

    asio::awaitable<void> send_no_session(std::string_view id) {
        const std::string message = "no session \"" + std::string(id) + "\"";
        co_await send_error(ErrorCode::not_found, message, "session_id");
    }

    // Sessions and their files: one answer each. File operations wait for the session like a run does:
    // they never see a run's half-copied files.
    asio::awaitable<v1::ServerMessage> session_request(const v1::ClientMessage& request) {
        const Rootfs& rootfs = supervisor_.spawner().rootfs();
        SessionService service(supervisor_.sessions(), rootfs.templated() ? rootfs.new_root() : std::string(),
                               supervisor_.config().server.max_frame_bytes - 1024);
        if (!SessionService::is_file_request(request)) co_return service.session_request(principal_, request);
        const std::string id = SessionService::session_id_of(request);
        std::shared_ptr<Session> session = supervisor_.sessions().find(principal_, id);
        if (!session) co_return SessionService::no_session(id);
        std::shared_ptr<SessionLock> held = co_await supervisor_.sessions().lock(session);
        if (session->deleted) co_return error_reply(ErrorCode::not_found, "the session was deleted", "session_id");
        co_return service.file_request(request, *session);
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

    // Counters kept in memory, so a scrape every few seconds costs the loop next to nothing.
    v1::ServerMessage stats_reply() {
        v1::ServerMessage reply;
        v1::Stats& stats = *reply.mutable_stats();
        stats.set_sandboxes_in_flight(static_cast<std::uint32_t>(supervisor_.active()));
        stats.set_sandboxes_warm(static_cast<std::uint32_t>(supervisor_.warm_ready()));
        stats.set_sessions_open(static_cast<std::uint32_t>(supervisor_.sessions().size()));
        stats.set_sessions_disk_bytes(supervisor_.sessions().disk_used());
        stats.set_uids_in_use(supervisor_.uids().in_use());
        stats.set_uids_total(supervisor_.uids().size());
        stats.set_jobs_started(supervisor_.jobs_started());
        stats.set_jobs_finished(supervisor_.jobs_finished());
        stats.set_connections(static_cast<std::uint32_t>(supervisor_.connections()));
        stats.set_zygote_runs(supervisor_.zygote_runs());
        stats.set_sessions_live(static_cast<std::uint32_t>(supervisor_.live().up()));
        stats.set_live_processes(static_cast<std::uint32_t>(supervisor_.live().processes_running()));
        for (const auto& zygote : supervisor_.zygotes()) {
            const Zygote::Counters counters = zygote->counters();
            stats.set_zygotes_ready(stats.zygotes_ready() + (zygote->ready() ? 1 : 0));
            stats.set_zygote_starts(stats.zygote_starts() + counters.starts);
            stats.set_zygote_failures(stats.zygote_failures() + counters.failures);
        }
        return reply;
    }

    // A chunked FilePut or FileGet, streamed (file_transfer.h) while this connection holds the session.
    asio::awaitable<void> transfer(const v1::ClientMessage& request) {
        SessionStore& store = supervisor_.sessions();
        const std::string id = SessionService::session_id_of(request);
        std::shared_ptr<Session> session = store.find(principal_, id);
        if (!session) {
            co_await send_no_session(id);
            co_return;
        }
        std::shared_ptr<SessionLock> held = co_await store.lock(session);
        if (session->deleted) {
            co_await send_error(ErrorCode::not_found, "the session was deleted", "session_id");
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
            co_await file_transfer::upload(channel, store, *session, request.file_put(),
                                           request.quota().max_session_disk_kb());
        else
            co_await file_transfer::download(channel, store, *session, request.file_get());
    }

    // During a request: stdin chunks and Cancel from the client; its leaving (EOF, reset, garbage) cancels
    // the run. Stdin that comes while no program takes it yet (during a compile step) waits for it. Ends
    // only when cancelled, which happens when the request is over.
    asio::awaitable<void> watch_client() {
        asio::steady_timer pause(socket_.get_executor());
        for (;;) {
            // Backpressure: let the program read first (and, before it runs, wait for it).
            while (control_.stdin_backlog() > kStdinBacklog) {
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
                control_.stop(KillReason::client_gone);
                break;
            }
            if (message.has_cancel()) control_.stop(KillReason::cancelled);
            if (message.has_stdin()) control_.feed_stdin(message.stdin().data(), message.stdin().eof());
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
    RunControl control_;  // a run's job and stdin, shared with its steps
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
