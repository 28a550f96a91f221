#include "jaild/sandbox/proc_cpu.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace jaild {

namespace {

// Fields 14 to 17 of /proc/<pid>/stat in clock ticks: its own user and system time, then those of the children
// it reaped. The name (field 2) may hold spaces and parentheses: the fields are counted from its last ')'.
bool read_times(const std::filesystem::path& stat, std::uint64_t own_and_children[2]) {
    std::ifstream in(stat);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t name_end = text.rfind(')');
    if (name_end == std::string::npos) return false;
    std::istringstream fields(text.substr(name_end + 1));
    std::string skip;
    for (int field = 3; field < 14; ++field) fields >> skip;
    std::uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
    if (!(fields >> utime >> stime >> cutime >> cstime)) return false;
    own_and_children[0] = utime + stime;
    own_and_children[1] = cutime + cstime;
    return true;
}

bool real_uid_is(const std::filesystem::path& status, std::uint32_t uid) {
    std::ifstream in(status);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("Uid:", 0) != 0) continue;
        std::istringstream fields(line.substr(4));
        std::uint32_t real = 0;
        return (fields >> real) && real == uid;
    }
    return false;
}

}  // namespace

std::uint64_t run_cpu_ms(std::uint32_t uid, pid_t reaper, const std::string& proc) {
    std::uint64_t ticks = 0;
    std::uint64_t times[2];
    if (read_times(std::filesystem::path(proc) / std::to_string(reaper) / "stat", times)) ticks += times[1];
    std::error_code ec;
    const std::string reaper_name = std::to_string(reaper);
    for (std::filesystem::directory_iterator it(proc, ec), end; !ec && it != end; it.increment(ec)) {
        const std::filesystem::path& path = it->path();
        const std::string name = path.filename().string();
        // The reaper counts once, above (under gVisor it has the run's uid).
        if (name.empty() || name == reaper_name ||
            !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        // A process that ends between the two reads is counted by its parent's children's times next time.
        if (real_uid_is(path / "status", uid) && read_times(path / "stat", times)) ticks += times[0] + times[1];
    }
    static const long per_second = std::max(1L, ::sysconf(_SC_CLK_TCK));
    return ticks * 1000 / static_cast<std::uint64_t>(per_second);
}

}  // namespace jaild
