// Warm Python (jaild/sandbox/zygote.h): a run forked by jaild-zygote gets the isolation and the start a cold
// run gets — the same probe reports the same, random state differs per run, runs see neither the zygote nor
// each other, a dead or worn-out zygote fails no request, limits give the same statuses — and nothing is left
// once the daemon stops.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/harness.h"
#include "tests/support/skip.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const std::string kZygoteOn = "[zygote]\nenabled = true\n";

// A daemon with the zygote on, its first zygote ready.
struct ZygoteDaemon {
    explicit ZygoteDaemon(const std::string& zygote_toml = kZygoteOn) : daemon(zygote_toml) {
        REQUIRE(wait_zygote_ready(daemon.socket()));
    }
    Daemon daemon;
};

// An /execute python request; `cold` sets a PYTHON* variable, which sends the run down the cold path.
v1::ClientMessage python(const std::string& code, bool cold = false, const v1::Limits& run_limits = {},
                         v1::ExecuteMode mode = v1::EXECUTE_MODE_PLAIN) {
    v1::ClientMessage message;
    message.set_request_id("zygote");
    v1::ExecuteRequest& execute = *message.mutable_execute();
    execute.set_language("python");
    execute.set_code(code);
    execute.set_mode(mode);
    *execute.mutable_limits() = run_limits;
    if (cold) (*execute.mutable_env())["PYTHONJAILDCOLD"] = "1";
    return message;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The daemon's zygote: the jaild-zygote process whose parent is `jaild` (-1 when none).
pid_t zygote_pid(pid_t jaild) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        if (slurp("/proc/" + name + "/comm") != "jaild-zygote\n") continue;
        std::istringstream status(slurp("/proc/" + name + "/status"));
        for (std::string line; std::getline(status, line);)
            if (line.rfind("PPid:", 0) == 0 && std::stol(line.substr(5)) == jaild) return std::stoi(name);
    }
    return -1;
}

bool has_substr(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// A JSON value as text, strings without their quotes.
std::string text_of(const json::value* value) {
    if (!value) return "<missing>";
    return value->is_string() ? std::string(value->as_string()) : json::serialize(*value);
}

// numpy in the sandbox's view of /usr (a cold run, so the answer does not depend on the zygote).
bool numpy_here(const std::string& socket) {
    v1::ClientMessage message;
    message.mutable_execute()->set_language("python");
    message.mutable_execute()->set_code("import numpy");
    (*message.mutable_execute()->mutable_env())["PYTHONJAILDCOLD"] = "1";
    return run(socket, message).exit.status() == v1::STATUS_OK;
}

// The namespaces of this (host) process, as a Python dict literal of inode numbers.
std::string host_namespaces() {
    std::string dict = "{";
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/ns")) {
        struct stat info {};
        if (::stat(entry.path().c_str(), &info) != 0) continue;
        dict += "'" + entry.path().filename().string() + "': " + std::to_string(info.st_ino) + ", ";
    }
    return dict + "}";
}

// Everything a program can see of its start and its isolation, as one JSON object; ids that differ between
// any two runs (mount ids, device minors, pipe inodes, the job's cgroup name) are normalized.
std::string probe_code(double sleep_s) {
    return "HOST_NS = " + host_namespaces() + "\nSLEEP = " + std::to_string(sleep_s) + "\n" +
           R"(import json, os, re, signal, socket, sys, time
st = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
r = {}
for key in ('Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp',
            'Seccomp_filters', 'SigBlk', 'SigIgn', 'SigCgt', 'Speculation_Store_Bypass'):
    r['status ' + key] = ' '.join(st.get(key, '<none>').split())
r['namespaces'] = {name: ('host' if os.stat('/proc/self/ns/' + name).st_ino == HOST_NS.get(name) else 'new')
                   for name in sorted(os.listdir('/proc/self/ns'))}
r['limits'] = open('/proc/self/limits').read()
r['cgroup'] = re.sub(r'job-[^/\n]*', 'JOB', open('/proc/self/cgroup').read())
mounts = []
for line in open('/proc/self/mountinfo'):
    f = line.split()
    sep = f.index('-')
    optional = [re.sub(r':\d+', ':N', o) for o in f[6:sep]]
    mounts.append(' '.join([f[3], f[4], f[5]] + optional + f[sep:]).replace('/%d/' % os.getuid(), '/UID/'))
r['mounts'] = mounts
fds = {}
for fd in os.listdir('/proc/self/fd'):
    try:
        fds[fd] = re.sub(r'\[\d+\]', '[N]', os.readlink('/proc/self/fd/' + fd))
    except OSError:
        pass
r['fds'] = fds
r['hostname'] = socket.gethostname()
r['cwd'] = os.getcwd()
mask = os.umask(0)
os.umask(mask)
r['umask'] = mask
r['sigmask'] = sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))
handlers = {}
for s in sorted(signal.valid_signals()):
    try:
        handlers[int(s)] = str(signal.getsignal(s))
    except (OSError, ValueError) as e:
        handlers[int(s)] = 'error %s' % e
