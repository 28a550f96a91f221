#include "jaild/sandbox/reaper_settled.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace jaild {

bool wait_reaper_settled(Spawned& sandbox, std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    const clock::time_point deadline = clock::now() + timeout;
    for (;;) {
        ChildReport record;
        const ssize_t n = ::recv(sandbox.report_r.get(), &record, sizeof record, MSG_DONTWAIT);
        if (n == sizeof record) {
            if (record.kind == ChildReport::settled) return true;
            if (record.kind != ChildReport::mount_namespace) sandbox.early_reports.push_back(record);
            continue;
        }
        if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return false;  // EOF: PID 1 has ended
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) return false;
        pollfd channel{sandbox.report_r.get(), POLLIN, 0};
        ::poll(&channel, 1, static_cast<int>(left.count()));
    }
}

}  // namespace jaild
