// jaild-bench-live: the latency of live sessions' operations (docs/sessions.md, "Live sessions") through
// jaild's socket with the C++ client (common/jaild_client.h), one operation at a time.
//
//   jaild-bench-live OP --socket PATH [--ordinary] [--runs N] [--seconds S] [--warmup W] [--pause-ms P]
//
// OP, and what one measured sample is:
//   create      SessionCreate{live} until its SessionInfo (the session's sandbox and agent up); each session is
//               deleted after its sample, unmeasured
//   echo        in one live session: ProcessStart `echo hi` until its ProcessInfo, then ProcessAttach until its
//               Exit (the output checked: "hi\n")
//   cell        in one context whose interpreter already ran a cell: ContextRun `1+1` until CellEnd (result "2")
//   first-cell  ContextRun `1+1` in a context made for the sample (unmeasured), so the interpreter starts
//               (IPython's import included); the context is deleted after, unmeasured
//   file        FilePut of 1 KiB, then FileGet of it (content checked)
// and the parts of two of them, to see where their time goes:
//   start       ProcessStart `true` until its ProcessInfo (the process is not awaited)
//   put, get    FilePut of 1 KiB; FileGet of a 1 KiB file
// --ordinary runs file, put and get in an ordinary session instead (its files on disk, no sandbox up).
// Every request goes on a fresh connection, as the gateway sends them. Stops after N measured samples or S
// seconds, whichever comes first, and prints one `key=value` line (stats.h); a sample whose answer is wrong
// counts as an error. --pause-ms sleeps between samples (not measured), so that a sample does not meet the
// work the previous one left (a deleted session's sandbox ending, on 2 cores).
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench/stats.h"
#include "common/jaild_client.h"

