#include "tests/support/fortress.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace jaild::test {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "<unreadable>";
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string random_hex(std::size_t bytes) {
    std::string raw(bytes, '\0');
    if (::getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size()))
        throw std::runtime_error("getrandom");
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char c : raw) {
        hex += digits[c >> 4];
        hex += digits[c & 15];
    }
    return hex;
}

std::string object_with(const std::string& members, const std::string& extra) {
    return "{" + members + (extra.empty() ? "" : ", " + extra) + "}";
}

}  // namespace

std::string c_program(const std::string& body) {
    return "#define _GNU_SOURCE\n"
           "#include <errno.h>\n#include <fcntl.h>\n#include <signal.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
           "#include <string.h>\n#include <unistd.h>\n#include <sched.h>\n#include <sys/mman.h>\n"
           "#include <sys/mount.h>\n#include <sys/socket.h>\n#include <sys/stat.h>\n#include <sys/syscall.h>\n"
           "#include <sys/types.h>\n#include <sys/wait.h>\n\n" +
           body;
}

Fortress::Fortress(const std::string& extra_toml) : stack(extra_toml) {
    secret_ = "canary-" + random_hex(16);
    ::chmod(canary_dir_.path().c_str(), 0777);  // reachable and writable by anyone who can see it
    std::ofstream(canary_file()) << secret_ << "\n";
    ::chmod(canary_file().c_str(), 0666);
    std::ofstream(canary_dir_.path() + "/writable") << "unchanged\n";
    ::chmod((canary_dir_.path() + "/writable").c_str(), 0666);
    baseline_ = snapshot();
}

std::map<std::string, std::string> Fortress::snapshot() const {
    std::map<std::string, std::string> state;
    for (const char* path :
         {"/etc/passwd", "/etc/group", "/etc/hostname", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname",
          "/proc/sys/kernel/domainname", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/sysrq",
          "/proc/sys/kernel/panic", "/proc/sys/vm/overcommit_memory", "/proc/sys/net/ipv4/ip_forward"})
        state[path] = read_file(path);
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(canary_dir_.path(), ec))
        state["canary:" + entry.path().filename().string()] = read_file(entry.path());
    struct stat info {};
    if (::lstat(canary_dir_.path().c_str(), &info) == 0)
        state["canary-dir mode"] = std::to_string(info.st_mode) + " " + std::to_string(info.st_uid);
    utsname name{};
    ::uname(&name);
    state["uname"] = std::string(name.nodename) + " " + name.domainname;
    return state;
}

Attack parse_attack(HttpResponse response) {
    Attack attack;
    attack.response = std::move(response);
    json::error_code ec;
    attack.json = json::parse(attack.response.body, ec);
    if (ec || !attack.json.is_object()) {
        attack.json = nullptr;
        return attack;
    }
    const json::object& object = attack.json.as_object();
    if (const json::value* v = object.if_contains("stdout"); v && v->is_string()) attack.out = v->as_string().c_str();
    if (const json::value* v = object.if_contains("stderr"); v && v->is_string()) attack.err = v->as_string().c_str();
    if (const json::value* v = object.if_contains("status"); v && v->is_string())
        attack.status = v->as_string().c_str();
    if (const json::value* v = object.if_contains("exit_code"); v && v->is_int64()) attack.exit_code = v->as_int64();
    return attack;
}

Attack Fortress::run(const std::vector<std::string>& argv, const std::string& extra) {
    json::array command;
    for (const std::string& arg : argv) command.emplace_back(arg);
    return parse_attack(post_json(port(), "/run", object_with("\"command\": " + json::serialize(command), extra)));
}

Attack Fortress::sh(const std::string& script, const std::string& extra) {
    return run({"/bin/sh", "-c", script}, extra);
}

Attack Fortress::execute(const std::string& language, const std::string& code, const std::string& extra) {
    const std::string members = "\"language\": " + json::serialize(json::string(language)) +
                                ", \"code\": " + json::serialize(json::string(code));
    return parse_attack(post_json(port(), "/execute", object_with(members, extra)));
}

Jailctl Fortress::jailctl(const std::vector<std::string>& args, const std::string& stdin_data,
                          std::chrono::seconds timeout) {
    return jailctl_at(socket(), args, stdin_data, timeout);
}

Jailctl jailctl_at(const std::string& socket, const std::vector<std::string>& args, const std::string& stdin_data,
                   std::chrono::seconds timeout) {
    JailctlCall call{.args = {"--socket", socket}, .input = stdin_data, .timeout = timeout};
    call.args.insert(call.args.end(), args.begin(), args.end());
    return run_jailctl(call);
}

void check_host_unharmed(Fortress& fortress, const std::string& seen) {
    check_nothing_left(fortress.stack.daemon.run_dir(), fortress.stack.daemon.pid());
    const auto now = fortress.snapshot();
    for (const auto& [what, before] : fortress.baseline()) {
        INFO("host state changed: " << what);
        CHECK(now.count(what) == 1);
        if (now.count(what)) CHECK(now.at(what) == before);
    }
    CHECK(now.size() == fortress.baseline().size());  // no new file in the canary directory
    CHECK(seen.find(fortress.secret()) == std::string::npos);

    // jaild and the gateway are still the processes we started, and still answer.
    int status = 0;
    CHECK(::waitpid(fortress.stack.daemon.pid(), &status, WNOHANG) == 0);
    CHECK(::waitpid(fortress.stack.gateway.pid(), &status, WNOHANG) == 0);
    const HttpResponse health = http_request(fortress.port(), "GET", "/health");
    CHECK(health.status == 200);
    const Attack after = fortress.run({"/bin/echo", "still here"});
    CHECK(after.response.status == 200);
    CHECK(after.status == "ok");
    CHECK(after.out == "still here\n");
    check_nothing_left(fortress.stack.daemon.run_dir(), fortress.stack.daemon.pid());
}

void check_blocked(Fortress& fortress, const Attack& attack, std::initializer_list<std::string> markers) {
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    for (const std::string& marker : markers) CHECK(has(attack.out, marker));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

}  // namespace jaild::test
