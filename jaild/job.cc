#include "jaild/job.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "common/linux_compat.h"
#include "jaild/replies.h"
#include "jaild/sandbox/proc_cpu.h"

namespace jaild {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

std::uint64_t ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<milliseconds>(b - a).count());
}

// Read once: std::thread::hardware_concurrency() reads /sys on every call.
unsigned online_cpus() {
    static const unsigned count = std::max(1u, std::thread::hardware_concurrency());
    return count;
}

std::uint64_t cpu_ms_of(const rusage& usage) {
    const auto ms = [](const timeval& t) {
        return static_cast<std::uint64_t>(t.tv_sec) * 1000 + static_cast<std::uint64_t>(t.tv_usec) / 1000;
    };
    return ms(usage.ru_utime) + ms(usage.ru_stime);
}

}  // namespace

Job::Job(JobOwner& owner, asio::any_io_executor executor, RunPlan plan, std::string id, std::shared_ptr<Lease> lease,
         std::uint32_t uid, std::unique_ptr<cgroup::JobCgroup> cgroup, Spawned spawned)
    : owner_(owner),
      plan_(std::move(plan)),
      id_(std::move(id)),
      lease_(std::move(lease)),
      uid_(uid),
      cgroup_(std::move(cgroup)),
      spawned_(std::move(spawned)),
      pidfd_(executor),
      stdout_(executor, spawned_.stdout_r.release()),
      stderr_(executor, spawned_.stderr_r.release()),
      stdin_(executor, spawned_.stdin_w.release()),
      result_(executor),
      program_(executor),
      wall_timer_(executor),
      cpu_timer_(executor),
      stdin_ready_(executor),
      program_retry_(executor),
      started_(std::chrono::steady_clock::now()) {
    pid_ = spawned_.pid;
    if (spawned_.pidfd) pidfd_.assign(spawned_.pidfd.release());
    if (spawned_.result && plan_.live)
        control_ = std::move(spawned_.result);
    else if (spawned_.result)
        result_.assign(spawned_.result.release());
    if (spawned_.program_pidfd) program_.assign(spawned_.program_pidfd.release());
}

Job::~Job() { owner_.job_ended(id_, std::move(spawned_.mount_ns), std::move(spawned_.chroot_root)); }

void Job::kill(KillReason reason) {
    if (exited_) return;
    if (reason_ == KillReason::none) reason_ = reason;
    // The reaper is PID 1 of the sandbox's PID namespace: when it dies the kernel kills every process in
    // the namespace, which no process inside can leave. The cgroup kill at cleanup is the second net.
    // Without a pidfd the pid is safe to signal too: the reaper is our child, not reaped before exited_ is set.
    if (!pidfd_.is_open() && pid_ <= 0) return;  // never kill(-1) or kill(0) as root
    const int rc = pidfd_.is_open() ? sys::pidfd_send_signal(pidfd_.native_handle(), SIGKILL) : ::kill(pid_, SIGKILL);
    if (rc != 0 && errno != ESRCH) spdlog::error("job {}: killing its PID 1: {}", id_, std::strerror(errno));
    if (!processes_ended_) owner_.end_processes(uid_);  // once: none of the run's processes can start another
    processes_ended_ = true;
}

void Job::feed_stdin(std::string data, bool eof) {
    if (exited_ || stdin_eof_) return;  // nobody will read it
    stdin_backlog_ += data.size();
    if (!data.empty()) stdin_queue_.push_back(std::move(data));
    stdin_eof_ = stdin_eof_ || eof;
    stdin_ready_.cancel();
}

