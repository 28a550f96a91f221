// Live sessions' requests (docs/sessions.md, "Live sessions"): creating one, its deadline, its processes and
// its interpreter contexts. Owns the live sandboxes (one per live session while it is up), bounded by
// sessions.max_live, and ends each one when its session goes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "jaild.pb.h"
#include "jaild/live/live_sandbox.h"

namespace jaild {
class Supervisor;
class SessionService;
}  // namespace jaild

namespace jaild::live {

class LiveService {
public:
    using Send = std::function<boost::asio::awaitable<void>(v1::ServerMessage)>;
    // The client's next message on this connection; nothing once it has gone (or sent garbage).
    using Receive = std::function<boost::asio::awaitable<std::optional<v1::ClientMessage>>()>;

    explicit LiveService(Supervisor& supervisor);
    ~LiveService();

    // Whether `request` is one of ours: a live SessionCreate, SessionSetTimeout, Process*, Context*.
    static bool handles(const v1::ClientMessage& request);
    // Answers it to its end. `sessions` creates the session of a live SessionCreate.
    boost::asio::awaitable<void> handle(const std::string& principal, const v1::ClientMessage& request,
                                        SessionService& sessions, Send send, Receive receive);

    // The session is being destroyed (deleted or expired): its sandbox ends now.
    void session_ended(const std::string& session_id);
    // jaild's shutdown: ends every live sandbox (their files are written back as each ends).
    void stop_all();
    // After the event loop stopped, before it is destroyed: lets go of the sandboxes and timers.
    void clear();
    std::size_t up() const { return sandboxes_.size(); }
    std::size_t processes_running() const;

private:
    boost::asio::awaitable<void> create(const std::string& principal, const v1::ClientMessage& request,
                                        SessionService& sessions, Send& send);
    // The requests answered at once: the deadline, the lists, a context's or a process's control.
    v1::ServerMessage answer(Session& session, const v1::ClientMessage& request);
    v1::ServerMessage context_control(const Session& session, LiveSandbox* sandbox, const v1::ClientMessage& request);
    v1::ServerMessage process_control(const Session& session, LiveSandbox* sandbox, const v1::ClientMessage& request);
    boost::asio::awaitable<void> start_process(std::shared_ptr<Session> session, const v1::ProcessStart& start,
                                               Send& send);
    boost::asio::awaitable<void> create_context(std::shared_ptr<Session> session, const v1::ContextCreate& create,
                                                Send& send);
    boost::asio::awaitable<void> attach(const Session& session, const v1::ProcessAttach& request, Send& send,
                                        Receive& receive);
    // A cell: its context's interpreter started if it is not running, then stream_cell.
    boost::asio::awaitable<void> run_cell(const Session& session, const v1::ContextRun& request, Send& send);
    boost::asio::awaitable<void> stream_cell(LiveSandbox& sandbox, Context& context, const v1::ContextRun& request,
                                             Send& send);
    // What the process wrote since `cursor`, as Output messages (drop markers without data left out); whether
    // there was any.
    boost::asio::awaitable<bool> send_output(Process& process, OutputLog::Cursor& cursor, Send& send,
                                             std::uint64_t until = UINT64_MAX);
    // The session's sandbox, started if it is not up. Null with `code`/`message` on failure.
    boost::asio::awaitable<std::shared_ptr<LiveSandbox>> ensure(std::shared_ptr<Session> session, ErrorCode& code,
                                                                std::string& message);
    std::shared_ptr<LiveSandbox> sandbox_of(const std::string& session_id) const;
    void arm_deadline(const Session& session);
    v1::ServerMessage info(const Session& session) const;

    Supervisor& supervisor_;
    std::map<std::string, std::shared_ptr<LiveSandbox>> sandboxes_;
    std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> deadlines_;
    bool stopped_ = false;
};

}  // namespace jaild::live