r['handlers'] = handlers
r['sys.path'] = sys.path
r['sys.executable'] = sys.executable
r['sys.argv'] = sys.argv
r['sys.flags'] = str(sys.flags)
r['__file__'] = globals().get('__file__')
r['__name__'] = __name__
r['environ'] = {k: v for k, v in os.environ.items() if k != 'PYTHONJAILDCOLD'}
r['pid'] = os.getpid()
r['ppid'] = os.getppid()
r['comm'] = open('/proc/self/comm').read().strip()
r['cmdline'] = open('/proc/self/cmdline', 'rb').read().decode('ascii', 'replace').split('\0')
time.sleep(SLEEP)
print(json.dumps(r))
)";
}

// Differences a warm run may show against a cold one (docs/languages.md, "Warm Python"): its parent (the zygote)
// is outside its PID namespace, the zygote's own seccomp filter stays under the run's, and its command line
// shows the program's name only (the zygote's arguments are wiped, not replaced by the run's).
const std::map<std::string, std::pair<std::string, std::string>> kDocumentedDifferences = {
    {"ppid", {"1", "0"}},
    {"status Seccomp_filters", {"1", "2"}},
    {"cmdline", {R"(["python3","-u","main.py",""])", R"(["python3",""])"}},
};

}  // namespace

TEST_CASE("warm start: a warm run and a cold run report the same isolation and start", "[root][zygote]") {
    ZygoteDaemon zygote;
    const std::string& socket = zygote.daemon.socket();
    const std::uint64_t warm_before = stats(socket).zygote_runs();
    // Concurrently, so that the two hold pool uids at the same time.
    auto cold_run = std::async(std::launch::async, [&] { return run(socket, python(probe_code(1.5), true)); });
    auto warm_run = std::async(std::launch::async, [&] { return run(socket, python(probe_code(1.5))); });
    const RunResult cold = cold_run.get(), warm = warm_run.get();
    INFO("cold: " << cold.out << cold.err << "\nwarm: " << warm.out << warm.err << "\nlog:\n" << zygote.daemon.log());
    REQUIRE(cold.exit.status() == v1::STATUS_OK);
    REQUIRE(warm.exit.status() == v1::STATUS_OK);
    CHECK(stats(socket).zygote_runs() == warm_before + 1);  // one of the two, the warm one, in the zygote

    CHECK(cold.uid != warm.uid);
    for (const std::uint32_t uid : {cold.uid, warm.uid}) {
        CHECK(uid >= kUidBase);
        CHECK(uid < kUidBase + kUidCount);
    }
    const json::object c = json::parse(cold.out).as_object(), w = json::parse(warm.out).as_object();
    for (const char* ns : {"pid", "mnt", "net", "ipc", "uts", "cgroup"}) {
        INFO(ns);
        CHECK(c.at("namespaces").as_object().at(ns) == "new");
        CHECK(w.at("namespaces").as_object().at(ns) == "new");
    }
    CHECK(c.at("status Uid").as_string() == std::to_string(cold.uid) + " " + std::to_string(cold.uid) + " " +
                                                std::to_string(cold.uid) + " " + std::to_string(cold.uid));
    CHECK(w.at("status Uid").as_string() == std::to_string(warm.uid) + " " + std::to_string(warm.uid) + " " +
                                                std::to_string(warm.uid) + " " + std::to_string(warm.uid));
    std::set<std::string> keys;
    for (const auto& item : c) keys.insert(item.key());
    for (const auto& item : w) keys.insert(item.key());
    for (const std::string& key : keys) {
        if (key == "status Uid" || key == "status Gid") continue;  // the runs' own pool uids, checked above
        const std::string cs = text_of(c.if_contains(key)), ws = text_of(w.if_contains(key));
        INFO("field " << key << "\n  cold: " << cs << "\n  warm: " << ws);
        if (const auto documented = kDocumentedDifferences.find(key); documented != kDocumentedDifferences.end()) {
            CHECK(cs == documented->second.first);
            CHECK(ws == documented->second.second);
            continue;
        }
        CHECK(cs == ws);
    }
}

