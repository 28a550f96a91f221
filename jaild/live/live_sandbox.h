// One live session's sandbox (docs/sessions.md, "Live sessions"): an ordinary sandbox whose program is the
// session agent (languages/support/jaild_agent.py), kept up between requests. jaild talks to the agent over
// the sandbox's fd 3 (agent_frames.h): the agent starts processes and moves their bytes; jaild keeps what
// clients see — each process's output log, its end, the interpreter contexts and their cells.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jaild/error_code.h"
#include "jaild/live/agent_frames.h"
#include "jaild/live/output_log.h"

namespace jaild {
class Job;
class Lease;
class Supervisor;
struct Session;
}  // namespace jaild

namespace jaild::live {

// Wakes every coroutine waiting on it (a steady_timer that never expires, cancelled on each change).
class Signal {
public:
    explicit Signal(boost::asio::any_io_executor executor)
        : timer_(std::make_shared<boost::asio::steady_timer>(executor, boost::asio::steady_timer::time_point::max())) {}
    boost::asio::awaitable<void> wait();
    void notify() { timer_->cancel(); }

private:
    std::shared_ptr<boost::asio::steady_timer> timer_;
};

struct Process {
    Process(boost::asio::any_io_executor executor, std::size_t log_bytes) : log(log_bytes), changed(executor) {}
    std::uint32_t pid = 0;
    std::vector<std::string> argv;
    std::string cwd;
    bool pty = false;
    std::int64_t started_ms = 0;
    std::string context_id;  // the interpreter of this context, if one
    bool running = true;
    int exit_code = 0;
    int signal = 0;
    std::int64_t ended_ms = 0;
    OutputLog log;
    Signal changed;  // output, exit, or a cell event
    // A kernel's CELL_EVENT JSON while a cell is being streamed (cell_open); events outside a cell are dropped,
    // and a cell's events past cell_events_cap bytes are too, but for its end.
    std::deque<std::pair<std::uint64_t, std::string>> cell_events;  // the log's end().seq when it came
    std::size_t cell_event_bytes = 0;
    bool cell_open = false;
    bool timed_out = false;
    std::unique_ptr<boost::asio::steady_timer> timeout;
};

// An interpreter context: its interpreter (a kernel process) starts at its first cell; one cell at a time.
struct Context {
    explicit Context(boost::asio::any_io_executor executor) : freed(executor) {}
    std::string id;
    std::string language;
    std::string cwd;
    std::map<std::string, std::string> env;
    std::shared_ptr<Process> kernel;
    bool busy = false;
    Signal freed;
};

// Bytes of frames queued for the agent, past which stdin is refused (a stopped agent, or a process that does
// not read its input), and the most a cell may queue in events.
inline constexpr std::size_t stdin_backlog = 4 * 1024 * 1024;
inline constexpr std::size_t cell_events_cap = 8 * 1024 * 1024;

struct StartSpec {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // KEY=value, complete
    std::string cwd;
    std::optional<std::pair<std::uint32_t, std::uint32_t>> pty;  // rows, cols
    bool stdin_open = true;
    bool kernel = false;
    std::uint64_t timeout_ms = 0;
    std::string context_id;
};

struct StartResult {
    std::shared_ptr<Process> process;  // null on failure
    ErrorCode code = ErrorCode::none;
    std::string message;
};

class LiveSandbox : public std::enable_shared_from_this<LiveSandbox> {
public:
    using Ended = std::function<void(LiveSandbox&)>;

    // Makes the sandbox for `session` (its files staged into a workspace of the session's quota) and starts
    // the agent. Null with `code`/`message` set on failure. `ended` runs once the sandbox is gone, after its
    // files were written back to the session (unless the session was deleted).
    static std::shared_ptr<LiveSandbox> start(Supervisor& supervisor, std::shared_ptr<Session> session, Ended ended,
                                              ErrorCode& code, std::string& message);
    ~LiveSandbox();

    boost::asio::awaitable<StartResult> start_process(StartSpec spec);
    std::shared_ptr<Process> find(std::uint32_t pid) const;
    std::vector<std::shared_ptr<Process>> processes() const;
    std::size_t running() const;

    // False (nothing queued) when the agent is this far behind already: stdin_backlog bytes not yet written.
    bool write_stdin(std::uint32_t pid, std::string data, bool eof);
    // Waits until what jaild has queued for the agent drops below stdin_backlog (or the sandbox ends).
    boost::asio::awaitable<void> wait_outbox();
    void send_signal(std::uint32_t pid, int signal);
    void resize(std::uint32_t pid, std::uint32_t rows, std::uint32_t cols);
    void run_cell(std::uint32_t pid, const std::string& code);

    // Interpreter contexts (ids are unique per sandbox).
    std::shared_ptr<Context> add_context(std::string language, std::string cwd, std::map<std::string, std::string> env);
    std::shared_ptr<Context> find_context(const std::string& id) const;
    std::vector<std::shared_ptr<Context>> contexts() const;
    void remove_context(const std::string& id);

    // Ends the sandbox and every process in it (delete, expiry, jaild's shutdown).
    void stop();
    bool up() const { return up_; }
    // The host directory holding the session's live storage (workspace/ and tmp/).
    const std::string& storage() const;
    std::uint32_t uid() const;
    const std::string& session_id() const { return session_id_; }

private:
    LiveSandbox(Supervisor& supervisor, std::shared_ptr<Session> session, Ended ended);
    boost::asio::awaitable<void> run_job();
    boost::asio::awaitable<void> read_agent();
    boost::asio::awaitable<void> write_agent();
    void send(FrameType type, std::uint32_t id, std::string_view payload);
    void on_frame(const Frame& frame);
    void on_started(std::uint32_t request, const std::string& payload);
    void on_exit(std::uint32_t pid, const std::string& json);
    void end_all();
    // Waits until done() holds, the sandbox ends, or the agent's patience runs out; returns done().
    boost::asio::awaitable<bool> wait_until(std::function<bool()> done);
    void touch_session();
    void evict_ended();

    Supervisor& supervisor_;
    std::shared_ptr<Session> session_;
    std::string session_id_;
    Ended ended_;
    std::shared_ptr<Lease> lease_;
    std::shared_ptr<Job> job_;
    boost::asio::local::stream_protocol::socket control_;
    std::deque<std::string> outbox_;
    std::size_t outbox_bytes_ = 0;
    Signal outbox_ready_;
    Signal outbox_drained_;
    Signal ready_changed_;
    bool ready_ = false;
    bool up_ = true;
    std::uint32_t next_request_ = 0;
    struct Pending {
        StartSpec spec;
        bool answered = false;
        std::string error;
        std::shared_ptr<Process> process;
    };
    std::map<std::uint32_t, Pending> pending_;
    std::map<std::string, std::shared_ptr<Context>> contexts_;
    std::uint32_t next_context_ = 0;
    std::map<std::uint32_t, std::shared_ptr<Process>> processes_;
    std::int64_t last_touch_ms_ = 0;
};

}  // namespace jaild::live
