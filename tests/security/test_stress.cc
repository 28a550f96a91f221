// 2000 runs of mixed good and hostile programs at concurrency 16 through the gateway: every answer must be the
// expected one for its kind, no request may fail in transport, and jaild's and the gateway's footprint (open
// fds, threads, RSS) must stay flat between a warm-up and the end.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "tests/support/fortress.h"
#include "tests/support/skip.h"

namespace jaild::test {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // this binary, and jaild and the gateway of the same build, run under ASan
#else
constexpr bool kSanitized = false;
#endif

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Footprint {
    long fds = -1, threads = -1, rss_kb = -1;
};

Footprint footprint(pid_t pid) {
    Footprint f;
    const std::string proc = "/proc/" + std::to_string(pid);
    std::error_code ec;
    f.fds = 0;
    for (auto it = std::filesystem::directory_iterator(proc + "/fd", ec); !ec && it != std::filesystem::end(it);
         it.increment(ec))
        ++f.fds;
    std::ifstream status(proc + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Threads:", 0) == 0) f.threads = std::stol(line.substr(8));
        if (line.rfind("VmRSS:", 0) == 0) f.rss_kb = std::stol(line.substr(6));
    }
    return f;
}

std::string describe(const Footprint& f) {
    std::ostringstream out;
    out << "fds " << f.fds << ", threads " << f.threads << ", VmRSS " << f.rss_kb << " KiB";
    return out.str();
}

struct Kind {
    const char* name;
    std::string body;
    std::function<std::string(const Attack&)> check;  // "" when the answer is the expected one
};

std::string expect(bool ok, const std::string& what) { return ok ? "" : what; }

std::string error_of(const Attack& a) {
    const auto* v = a.json.is_object() ? a.json.as_object().if_contains("error") : nullptr;
    return v && v->is_string() ? std::string(v->as_string()) : "";
}

std::vector<Kind> kinds() {
    return {
        {"echo", R"J({"command": ["/bin/echo", "hi"]})J",
         [](const Attack& a) { return expect(a.status == "ok" && a.out == "hi\n", "echo"); }},
        {"python hello", R"J({"command": ["python3", "-c", "print('hello')"]})J",
         [](const Attack& a) { return expect(a.status == "ok" && a.out == "hello\n", "python hello"); }},
        {"fork bomb",
         R"J({"command": ["python3", "-c", "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(30)\n            os._exit(0)\n        n += 1\nexcept OSError as e:\n    print('stopped', n, e.errno)\n"], "nproc": 8, "wall": 20000})J",
         [](const Attack& a) {
             return expect(a.status == "ok" && a.out.rfind("stopped ", 0) == 0 && a.out.ends_with(" 11\n"),
                           "fork bomb");
         }},
        // dd reads 64 MiB into one buffer: OOM-killed at 16 MiB within ~2 s. Bombs that creep up to a 64 MiB limit
        // take 10+ s of kernel reclaim each under this concurrency on cgroup v1, and some are not OOM-killed at all
        // (they end at the wall limit), so they do not fit a 2000-run test.
        {"memory bomb",
         R"J({"command": ["/bin/sh", "-c", "echo m; exec dd if=/dev/zero of=/dev/null bs=64M count=1"], "mem": 16384, "wall": 20000})J",
         [](const Attack& a) {
             return expect(
                 a.status == "memory_limit" && a.out == "m\n" && error_of(a) == "memory limit of 16384 KiB exceeded",
                 "memory bomb");
         }},
        {"output flood", R"J({"command": ["/usr/bin/yes", "flood"], "output": 4096, "wall": 20000})J",
         [](const Attack& a) {
             const auto* t = a.json.as_object().if_contains("truncated");
             return expect(a.status == "output_limit" && a.out.size() == 4096 && a.out.rfind("flood\n", 0) == 0 && t &&
                               t->is_bool() && t->as_bool(),
                           "output flood");
         }},
        {"sleeper", R"J({"command": ["/bin/sleep", "10"], "wall": 300})J",
         [](const Attack& a) {
             return expect(a.status == "timeout" && error_of(a) == "wall-clock time limit of 300 ms exceeded",
                           "sleeper");
         }},
        {"cpu spinner", R"J({"command": ["/bin/sh", "-c", "while :; do :; done"], "time": 100, "wall": 30000})J",
         [](const Attack& a) {
             return expect(a.status == "timeout" && error_of(a) == "CPU time limit of 100 ms exceeded", "spinner");
         }},
        {"crash", R"J({"command": ["/bin/sh", "-c", "echo boom; kill -SEGV $$"]})J",
         [](const Attack& a) {
             const auto* s = a.json.as_object().if_contains("signal");
             return expect(a.status == "runtime_error" && a.exit_code == 139 && a.out == "boom\n" && s &&
                               s->is_int64() && s->as_int64() == 11,
                           "crash");
         }},
    };
}

}  // namespace