TEST_CASE("warm start: 100 warm runs draw 100 different random, numpy.random and os.urandom values", "[root][zygote]") {
    ZygoteDaemon zygote;
    const std::string& socket = zygote.daemon.socket();
    if (!numpy_here(socket)) {
        skip("numpy is not installed on this host");
        return;
    }
    const std::uint64_t warm_before = stats(socket).zygote_runs();
    const std::string code =
        "import os, random, secrets, numpy\n"
        "print(repr(random.random()), repr(numpy.random.rand()), os.urandom(16).hex(), secrets.token_hex(16))";
    std::vector<std::set<std::string>> seen(4);
    std::mutex lock;
    std::vector<std::thread> workers;
    std::atomic<int> failed{0};
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                const RunResult r = run(socket, python(code));
                std::istringstream words(r.out);
                std::vector<std::string> values{std::istream_iterator<std::string>(words), {}};
                if (r.exit.status() != v1::STATUS_OK || values.size() != 4) {
                    ++failed;
                    continue;
                }
                std::lock_guard guard(lock);
                for (std::size_t k = 0; k < 4; ++k) seen[k].insert(values[k]);
            }
        });
    }
    for (auto& worker : workers) worker.join();
    CHECK(failed == 0);
    CHECK(stats(socket).zygote_runs() == warm_before + 100);
    for (std::size_t k = 0; k < 4; ++k) {
        INFO("value " << k << " (random, numpy.random, os.urandom, secrets)");
        CHECK(seen[k].size() == 100);
    }
}

