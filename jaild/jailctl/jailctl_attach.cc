#include "jaild/jailctl/jailctl_attach.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "common/framing.h"
#include "jaild/jailctl/jailctl_common.h"
#include "jaild/jailctl/terminal.h"

namespace jaild::jailctl {

namespace {

constexpr char kCtrlP = 0x10, kCtrlQ = 0x11;  // Ctrl-P Ctrl-Q detaches from a raw terminal, as in docker

// The attach connection's sending side: the stdin and signal threads both send, the main thread only reads.
class Sender {
public:
    explicit Sender(int fd) : fd_(fd) {}

    void send(const v1::ClientMessage& message) {
        const std::string frame = framing::encode(message);
        const std::lock_guard lock(mutex_);
        std::size_t done = 0;
        while (done < frame.size()) {
            const ssize_t n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;  // jaild closed: the main thread reads why
            done += static_cast<std::size_t>(n);
        }
    }

private:
    int fd_;
    std::mutex mutex_;
};

// Ends jailctl leaving the process running, and says how to come back to it.
[[noreturn]] void detach(const AttachPlan& plan, int code) {
    terminal::restore();
    std::fprintf(stderr, "\njailctl: detached; process %u keeps running (jailctl sessions attach %s %u)\n", plan.pid,
                 plan.session_id.c_str(), plan.pid);
    std::fflush(stderr);
    std::_Exit(code);
}

// Drops the Ctrl-P Ctrl-Q detach sequence from a raw terminal's bytes; a Ctrl-P alone waits for the next key.
std::string filter_detach_keys(const char* data, std::size_t size, bool& pending_ctrl_p, const AttachPlan& plan) {
    std::string out;
    for (std::size_t i = 0; i < size; ++i) {
        if (pending_ctrl_p) {
            pending_ctrl_p = false;
            if (data[i] == kCtrlQ) detach(plan, 0);
            out += kCtrlP;
        }
        if (data[i] == kCtrlP)
            pending_ctrl_p = true;
        else
            out += data[i];
    }
    return out;
}

void forward_stdin(Sender& sender, const AttachPlan& plan, bool raw) {
    std::string buffer(64 * 1024, '\0');
    bool pending_ctrl_p = false;
    v1::ClientMessage message;
    for (;;) {
        const ssize_t n = ::read(0, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (!plan.eof_closes_stdin) return;
            message.mutable_stdin()->Clear();
            message.mutable_stdin()->set_eof(true);
            sender.send(message);
            return;
        }
        const std::size_t size = static_cast<std::size_t>(n);
        const std::string data =
            raw ? filter_detach_keys(buffer.data(), size, pending_ctrl_p, plan) : std::string(buffer.data(), size);
        if (data.empty()) continue;
        message.mutable_stdin()->set_data(data);
        sender.send(message);
    }
}

void send_size(Sender& sender, const AttachPlan& plan) {
    const auto size = terminal::window_size();
    if (!size) return;
    v1::ClientMessage message;
    auto* resize = message.mutable_process_resize();
    resize->set_session_id(plan.session_id);
    resize->set_pid(plan.pid);
    resize->mutable_size()->set_rows(size->rows);
    resize->mutable_size()->set_cols(size->cols);
    sender.send(message);
}

// The signals jailctl handles while attached; blocked in every thread, taken by sigwait in one.
sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH}) sigaddset(&set, sig);
    return set;
}

void handle_signals(Sender& sender, const AttachPlan& plan, sigset_t set) {
    for (;;) {
        int sig = 0;
        if (::sigwait(&set, &sig) != 0) continue;
        if (sig == SIGWINCH) {
            if (plan.pty) send_size(sender, plan);
            continue;
        }
        if (!plan.forward_signals) detach(plan, 128 + sig);
        v1::ClientMessage message;
        auto* signal = message.mutable_process_signal();
        signal->set_session_id(plan.session_id);
        signal->set_pid(plan.pid);
        signal->set_signal(sig);
        sender.send(message);
    }
}

void report_dropped(const v1::Output& output) {
    const char* stream = output.stream() == v1::STREAM_STDERR ? "stderr" : "stdout";
    std::fprintf(stderr, "\r\njailctl: %llu bytes of %s were lost here (the process's buffer was full)\r\n",
                 static_cast<unsigned long long>(output.dropped()), stream);
}

}  // namespace

void hold_attach_signals() {
    const sigset_t signals = handled_signals();
    ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

void attach(const std::string& socket_path, const AttachPlan& plan) {
    boost::asio::io_context io;
    JaildClient client(io.get_executor());
    v1::ClientMessage request;
    auto* attach = request.mutable_process_attach();
    attach->set_session_id(plan.session_id);
    attach->set_pid(plan.pid);
    attach->set_live_only(plan.live_only);
    open_request(client, socket_path, request);

    // Blocked before the threads start, so that they inherit the mask and only sigwait takes these signals.
    hold_attach_signals();
    const sigset_t signals = handled_signals();
    static Sender sender(client.socket().native_handle());  // outlives the detached threads
    const bool raw = plan.pty && terminal::make_raw();
    if (plan.resize_at_start) send_size(sender, plan);
    std::thread(handle_signals, std::ref(sender), plan, signals).detach();
    if (plan.forward_stdin) std::thread(forward_stdin, std::ref(sender), plan, raw).detach();
    for (;;) {
        v1::ServerMessage message;
        if (auto ec = client.receive(message)) die("connection to jaild lost: " + ec.message());
        if (message.has_output()) {
            if (message.output().dropped() > 0) report_dropped(message.output());
            write_all(message.output().stream() == v1::STREAM_STDERR ? 2 : 1, message.output().data());
        } else if (message.has_exit()) {
            terminal::restore();
            const int code = exit_code_of(message.exit());
            std::fflush(stderr);
            std::_Exit(code);  // the stdin thread may be blocked in read(0)
        } else if (message.has_error()) {
            die(error_text(message.error()));
        }
    }
}

}  // namespace jaild::jailctl