TEST_CASE("stress: 2000 mixed good and hostile runs at concurrency 16 leave jaild and the gateway flat",
          "[security][stress]") {
    Fortress fortress("[limits.default]\ncpu_ms = 2000\nwall_ms = 5000\nmemory_kb = 131072\n");
    const std::vector<Kind> table = kinds();
    constexpr int kTotal = 2000, kWarmup = 200, kThreads = 16;

    std::atomic<int> next{0}, transport_errors{0}, mismatches{0};
    std::mutex lock;
    std::vector<std::string> first_mismatches;
    auto worker = [&](int end) {
        for (int i = next++; i < end; i = next++) {
            const Kind& kind = table[static_cast<std::size_t>(i) % table.size()];
            const Attack answer = parse_attack(post_json(fortress.port(), "/run", kind.body));
            if (answer.response.status == 0) {
                ++transport_errors;
                continue;
            }
            std::string problem = answer.response.status == 200 && answer.json.is_object()
                                      ? kind.check(answer)
                                      : "HTTP " + std::to_string(answer.response.status);
            if (!problem.empty()) {
                ++mismatches;
                std::lock_guard guard(lock);
                if (first_mismatches.size() < 5)
                    first_mismatches.push_back(std::string(kind.name) + ": " + answer.response.body.substr(0, 500));
            }
        }
    };
    auto phase = [&](int end) {
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, end);
        for (auto& t : threads) t.join();
        next = end;
    };

    const pid_t jaild = fortress.stack.daemon.pid(), gateway = fortress.stack.gateway.pid();
    const auto started = Clock::now();
    phase(kWarmup);
    std::this_thread::sleep_for(1s);
    const Footprint jaild_warm = footprint(jaild), gateway_warm = footprint(gateway);
    const auto warm_at = Clock::now();
    phase(kTotal);
    const auto ended = Clock::now();
    const double seconds = std::chrono::duration<double>(ended - started).count();
    const double rate = (kTotal - kWarmup) / std::chrono::duration<double>(ended - warm_at).count();

    // Settle: fds of finished connections and jobs are closed asynchronously.
    wait_until([&] { return footprint(jaild).fds <= jaild_warm.fds && footprint(gateway).fds <= gateway_warm.fds; },
               5s);
    std::this_thread::sleep_for(500ms);
    const Footprint jaild_end = footprint(jaild), gateway_end = footprint(gateway);
    WARN("stress: " << kTotal << " runs in " << seconds << " s (" << rate << " runs/s after warm-up)");
    WARN("jaild   after warm-up: " << describe(jaild_warm) << "; at the end: " << describe(jaild_end));
    WARN("gateway after warm-up: " << describe(gateway_warm) << "; at the end: " << describe(gateway_end));
    for (const std::string& m : first_mismatches) WARN("mismatch: " << m);

    CHECK(next.load() == kTotal);
    CHECK(transport_errors == 0);
    CHECK(mismatches == 0);
    CHECK(jaild_end.fds == jaild_warm.fds);
    CHECK(gateway_end.fds == gateway_warm.fds);
    CHECK(jaild_end.threads == jaild_warm.threads);
    CHECK(gateway_end.threads == gateway_warm.threads);
    // Under ASan, freed memory waits in a quarantine of up to 256 MiB before it is reused, so RSS grows by
    // design; LeakSanitizer at jaild's exit is the leak check there.
    if (kSanitized) {
        skip("memory bounds under ASan (LeakSanitizer checks for leaks at jaild's exit)");
    } else {
        CHECK(jaild_end.rss_kb <= jaild_warm.rss_kb + 8 * 1024);
        CHECK(gateway_end.rss_kb <= gateway_warm.rss_kb + 8 * 1024);
    }
    CHECK(seconds < 600);  // a hang guard; the rate is printed above
    check_host_unharmed(fortress);
}

}  // namespace jaild::test