TEST_CASE("warm start: a warm run sees neither the zygote nor another run's processes, files or /tmp",
          "[root][zygote]") {
    ZygoteDaemon zygote;
    const std::string& socket = zygote.daemon.socket();
    const pid_t zygote_host_pid = zygote_pid(zygote.daemon.pid());
    REQUIRE(zygote_host_pid > 0);
    const std::uint64_t warm_before = stats(socket).zygote_runs();

    Connection first(socket);
    REQUIRE(first.fd() >= 0);
    first.send(python(
        "import os, time\nopen('/tmp/first-secret', 'w').write('s1')\nopen('/workspace/first-file', 'w').write('f1')\n"
        "print('READY', os.getpid(), flush=True)\ntime.sleep(3)\nprint('first done')"));
    std::string first_out;
    v1::ServerMessage message;
    while (first_out.find("READY") == std::string::npos && first.receive(message, 20s))
        if (message.has_output()) first_out += message.output().data();
    REQUIRE(has_substr(first_out, "READY"));

    const std::string zpid = std::to_string(zygote_host_pid);
    const RunResult second = run(socket, python(R"(import os, signal
pids = sorted(int(d) for d in os.listdir('/proc') if d.isdigit())
print('PIDS', pids)
comms = [open('/proc/%d/comm' % p).read().strip() for p in pids]
print('COMMS', comms)
print('TMP', sorted(os.listdir('/tmp')), 'WS', sorted(os.listdir('/workspace')))
for path in ('/tmp/first-secret', '/workspace/first-file', '/proc/)" +
                                                zpid + R"(/status'):
    print('EXISTS' if os.path.exists(path) else 'ABSENT', path)
try:
    os.kill()" + zpid + R"(, 0)
    print('ZYGOTE-SIGNALLED')
except OSError as e:
    print('ZYGOTE-KILL', e.errno)
cgroup = open('/proc/self/cgroup').read()
print('CGROUP-ZYGOTE' if 'zygote' in cgroup else 'CGROUP-OWN')
print('FDS', sorted(os.listdir('/proc/self/fd')))
)"));
    const RunResult first_end = receive_run(first);
    first_out += first_end.out;
    INFO("first: " << first_out << first_end.err << "\nsecond: " << second.out << second.err);
    CHECK(first_end.exit.status() == v1::STATUS_OK);
    CHECK(has_substr(first_out, "first done"));
    REQUIRE(second.exit.status() == v1::STATUS_OK);
    CHECK(stats(socket).zygote_runs() == warm_before + 2);
    CHECK(has_substr(second.out, "PIDS [1, 2]\n"));
    CHECK_FALSE(has_substr(second.out, "zygote"));  // neither a process's name nor its cgroup
    CHECK(has_substr(second.out, "CGROUP-OWN"));
    CHECK(has_substr(second.out, "ABSENT /tmp/first-secret"));
    CHECK(has_substr(second.out, "ABSENT /workspace/first-file"));
    CHECK(has_substr(second.out, "ABSENT /proc/" + zpid + "/status"));
    CHECK(has_substr(second.out, "ZYGOTE-KILL 3\n"));  // ESRCH
    CHECK(has_substr(second.out, "TMP [] WS ["));
    check_nothing_left(zygote.daemon.run_dir(), zygote.daemon.pid());
}

TEST_CASE("warm start: killing the zygote mid-run ends nothing else, runs go cold, then warm again after its restart",
          "[root][zygote]") {
    ZygoteDaemon zygote;
    const std::string& socket = zygote.daemon.socket();
    const pid_t victim = zygote_pid(zygote.daemon.pid());
    REQUIRE(victim > 0);
    const v1::Stats before = stats(socket);

    Connection connection(socket);
    REQUIRE(connection.fd() >= 0);
    connection.send(python("import time\nprint('started', flush=True)\ntime.sleep(2)\nprint('slept')"));
    std::string out;
    v1::ServerMessage message;
    while (out.find("started") == std::string::npos && connection.receive(message, 20s))
        if (message.has_output()) out += message.output().data();
    REQUIRE(has_substr(out, "started"));
    REQUIRE(::kill(victim, SIGKILL) == 0);
    REQUIRE(wait_until([&] { return zygote_pid(zygote.daemon.pid()) != victim; }, 5s));

    // Right after: a run succeeds (cold, or warm if the restart was already done).
    const RunResult meanwhile = run(socket, python("print('meanwhile')"));
    CHECK(meanwhile.exit.status() == v1::STATUS_OK);
    CHECK(meanwhile.out == "meanwhile\n");

    const RunResult survivor = receive_run(connection);
    out += survivor.out;
    INFO(out << survivor.err << survivor.exit.error() << "\nlog:\n" << zygote.daemon.log());
    CHECK(survivor.has_exit);
    CHECK(survivor.exit.status() == v1::STATUS_OK);
    CHECK(survivor.exit.exit_code() == 0);
    CHECK(out == "started\nslept\n");

    REQUIRE(wait_zygote_ready(socket));
    const v1::Stats restarted = stats(socket);
    CHECK(restarted.zygote_starts() > before.zygote_starts());
    const RunResult after = run(socket, python("print('warm again')"));
    CHECK(after.exit.status() == v1::STATUS_OK);
    CHECK(after.out == "warm again\n");
    CHECK(stats(socket).zygote_runs() == restarted.zygote_runs() + 1);
    check_nothing_left(zygote.daemon.run_dir(), zygote.daemon.pid());
}

TEST_CASE("warm start: a zygote past its fork budget is replaced and no request fails", "[root][zygote]") {
    ZygoteDaemon zygote(kZygoteOn + "max_forks = 3\n");
    const std::string& socket = zygote.daemon.socket();
    const v1::Stats before = stats(socket);
    // Each sequential run waits for a ready zygote, so that all twelve are warm and four zygotes serve them.
    for (int i = 0; i < 12; ++i) {
        REQUIRE(wait_zygote_ready(socket));
        const RunResult r = run(socket, python("print(" + std::to_string(i) + ")"));
        INFO("sequential run " << i << ": " << r.out << r.err << r.error.message() << r.exit.error() << "\nlog:\n"
                               << zygote.daemon.log());
        CHECK(r.exit.status() == v1::STATUS_OK);
        CHECK(r.out == std::to_string(i) + "\n");
    }
    CHECK(stats(socket).zygote_runs() == before.zygote_runs() + 12);
    // Twelve more at concurrency 4, ready zygote or not: the ones that find none start cold.
    std::atomic<int> ok{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w)
        workers.emplace_back([&, w] {
            for (int i = 0; i < 3; ++i) {
                const RunResult r = run(socket, python("print('c', " + std::to_string(w * 3 + i) + ")"));
                if (r.exit.status() == v1::STATUS_OK && r.out == "c " + std::to_string(w * 3 + i) + "\n") ++ok;
            }
        });
    for (auto& worker : workers) worker.join();
    CHECK(ok == 12);
    const v1::Stats after = stats(socket);
    INFO("zygote starts " << after.zygote_starts() << ", warm runs " << after.zygote_runs() - before.zygote_runs()
                          << "\nlog:\n"
                          << zygote.daemon.log());
    CHECK(after.zygote_starts() >= 4);
    CHECK(after.zygote_runs() > before.zygote_runs());
    check_nothing_left(zygote.daemon.run_dir(), zygote.daemon.pid());
}

TEST_CASE("warm start: memory, wall, CPU and output limits give a warm run the statuses a cold run gets",
          "[root][zygote]") {
    ZygoteDaemon zygote;
    const std::string& socket = zygote.daemon.socket();
    struct Case {
        const char* name;
        std::string code;
        v1::Limits limits;
        v1::Status status;
    };
    v1::Limits output;
    output.set_output_bytes(64 * 1024);
    const std::vector<Case> cases = {
        {"memory", "x = bytearray(300 * 1024 * 1024)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('kept')",
         limits(0, 0, 96 * 1024), v1::STATUS_MEMORY_LIMIT},
        {"wall", "import time\ntime.sleep(30)", limits(1000), v1::STATUS_TIMEOUT},
        {"cpu", "while True: pass", limits(10000, 500), v1::STATUS_TIMEOUT},
        {"output", "import sys\nwhile True: sys.stdout.write('x' * 4096)", output, v1::STATUS_OUTPUT_LIMIT},
        // The zygote's preloaded pages are charged to its own cgroup: a small limit still runs a hello.
        {"small memory hello", "print('hello')", limits(0, 0, 48 * 1024), v1::STATUS_OK},
    };
    for (const Case& c : cases) {
        const std::uint64_t warm_before = stats(socket).zygote_runs();
        const RunResult warm = run(socket, python(c.code, false, c.limits));
        CHECK(stats(socket).zygote_runs() == warm_before + 1);
        const RunResult cold = run(socket, python(c.code, true, c.limits));
        INFO(c.name << "\nwarm: " << warm.out.substr(0, 200) << warm.err << warm.exit.error()
                    << "\ncold: " << cold.out.substr(0, 200) << cold.err << cold.exit.error());
        CHECK(warm.exit.status() == c.status);
        CHECK(cold.exit.status() == c.status);
        CHECK(warm.exit.timeout_kind() == cold.exit.timeout_kind());
        if (c.status == v1::STATUS_OK) CHECK(warm.out == "hello\n");
    }
    check_nothing_left(zygote.daemon.run_dir(), zygote.daemon.pid());
}

TEST_CASE("warm start: nothing is left once the daemon stops: no zygote process, no zygote cgroup", "[root][zygote]") {
    std::string run_dir;
    pid_t jaild = -1, zygote_host_pid = -1;
    {
        ZygoteDaemon zygote;
        run_dir = zygote.daemon.run_dir();
        jaild = zygote.daemon.pid();
        zygote_host_pid = zygote_pid(jaild);
        REQUIRE(zygote_host_pid > 0);
        const RunResult r = run(zygote.daemon.socket(), python("print('hi')"));
        CHECK(r.out == "hi\n");
        CHECK(zygote.daemon.terminate() == 0);
    }
    const std::string mine = "job-" + std::to_string(jaild) + "-";
    const auto zygote_gone = [&] {
        const std::string status = slurp("/proc/" + std::to_string(zygote_host_pid) + "/status");
        return status.empty() || status.find("State:\tZ") != std::string::npos ||
               status.find("jaild-zygote") == std::string::npos;
    };
    CHECK(wait_until(zygote_gone, 5s));
    for (const std::string& cgroup : all_job_cgroups()) {
        INFO("left: cgroup " << cgroup);
        CHECK(cgroup.rfind(mine, 0) != 0);
    }
    check_nothing_left(run_dir);
}