namespace {

namespace v1 = jaild::v1;
using jaild::bench::Clock;

struct Options {
    std::string op;
    std::string socket;
    std::size_t runs = 200;
    double seconds = 10;
    std::size_t warmup = 3;
    double pause_ms = 0;
    bool ordinary = false;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(
        stderr,
        "jaild-bench-live: %s\nusage: jaild-bench-live create|echo|cell|first-cell|file|start|put|get --socket PATH "
        "[--ordinary] [--runs N] [--seconds S] [--warmup W] [--pause-ms P]\n",
        why);
    std::exit(2);
}

[[noreturn]] void fail(const char* why) {
    std::fprintf(stderr, "jaild-bench-live: %s\n", why);
    std::exit(1);
}

Options parse(int argc, char** argv) {
    if (argc < 2) usage("no operation");
    Options options;
    options.op = argv[1];
    for (int i = 2; i < argc; i += 2) {
        if (std::strcmp(argv[i], "--ordinary") == 0) {
            options.ordinary = true;
            --i;
            continue;
        }
        if (i + 1 >= argc) usage("option without a value");
        const std::string key = argv[i], value = argv[i + 1];
        if (key == "--socket")
            options.socket = value;
        else if (key == "--runs")
            options.runs = std::stoul(value);
        else if (key == "--seconds")
            options.seconds = std::stod(value);
        else if (key == "--warmup")
            options.warmup = std::stoul(value);
        else if (key == "--pause-ms")
            options.pause_ms = std::stod(value);
        else
            usage("unknown option");
    }
    if (options.socket.empty()) usage("no --socket");
    return options;
}

// One request on a fresh connection; `each` sees every answer and returns false once it saw the last one.
// False when the connection failed or an answer was an Error (printed once, on stderr).
bool exchange(const std::string& socket, const v1::ClientMessage& request,
              const std::function<bool(const v1::ServerMessage&)>& each) {
    boost::asio::io_context io;
    jaild::JaildClient client(io.get_executor());
    if (client.connect(socket) || client.send(request)) return false;
    v1::ServerMessage message;
    while (!client.receive(message)) {
        if (message.has_error()) {
            static bool told = false;
            if (!told)
                std::fprintf(stderr, "jaild-bench-live: jaild answered: %s\n", message.error().message().c_str());
            told = true;
            return false;
        }
        if (!each(message)) return true;
    }
    return false;
}

// One request answered by one message.
bool ask(const std::string& socket, const v1::ClientMessage& request, v1::ServerMessage& reply) {
    return exchange(socket, request, [&](const v1::ServerMessage& message) {
        reply = message;
        return false;
    });
}

std::string create_session(const std::string& socket, bool live) {
    v1::ClientMessage request;
    request.mutable_session_create()->set_live(live);
    v1::ServerMessage reply;
    return ask(socket, request, reply) && reply.session().live() == live ? reply.session().session_id() : std::string();
}

void delete_session(const std::string& socket, const std::string& id) {
    v1::ClientMessage request;
    request.mutable_session_delete()->set_session_id(id);
    v1::ServerMessage reply;
    ask(socket, request, reply);
}

std::string create_context(const std::string& socket, const std::string& id) {
    v1::ClientMessage request;
    request.mutable_context_create()->set_session_id(id);
    request.mutable_context_create()->set_language("python");
    v1::ServerMessage reply;
    return ask(socket, request, reply) ? reply.context().context_id() : std::string();
}

void delete_context(const std::string& socket, const std::string& id, const std::string& context) {
    v1::ClientMessage request;
    request.mutable_context_delete()->set_session_id(id);
    request.mutable_context_delete()->set_context_id(context);
    v1::ServerMessage reply;
    ask(socket, request, reply);
}

bool echo_hi(const std::string& socket, const std::string& id) {
    v1::ClientMessage start;
    start.mutable_process_start()->set_session_id(id);
    start.mutable_process_start()->add_argv("echo");
    start.mutable_process_start()->add_argv("hi");
    start.mutable_process_start()->set_stdin_closed(true);
    v1::ServerMessage started;
    if (!ask(socket, start, started) || !started.has_process()) return false;
    v1::ClientMessage attach;
    attach.mutable_process_attach()->set_session_id(id);
    attach.mutable_process_attach()->set_pid(started.process().pid());
    std::string out;
    bool ok = false;
    exchange(socket, attach, [&](const v1::ServerMessage& message) {
        if (message.has_output()) out += message.output().data();
        if (!message.has_exit()) return true;
        ok = message.exit().status() == v1::STATUS_OK;
        return false;
    });
    return ok && out == "hi\n";
}

bool one_plus_one(const std::string& socket, const std::string& id, const std::string& context) {
    v1::ClientMessage run;
    run.mutable_context_run()->set_session_id(id);
    run.mutable_context_run()->set_context_id(context);
    run.mutable_context_run()->set_code("1+1");
    std::string text;
    bool ended = false, failed = false;
    exchange(socket, run, [&](const v1::ServerMessage& message) {
        if (message.has_cell_result() && message.cell_result().is_main_result()) text = message.cell_result().text();
        failed = failed || message.has_cell_error();
        ended = message.has_cell_end();
        return !ended;
    });
    return ended && !failed && text == "2";
}

bool start_true(const std::string& socket, const std::string& id) {
    v1::ClientMessage start;
    start.mutable_process_start()->set_session_id(id);
    start.mutable_process_start()->add_argv("true");
    start.mutable_process_start()->set_stdin_closed(true);
    v1::ServerMessage started;
    return ask(socket, start, started) && started.has_process();
}

bool put_file(const std::string& socket, const std::string& id, const std::string& content) {
    v1::ClientMessage put;
    put.mutable_file_put()->set_session_id(id);
    put.mutable_file_put()->set_path("bench.bin");
    put.mutable_file_put()->set_content(content);
    v1::ServerMessage reply;
    return ask(socket, put, reply) && reply.has_done();
}

bool get_file(const std::string& socket, const std::string& id, const std::string& content) {
    v1::ClientMessage get;
    get.mutable_file_get()->set_session_id(id);
    get.mutable_file_get()->set_path("bench.bin");
    v1::ServerMessage reply;
    return ask(socket, get, reply) && reply.has_file() && reply.file().content() == content;
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    const std::string& socket = options.socket;
    // What a sample needs made first (unmeasured): the session, a context whose interpreter is up.
    std::string session, context;
    if (options.op != "create") {
        session = create_session(socket, !options.ordinary);
        if (session.empty()) fail("creating the session failed");
    }
    if (options.op == "cell") {
        context = create_context(socket, session);
        if (context.empty() || !one_plus_one(socket, session, context)) fail("the context's first cell failed");
    }
    const std::string kib(1024, 'k');
    if ((options.op == "get") && !put_file(socket, session, kib)) fail("writing the file to read failed");
    // One sample: `measured` is timed; `after` (cleanup) is not.
    std::function<bool()> measured;
    std::function<void()> before = [] {}, after = [] {};
    std::string made;
    if (options.op == "create") {
        measured = [&] { return !(made = create_session(socket, true)).empty(); };
        after = [&] {
            if (!made.empty()) delete_session(socket, made);
        };
    } else if (options.op == "echo") {
        measured = [&] { return echo_hi(socket, session); };
    } else if (options.op == "cell") {
        measured = [&] { return one_plus_one(socket, session, context); };
    } else if (options.op == "first-cell") {
        before = [&] { made = create_context(socket, session); };
        measured = [&] { return !made.empty() && one_plus_one(socket, session, made); };
        after = [&] { delete_context(socket, session, made); };
    } else if (options.op == "file") {
        measured = [&] { return put_file(socket, session, kib) && get_file(socket, session, kib); };
    } else if (options.op == "start") {
        measured = [&] { return start_true(socket, session); };
    } else if (options.op == "put") {
        measured = [&] { return put_file(socket, session, kib); };
    } else if (options.op == "get") {
        measured = [&] { return get_file(socket, session, kib); };
    } else {
        usage("unknown operation");
    }

    for (std::size_t i = 0; i < options.warmup; ++i) {
        before();
        measured();
        after();
    }
    std::vector<double> samples;
    std::size_t errors = 0;
    const auto start = Clock::now();
    const auto deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    while (samples.size() + errors < options.runs && Clock::now() < deadline) {
        if (options.pause_ms > 0)
            std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(options.pause_ms));
        before();
        const auto begin = Clock::now();
        const bool ok = measured();
        const double ms = jaild::bench::ms_since(begin);
        after();
        if (ok)
            samples.push_back(ms);
        else
            ++errors;
    }
    if (!session.empty()) delete_session(socket, session);
    jaild::bench::print_report(std::move(samples), errors, jaild::bench::ms_since(start) / 1000.0);
    return 0;
}
