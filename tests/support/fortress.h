// Test support for the adversarial suite: a real jaild and gateway (a Stack) with canary files on the host,
// helpers that send hostile programs through the real HTTP API and through jailctl, and the check every attack
// ends with: the host is unharmed.
#pragma once

#include <sys/types.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/jailctl.h"

namespace jaild::test {

// What a run answered over HTTP, already parsed (status 200 answers only; others keep `json` null).
struct Attack {
    HttpResponse response;
    boost::json::value json;  // the body when it is JSON
    std::string out, err;     // "stdout" and "stderr" of a run result
    std::string status;       // "ok", "timeout", "memory_limit", ... of a run result; "" otherwise
    long long exit_code = -1;
};

class Fortress {
public:
    // jaild (with `extra_toml`, see Daemon) and a gateway in front of it; canary files written on the host.
    explicit Fortress(const std::string& extra_toml = "");
    Fortress(const Fortress&) = delete;

    Stack stack;
    int port() const { return stack.port(); }
    const std::string& socket() const { return stack.daemon.socket(); }

    // A directory on the host (0755, files 0666 where writable would matter) that no sandbox may see.
    const std::string& canary_dir() const { return canary_dir_.path(); }
    std::string canary_file() const { return canary_dir_.path() + "/secret"; }
    const std::string& secret() const { return secret_; }  // the canary file's content (random hex)

    // POST /run {"command": argv, <extra fields>} ; extra is JSON members without braces, e.g. "\"time\": 500".
    Attack run(const std::vector<std::string>& argv, const std::string& extra = "");
    Attack sh(const std::string& script, const std::string& extra = "");  // /bin/sh -c script
    // POST /execute in a language; `c` sources are compiled by the sandbox's gcc.
    Attack execute(const std::string& language, const std::string& code, const std::string& extra = "");
    Attack c(const std::string& source, const std::string& extra = "") { return execute("c", source, extra); }
    Attack python(const std::string& code, const std::string& extra = "") { return execute("python", code, extra); }
    // build/bin/jailctl --socket <jaild> args..., with stdin_data on its stdin; killed after `timeout`.
    Jailctl jailctl(const std::vector<std::string>& args, const std::string& stdin_data = "",
                    std::chrono::seconds timeout = std::chrono::seconds(60));

    // Host state an attack may not change, recorded at construction: canary files, sensitive /proc/sys values,
    // the hostname. check_host_unharmed compares against it.
    std::map<std::string, std::string> snapshot() const;
    const std::map<std::string, std::string>& baseline() const { return baseline_; }

private:
    TempDir canary_dir_;
    std::string secret_;
    std::map<std::string, std::string> baseline_;
};

// Parses a gateway answer into an Attack (used by Fortress, exposed for raw requests).
Attack parse_attack(HttpResponse response);

// build/bin/jailctl --socket <socket> args..., with stdin_data on its stdin; killed after `timeout`.
Jailctl jailctl_at(const std::string& socket, const std::vector<std::string>& args, const std::string& stdin_data = "",
                   std::chrono::seconds timeout = std::chrono::seconds(60));

// The end of most attacks: the program ran to its end (status "ok"), printed every one of `markers` (its
// "BLOCKED ..." lines), never "ESCAPED", and the host is unharmed.
void check_blocked(Fortress& fortress, const Attack& attack, std::initializer_list<std::string> markers);

// What attack programs print is checked with these.
inline bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }
inline std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

// Asserts (Catch2 CHECK) after an attack: no sandbox process, job cgroup, mount or run directory left; canaries
// and host settings unchanged; the canary file's secret nowhere in `seen` (what the attack printed); jaild and
// the gateway still running, /health healthy and a fresh run answering normally.
void check_host_unharmed(Fortress& fortress, const std::string& seen = "");

// A C program's source with the common headers in front (stdio, stdlib, string, unistd, errno, fcntl, signal,
// sys/*), so an attack case is only its main() and helpers.
std::string c_program(const std::string& body);

}  // namespace jaild::test