asio::awaitable<void> Job::write_stdin() {
    auto self = shared_from_this();
    for (;;) {
        while (!stdin_queue_.empty()) {
            auto [ec, n] = co_await asio::async_write(stdin_, asio::buffer(stdin_queue_.front()),
                                                      asio::as_tuple(asio::use_awaitable));
            if (ec) {  // EPIPE: the program closed its stdin; the rest is not wanted
                stdin_queue_.clear();
                stdin_backlog_ = 0;
                stdin_eof_ = true;
                break;
            }
            stdin_backlog_ -= stdin_queue_.front().size();
            stdin_queue_.pop_front();
        }
        if (stdin_eof_ || exited_) break;
        stdin_ready_.expires_at(asio::steady_timer::time_point::max());
        co_await stdin_ready_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    boost::system::error_code ignored;
    stdin_.close(ignored);
}

asio::awaitable<void> Job::pump(asio::posix::stream_descriptor& pipe, v1::Stream stream, Sink& sink) {
    std::string buffer(kReadChunk, '\0');
    const std::uint64_t cap = plan_.limits.output_bytes;
    std::uint64_t& used = output_bytes_[stream];
    for (;;) {
        auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
        if (ec) break;  // EOF: every process holding the pipe is gone
        const std::uint64_t keep = std::min<std::uint64_t>(n, cap - std::min(cap, used));
        used += n;
        if (keep > 0) {
            v1::ServerMessage message;
            message.mutable_output()->set_stream(stream);
            message.mutable_output()->set_data(buffer.data(), keep);
            co_await sink(std::move(message));
        }
        if (used > cap && !truncated_[stream]) {
            truncated_[stream] = true;
            kill(KillReason::output_limit);
        }
    }
}

asio::awaitable<void> Job::write_result_input() {
    auto self = shared_from_this();
    co_await asio::async_write(result_, asio::buffer(plan_.result_input), asio::as_tuple(asio::use_awaitable));
    if (result_.is_open()) ::shutdown(result_.native_handle(), SHUT_WR);  // the runner reads to EOF
}

asio::awaitable<void> Job::read_result() {
    if (!result_.is_open()) co_return;
    std::string buffer(kReadChunk, '\0');
    for (;;) {
        auto [ec, n] = co_await result_.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
        if (ec) break;  // EOF: the program and everything it started are gone, or it closed the channel
        if (answer_.size() + n > plan_.limits.output_bytes) {
            truncated_[0] = true;  // the result counts against the output limit like a third stream
            kill(KillReason::output_limit);
            break;
        }
        answer_.append(buffer.data(), n);
    }
}

asio::awaitable<void> Job::wait_exit() {
    if (pidfd_.is_open())
        co_await wait_pidfd();
    else
        co_await poll_pid();
    // By now the kernel has also killed and reaped the rest of the reaper's namespace (in chroot mode, this
    // kills what the program left running).
    owner_.end_processes(uid_);
    ended_ = std::chrono::steady_clock::now();
    exited_ = true;
    wall_timer_.cancel();
    cpu_timer_.cancel();
    stdin_ready_.cancel();
    program_retry_.cancel();
    read_reports();
}

asio::awaitable<void> Job::poll_pid() {
    // No pidfd (gVisor): the reaper's end is found by trying to reap it, at first every millisecond, then less
    // often; a run's end is seen at most 20 ms late.
    asio::steady_timer pause(pidfd_.get_executor());
    auto delay = std::chrono::milliseconds(1);
    if (pid_ <= 0) {  // wait4 would reap any child of jaild's
        spdlog::error("job {}: no PID 1 to wait for", id_);
        co_return;
    }
    for (;;) {
        int status = 0;
        const pid_t reaped = ::wait4(pid_, &status, WNOHANG | __WALL, &reaper_usage_);
        if (reaped == pid_) {
            reaper_.si_code = WIFEXITED(status) ? CLD_EXITED : (WCOREDUMP(status) ? CLD_DUMPED : CLD_KILLED);
            reaper_.si_status = WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status);
            break;
        }
        if (reaped < 0 && errno != EINTR) {
            spdlog::error("job {}: wait4: {}", id_, std::strerror(errno));
            break;
        }
        pause.expires_after(delay);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        delay = std::min(delay * 2, std::chrono::milliseconds(20));
    }
}

asio::awaitable<void> Job::wait_pidfd() {
    // Readable is a hint, not a promise: the pidfd can wake before the reaper is reapable (seen while the
    // kernel was still tearing down a killed namespace), and asio made the pidfd non-blocking, so waitid
    // then says EAGAIN. Wait again until it really reaps.
    asio::steady_timer pause(pidfd_.get_executor());
    for (;;) {
        auto [ec] =
            co_await pidfd_.async_wait(asio::posix::descriptor_base::wait_read, asio::as_tuple(asio::use_awaitable));
        // The system call, not glibc's waitid: it also gives the reaper's rusage.
        if (::syscall(SYS_waitid, P_PIDFD, pidfd_.native_handle(), &reaper_, WEXITED, &reaper_usage_) == 0) break;
        if (errno != EAGAIN && errno != EINTR) {
            spdlog::error("job {}: waitid: {}", id_, std::strerror(errno));
            break;
        }
        if (ec) {  // the wait itself failed: do not spin on it
            pause.expires_after(std::chrono::milliseconds(1));
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        }
    }
}

asio::awaitable<void> Job::wait_program() {
    if (!program_.is_open()) co_return;
    auto self = shared_from_this();
    co_await program_.async_wait(asio::posix::descriptor_base::wait_read, asio::as_tuple(asio::use_awaitable));
    // It has ended. Its parent is the zygote, which reaps it and reports on the report channel, or, when the
    // zygote died first, us (ECHILD until the kernel has moved it). Its sandbox's PID 1 cannot end while it
    // is unreaped, so this tries until that end.
    while (!exited_) {
        siginfo_t info{};
        if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(program_.native_handle()), &info,
                     WEXITED | WNOHANG) == 0 &&
            info.si_pid != 0) {
            program_status_ = info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8
                                                         : (info.si_status | (info.si_code == CLD_DUMPED ? 0x80 : 0));
            break;
        }
        program_retry_.expires_after(milliseconds(5));
        co_await program_retry_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    boost::system::error_code ignored;
    program_.close(ignored);
}

void Job::read_reports() {
    // Every writer is gone, so this read ends at EOF without blocking.
    reports_ = drain_reports(spawned_);
    const bool reported = std::any_of(reports_.begin(), reports_.end(),
                                      [](const ChildReport& r) { return r.kind == ChildReport::exited; });
    if (program_status_ && !reported) reports_.push_back({ChildReport::exited, Stage::none, 0, 0, *program_status_});
}

void Job::arm_cpu_watch(milliseconds delay) {
    // The cgroup's CPU usage cannot grow faster than (online CPUs) × wall time, so checking after
    // remaining / CPUs is early enough and costs nothing for runs that end before.
    cpu_timer_.expires_after(delay);
    cpu_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec || self->exited_ || !self->cgroup_) return;
        // Without a cgroup (degraded mode) RLIMIT_CPU stops each process, but not a run of many, and gVisor
        // ignores it: the run's processes are counted in /proc.
        const cgroup::JobStats stats = self->cgroup_->stats();
        const std::uint64_t used_ms = stats.measured ? stats.cpu_usec / 1000 : run_cpu_ms(self->uid_, self->pid_);
        const std::uint64_t limit_ms = self->plan_.limits.cpu_ms;
        if (used_ms >= limit_ms) {
            self->kill(KillReason::cpu_timeout);
            return;
        }
        // Counting in /proc reads every process's entries on this thread: not more often than every 100 ms.
        const std::uint64_t floor_ms = stats.measured ? 5 : 100;
        self->arm_cpu_watch(milliseconds(std::max<std::uint64_t>(floor_ms, (limit_ms - used_ms) / online_cpus())));
    });
}

asio::awaitable<v1::Exit> Job::run(Sink sink) {
    // Once started, a run always reaches retire(): a caller giving up (its || completing) must not cancel
    // the waits below half-way and leave the cgroup and uid behind. Ending a run early is kill()'s job.
    co_await asio::this_coro::reset_cancellation_state(
        [](asio::cancellation_type) { return asio::cancellation_type::none; });
    auto self = shared_from_this();
    auto executor = co_await asio::this_coro::executor;
    wall_timer_.expires_after(milliseconds(plan_.limits.wall_ms));
    wall_timer_.async_wait([self](boost::system::error_code ec) {
        if (!ec) self->kill(KillReason::wall_timeout);
    });
    arm_cpu_watch(milliseconds(std::max<std::uint64_t>(5, plan_.limits.cpu_ms / online_cpus())));
    if (!plan_.stdin_data.empty()) feed_stdin(std::move(plan_.stdin_data), false);
    if (!plan_.stdin_stream) feed_stdin({}, true);
    asio::co_spawn(executor, write_stdin(), asio::detached);
    if (result_.is_open()) asio::co_spawn(executor, write_result_input(), asio::detached);

    co_await (pump(stdout_, v1::STREAM_STDOUT, sink) && pump(stderr_, v1::STREAM_STDERR, sink) && read_result() &&
              wait_exit() && wait_program());
    boost::system::error_code ignored;
    result_.close(ignored);

    v1::Exit exit = to_proto(classify(outcome(), plan_));
    if (const v1::Isolation* isolation = owner_.isolation()) *exit.mutable_isolation() = *isolation;
    if (plan_.result_channel && !plan_.live) verdict_ = apply_runner_answer(answer_, exit);
    co_await owner_.retire(std::move(cgroup_), id_);
    co_return exit;
}

RunOutcome Job::outcome() const {
    RunOutcome out;
    out.reports = reports_;
    for (const ChildReport& r : reports_) {
        if (r.kind != ChildReport::failed) continue;
        out.setup_failure = owner_.describe_failure(r, spawned_);
        break;
    }
    out.killed = reason_;
    out.init_code = reaper_.si_code;
    out.init_status = reaper_.si_status;
    out.wall_ms = ms_between(started_, ended_);
    if (cgroup_) {
        const cgroup::JobStats stats = cgroup_->stats();
        out.cpu_ms = stats.cpu_usec / 1000;
        out.memory_kb = stats.memory_peak_bytes / 1024;
        out.oom_killed = stats.oom_killed;
        out.measured = stats.measured;
        if (!stats.measured) out.cpu_ms = cpu_ms_of(reaper_usage_);
    }
    out.stdout_truncated = truncated_[v1::STREAM_STDOUT];
    out.stderr_truncated = truncated_[v1::STREAM_STDERR];
    return out;
}

}  // namespace jaild
