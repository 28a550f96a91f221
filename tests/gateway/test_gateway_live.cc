// jaild-gateway's live sessions against a real jaild: processes that outlive their requests and are re-attached,
// stdin and EOF, signals, a terminal driven through the attach WebSocket, two processes at once, interpreter
// contexts (state across cells and errors, a matplotlib PNG, interrupt, restart), the 400/404/409 answers, keys
// as a WebSocket subprotocol, and a Python client streaming NDJSON. The sandbox itself is jaild's and is tested
// there (tests/integration, tests/security).
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <thread>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/jailctl.h"
#include "tests/support/tenants.h"
#include "tests/support/websocket_client.h"

using namespace jaild::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string text(const json::value& value) { return value.is_string() ? std::string(value.as_string()) : ""; }

std::string field_of(const HttpResponse& response) {
    const auto body = response.json();
    return body.at("field").is_null() ? std::string("null") : text(body.at("field"));
}

// POST /sessions {"live": true}; the new session's id.
std::string create_live(int port, const Headers& headers = {}) {
    const auto response = post_json(port, "/sessions", R"({"live": true})", headers);
    INFO(response.body);
    REQUIRE(response.status == 201);
    REQUIRE(response.json().at("live") == true);
    return text(response.json().at("session_id"));
}

std::string processes(const std::string& id) { return "/sessions/" + id + "/processes"; }
std::string process(const std::string& id, std::uint32_t pid) { return processes(id) + "/" + std::to_string(pid); }

// POST .../processes with `body`; the new process's pid.
std::uint32_t start(int port, const std::string& id, const std::string& body) {
    const auto response = post_json(port, processes(id), body);
    INFO(body << " -> " << response.status << " " << response.body);
    REQUIRE(response.status == 201);
    const json::value info = response.json();
    CHECK(info.at("running").is_bool());
    return static_cast<std::uint32_t>(info.at("pid").to_number<std::uint64_t>());
}

json::value info_of(int port, const std::string& id, std::uint32_t pid) {
    const auto response = http_request(port, "GET", process(id, pid));
    INFO(response.body);
    REQUIRE(response.status == 200);
    return response.json();
}

// GET .../wait: the process's info once it ended.
json::value wait_for_exit(int port, const std::string& id, std::uint32_t pid) {
    const auto response = http_request(port, "GET", process(id, pid) + "/wait", "", {}, 60s);
    INFO(response.body);
    REQUIRE(response.status == 200);
    const json::value info = response.json();
    CHECK(info.at("running") == false);
    return info;
}

std::vector<json::value> parsed(const StreamResponse& response) {
    std::vector<json::value> lines;
    for (const auto& line : response.lines) lines.push_back(json::parse(line.text));
    return lines;
}

// The stdout (or stderr) data of output lines, joined.
std::string joined(const std::vector<json::value>& lines, const std::string& stream = "stdout") {
    std::string out;
    for (const auto& line : lines)
        if (text(line.at("type")) == stream) out += text(line.at("data"));
    return out;
}

// Reads a chunked NDJSON answer on a raw connection until `done` holds for what arrived, then hangs up.
std::string read_until(int port, const std::string& target, const std::function<bool(const std::string&)>& done,
                       std::chrono::milliseconds timeout = 20s) {
    RawConnection connection(port);
    REQUIRE(connection.connected());
    REQUIRE(connection.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    std::string received;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(received) && std::chrono::steady_clock::now() < deadline) {
        bool closed = false;
        received += connection.receive_all(100ms, closed);
        if (closed) break;
    }
    connection.close();
    return received;
}

bool has(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// Runs `predicate` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& predicate, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return predicate();
}

// What an attach WebSocket's client got as terminal output so far, read until `needle` shows up.
std::string terminal_until(WebSocketClient& socket, std::string& screen, const std::string& needle,
                           std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!has(screen, needle) && std::chrono::steady_clock::now() < deadline) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        auto message = socket.receive(left);
        if (!message) break;
        const json::value frame = json::parse(*message);
        if (text(frame.at("type")) == "stdout") screen += text(frame.at("data"));
    }
    return screen;
}

std::string contexts(const std::string& id) { return "/sessions/" + id + "/contexts"; }

// POST .../contexts; the new context's id.
std::string create_context(int port, const std::string& id) {
    const auto response = post_json(port, contexts(id), R"({"language": "python"})");
    INFO(response.body);
    REQUIRE(response.status == 201);
    const json::value info = response.json();
    CHECK(info.at("language") == "python");
    CHECK(info.at("pid").is_null());  // the interpreter starts with the first cell
    return text(info.at("context_id"));
}

// One cell: its NDJSON lines, the last of which must be the end.
std::vector<json::value> run_cell(int port, const std::string& id, const std::string& context,
                                  const std::string& code) {
    json::object body;
    body["code"] = code;
    const auto response = post_stream(port, contexts(id) + "/" + context + "/run", json::serialize(body));
    REQUIRE(response.status == 200);
    CHECK(response.headers.at("content-type") == "application/x-ndjson");
    auto lines = parsed(response);
    INFO(code);
    REQUIRE(!lines.empty());
    CHECK(lines.back().at("type") == "end");
    return lines;
}

const json::value* first_of(const std::vector<json::value>& lines, const std::string& type) {
    for (const auto& line : lines)
        if (text(line.at("type")) == type) return &line;
    return nullptr;
}

std::string main_result(const std::vector<json::value>& lines) {
    for (const auto& line : lines)
        if (text(line.at("type")) == "result" && line.at("is_main_result") == true) return text(line.at("text"));
    return "<no main result>";
}

std::string base64_decode(std::string_view in) {
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned bits = 0;
    int count = 0;
    for (const char c : in) {
        if (c == '=') break;
        const std::size_t value = alphabet.find(c);
        if (value == std::string::npos) continue;
        bits = (bits << 6) | static_cast<unsigned>(value);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<char>((bits >> count) & 0xFF));
        }
    }
    return out;
}

}  // namespace

TEST_CASE("gateway live: a live session's info, its deadline, and 409 on an ordinary session", "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    auto response = post_json(port, "/sessions", R"({"live": true})");
    REQUIRE(response.status == 201);
    json::value info = response.json();
    const std::string id = text(info.at("session_id"));
    CHECK(info.at("live") == true);
    CHECK(info.at("restarted") == false);
    CHECK(info.at("deadline_unix_ms").is_null());
    CHECK(info.at("processes_running") == 0);
    CHECK(info.at("expires_unix_ms").is_number());

    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    response = post_json(port, "/sessions/" + id + "/timeout", R"({"timeout_ms": 120000})");
    INFO(response.body);
    REQUIRE(response.status == 200);
    const auto deadline = response.json().at("deadline_unix_ms").to_number<std::int64_t>();
    CHECK(deadline >= now_ms + 110000);
    CHECK(deadline <= now_ms + 130000);
    response = post_json(port, "/sessions/" + id + "/timeout", R"({"timeout_ms": 0})");
    REQUIRE(response.status == 200);
    CHECK(response.json().at("deadline_unix_ms").is_null());
    response = post_json(port, "/sessions", R"({"live": true, "timeout_ms": 60000})");
    REQUIRE(response.status == 201);
    CHECK(response.json().at("deadline_unix_ms").is_number());
    CHECK(http_request(port, "GET", "/sessions/" + id).json().at("live") == true);

    // An ordinary session has no sandbox to run processes or contexts in.
    response = post_json(port, "/sessions", "{}");
    REQUIRE(response.status == 201);
    CHECK(response.json().at("live") == false);
    const std::string plain = text(response.json().at("session_id"));
    response = post_json(port, processes(plain), R"({"command": ["true"]})");
    INFO(response.body);
    CHECK(response.status == 409);
    CHECK(has(text(response.json().at("error")), "not live"));
    CHECK(http_request(port, "GET", processes(plain)).status == 409);
    CHECK(post_json(port, contexts(plain), R"({"language": "python"})").status == 409);
    CHECK(http_request(port, "GET", contexts(plain)).status == 409);
    CHECK(post_json(port, "/sessions/" + plain + "/timeout", R"({"timeout_ms": 1000})").status == 409);
    // An unknown session is 404 on every route.
    CHECK(http_request(port, "GET", processes("0123456789abcdef0123456789abcdef")).status == 404);
    CHECK(post_json(port, contexts("0123456789abcdef0123456789abcdef"), "{}").status == 404);
}

TEST_CASE("gateway live: a process outlives its request and is re-attached with its earlier output",
          "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const auto pid = start(port, id,
                           R"({"command": ["/bin/sh", "-c", "echo first; echo oops >&2; sleep 0.5; echo second; )"
                           R"(read line; echo \"got $line\"; exec sleep 600"]})");

    // The first reader leaves once it has seen "second": the process goes on.
    const std::string seen =
        read_until(port, process(id, pid) + "/output", [](const std::string& got) { return has(got, "second"); });
    CHECK(has(seen, R"({"type":"stdout","data":"first\n"})"));
    CHECK(has(seen, R"({"type":"stderr","data":"oops\n"})"));
    CHECK(has(seen, "application/x-ndjson"));
    std::this_thread::sleep_for(300ms);
    json::value info = info_of(port, id, pid);
    CHECK(info.at("running") == true);
    CHECK(info.at("exit_code").is_null());
    CHECK(info.at("command").at(0) == "/bin/sh");
    CHECK(info.at("pty") == false);
    CHECK(info.at("started_unix_ms").is_number());

    // Listed, and counted in the session's info.
    auto list = http_request(port, "GET", processes(id));
    REQUIRE(list.status == 200);
    bool listed = false;
    const json::value listing = list.json();
    for (const auto& entry : listing.at("processes").as_array())
        if (entry.at("pid") == pid) listed = entry.at("running") == true;
    CHECK(listed);
    CHECK(http_request(port, "GET", "/sessions/" + id).json().at("processes_running").to_number<int>() >= 1);

    // Re-attached: the earlier output again, from the start of the buffer.
    const std::string again =
        read_until(port, process(id, pid) + "/output", [](const std::string& got) { return has(got, "second"); });
    CHECK(has(again, "first"));
    CHECK(has(again, "second"));
    // ?live=1: only what comes from now on.
    std::string live;
    std::thread reader([&] {
        live = read_until(port, process(id, pid) + "/output?live=1",
                          [](const std::string& got) { return has(got, "got hello"); });
    });
    std::this_thread::sleep_for(500ms);
    CHECK(http_request(port, "POST", process(id, pid) + "/stdin", "hello\n").status == 204);
    reader.join();
    CHECK(has(live, "got hello"));
    CHECK_FALSE(has(live, "first"));

    // Ended by a signal: the whole stream, then its exit line; wait and info say how it ended.
    CHECK(post_json(port, process(id, pid) + "/signal", R"({"signal": "SIGTERM"})").status == 204);
    info = wait_for_exit(port, id, pid);
    CHECK(info.at("signal") == 15);
    CHECK(info.at("signal_name") == "SIGTERM");
    CHECK(info.at("exit_code") == 143);
    const auto all = get_stream(port, process(id, pid) + "/output");
    REQUIRE(all.status == 200);
    const auto lines = parsed(all);
    REQUIRE(!lines.empty());
    CHECK(joined(lines) == "first\nsecond\ngot hello\n");
    CHECK(joined(lines, "stderr") == "oops\n");
    CHECK(json::serialize(lines.back()) == R"({"type":"exit","exit_code":143,"signal":15,"signal_name":"SIGTERM"})");
}

TEST_CASE("gateway live: stdin, EOF and a process started without stdin", "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const auto cat = start(port, id, R"({"command": ["cat"]})");
    CHECK(http_request(port, "POST", process(id, cat) + "/stdin", "hello\n").status == 204);
    CHECK(http_request(port, "POST", process(id, cat) + "/stdin", std::string("bytes \xff\n", 8)).status == 204);
    CHECK(info_of(port, id, cat).at("running") == true);  // stdin still open
    CHECK(http_request(port, "POST", process(id, cat) + "/stdin?eof=1", "bye").status == 204);
    json::value info = wait_for_exit(port, id, cat);
    CHECK(info.at("exit_code") == 0);
    CHECK(info.at("signal").is_null());
    const auto lines = parsed(get_stream(port, process(id, cat) + "/output"));
    CHECK(joined(lines) == "hello\nbytes \xEF\xBF\xBD\nbye");
    bool exact = false;  // the byte that is not UTF-8 is there exactly, in data_base64
    for (const auto& line : lines)
        if (line.as_object().contains("data_base64")) exact = has(base64_decode(text(line.at("data_base64"))), "\xff");
    CHECK(exact);
    // The process has ended: what is written to it goes nowhere.
    CHECK(http_request(port, "POST", process(id, cat) + "/stdin", "late").status == 204);

    // An empty body with ?eof=1 only closes it.
    const auto wc = start(port, id, R"({"command": ["wc", "-c"]})");
    CHECK(http_request(port, "POST", process(id, wc) + "/stdin?eof=1", "").status == 204);
    wait_for_exit(port, id, wc);
    CHECK(joined(parsed(get_stream(port, process(id, wc) + "/output"))) == "0\n");

    // "stdin": false: a read sees EOF at once.
    const auto closed =
        start(port, id, R"({"command": ["/bin/sh", "-c", "read x; echo \"x=[$x] $?\""], "stdin": false})");
    wait_for_exit(port, id, closed);
    CHECK(joined(parsed(get_stream(port, process(id, closed) + "/output"))) == "x=[] 1\n");
    CHECK(http_request(port, "POST", process(id, cat) + "/stdin?eof=maybe", "").status == 400);
}

TEST_CASE("gateway live: signals by name and number, resize needs a terminal", "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const auto trapper = start(port, id,
                               R"({"command": ["/bin/sh", "-c", "trap 'echo got-usr1' USR1; echo ready; )"
                               R"(while :; do sleep 0.1; done"]})");
    read_until(port, process(id, trapper) + "/output", [](const std::string& got) { return has(got, "ready"); });
    CHECK(post_json(port, process(id, trapper) + "/signal", R"({"signal": "USR1"})").status == 204);
    const std::string got =
        read_until(port, process(id, trapper) + "/output", [](const std::string& out) { return has(out, "got-usr1"); });
    CHECK(has(got, "got-usr1"));
    CHECK(info_of(port, id, trapper).at("running") == true);
    auto response = post_json(port, process(id, trapper) + "/resize", R"({"rows": 30, "cols": 100})");
    INFO(response.body);
    CHECK(response.status == 409);  // a pipe has no size
    CHECK(post_json(port, process(id, trapper) + "/signal", R"({"signal": 9})").status == 204);
    const json::value info = wait_for_exit(port, id, trapper);
    CHECK(info.at("signal") == 9);
    CHECK(info.at("signal_name") == "SIGKILL");
    CHECK(info.at("exit_code") == 137);

    response = post_json(port, process(id, trapper) + "/signal", R"({"signal": "SIGNOPE"})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "signal");
    response = post_json(port, process(id, trapper) + "/signal", R"({"signal": 0})");
    CHECK(response.status == 400);
    response = post_json(port, process(id, trapper) + "/signal", R"({"sig": "SIGTERM"})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "sig");
}

TEST_CASE("gateway live: two processes at once keep their output apart", "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const std::string loop = R"(for i in 1 2 3 4 5; do echo $0$i; sleep 0.2; done)";
    const auto a = start(port, id, R"({"command": ["/bin/sh", "-c", ")" + loop + R"(", "A"]})");
    const auto b = start(port, id, R"({"command": ["/bin/sh", "-c", ")" + loop + R"(", "B"]})");
    CHECK(a != b);
    CHECK(eventually([&] {
        return http_request(port, "GET", "/sessions/" + id).json().at("processes_running").to_number<int>() == 2;
    }));
    auto output_a = std::async(std::launch::async, [&] { return get_stream(port, process(id, a) + "/output"); });
    auto output_b = std::async(std::launch::async, [&] { return get_stream(port, process(id, b) + "/output"); });
    CHECK(joined(parsed(output_a.get())) == "A1\nA2\nA3\nA4\nA5\n");
    CHECK(joined(parsed(output_b.get())) == "B1\nB2\nB3\nB4\nB5\n");
    CHECK(wait_for_exit(port, id, a).at("exit_code") == 0);
    CHECK(wait_for_exit(port, id, b).at("exit_code") == 0);
    const auto list = http_request(port, "GET", processes(id)).json().at("processes").as_array();
    CHECK(list.size() >= 2);
}

TEST_CASE("gateway live: a terminal through the attach WebSocket, with resize", "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const auto shell =
        start(port, id, R"({"command": ["/bin/sh", "-i"], "env": {"PS1": "$ "}, "pty": {"rows": 24, "cols": 80}})");
    CHECK(info_of(port, id, shell).at("pty") == true);

    WebSocketClient socket(port, process(id, shell) + "/attach");
    INFO(socket.body());
    REQUIRE(socket.status() == 101);
    CHECK(socket.header("x-request-id").size() == 32);
    CHECK_FALSE(socket.header("ratelimit").empty());
    std::string screen;
    REQUIRE(socket.send_text(R"({"type": "stdin", "data": "stty size\n"})"));
    CHECK(has(terminal_until(socket, screen, "24 80"), "24 80"));

    REQUIRE(socket.send_text(R"({"type": "resize", "rows": 40, "cols": 132})"));
    REQUIRE(socket.send_text(R"({"type": "stdin", "data": "stty size\n"})"));
    CHECK(has(terminal_until(socket, screen, "40 132"), "40 132"));

    // The HTTP route resizes it too.
    CHECK(post_json(port, process(id, shell) + "/resize", R"({"rows": 50, "cols": 100})").status == 204);
    REQUIRE(socket.send_binary("stty size; echo bin-$((1+2))\n"));  // a binary frame is raw input
    CHECK(has(terminal_until(socket, screen, "bin-3"), "50 100"));

    // A frame that is not one of ours is refused by an error frame; the attach goes on.
    REQUIRE(socket.send_text(R"({"type": "paste", "data": "x"})"));
    bool refused = false;
    for (int i = 0; i < 20 && !refused; ++i) {
        auto message = socket.receive(5s);
        if (!message) break;
        const json::value frame = json::parse(*message);
        refused = text(frame.at("type")) == "error" && text(frame.at("field")) == "type";
    }
    CHECK(refused);

    // Ctrl-C goes through the terminal; exit ends the shell, and the server closes after its exit line.
    REQUIRE(socket.send_text(R"({"type": "stdin", "data": "exit 3\n"})"));
    std::string last;
    for (auto message = socket.receive(15s); message; message = socket.receive(15s)) last = *message;
    CHECK(json::parse(last) == json::parse(R"({"type":"exit","exit_code":3,"signal":null,"signal_name":null})"));
    CHECK(socket.close_code() == 1000);
    CHECK(wait_for_exit(port, id, shell).at("exit_code") == 3);
}

TEST_CASE("gateway live: Python's interactive interpreter on a terminal, and a closed WebSocket only detaches",
          "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const auto python =
        start(port, id, R"({"command": ["/usr/bin/python3", "-i", "-q"], "pty": {"rows": 24, "cols": 80}})");
    {
        WebSocketClient socket(port, process(id, python) + "/attach");
        REQUIRE(socket.status() == 101);
        std::string screen;
        REQUIRE(socket.send_text(R"({"type": "stdin", "data": "x = 6 * 7\n"})"));
        REQUIRE(socket.send_text(R"({"type": "stdin", "data": "print('x is', x)\n"})"));
        CHECK(has(terminal_until(socket, screen, "x is 42"), "x is 42"));
        REQUIRE(socket.send_text(R"({"type": "stdin", "data": "import shutil; shutil.get_terminal_size()\n"})"));
        CHECK(has(terminal_until(socket, screen, "columns=80, lines=24"), "columns=80, lines=24"));
        socket.close();  // detaches
    }
    std::this_thread::sleep_for(300ms);
    CHECK(info_of(port, id, python).at("running") == true);
    {
        // Re-attached: the state is still there, and the earlier output comes first.
        WebSocketClient socket(port, process(id, python) + "/attach");
        REQUIRE(socket.status() == 101);
        std::string screen;
        CHECK(has(terminal_until(socket, screen, "x is 42"), "x is 42"));
        REQUIRE(socket.send_text(R"({"type": "stdin", "data": "print('still', x)\n"})"));
        CHECK(has(terminal_until(socket, screen, "still 42"), "still 42"));
        REQUIRE(socket.send_text(R"({"type": "eof"})"));  // ^D ends the interpreter
        for (auto message = socket.receive(15s); message; message = socket.receive(15s)) {
        }
        CHECK(socket.close_code() == 1000);
    }
    CHECK(wait_for_exit(port, id, python).at("exit_code") == 0);
}

TEST_CASE("gateway live: unknown pids are 404, malformed requests 400 naming the field", "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const auto pid = start(port, id, R"({"command": ["sleep", "600"]})");
    const std::string missing = process(id, 999999);
    CHECK(http_request(port, "GET", missing).status == 404);
    CHECK(http_request(port, "GET", missing + "/output").status == 404);
    CHECK(http_request(port, "GET", missing + "/wait").status == 404);
    CHECK(http_request(port, "POST", missing + "/stdin", "x").status == 404);
    CHECK(post_json(port, missing + "/signal", R"({"signal": "SIGTERM"})").status == 404);
    CHECK(post_json(port, missing + "/resize", R"({"rows": 1, "cols": 1})").status == 404);
    WebSocketClient unknown(port, missing + "/attach");
    CHECK(unknown.status() == 404);

    for (const std::string wrong : {"abc", "0", "-1", "12x", "99999999999"}) {
        const auto response = http_request(port, "GET", processes(id) + "/" + wrong);
        INFO(wrong << ": " << response.body);
        CHECK(response.status == 400);
        CHECK(field_of(response) == "pid");
    }
    auto response = http_request(port, "GET", "/sessions/%FF%FE/processes");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "session_id");
    response = http_request(port, "GET", "/sessions/" + id + "/contexts/%C3%28/run");
    CHECK(response.status == 405);  // run is a POST
    response = post_json(port, "/sessions/" + id + "/contexts/%C3%28/run", R"({"code": "1"})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "context_id");

    struct Bad {
        std::string body, field;
    };
    for (const Bad& bad : {Bad{"{nope", "null"}, Bad{"[]", "null"}, Bad{"{}", "command"},
                           Bad{R"({"command": "ls"})", "command"}, Bad{R"({"command": ["ls"], "cwd": 1})", "cwd"},
                           Bad{R"({"command": ["ls"], "pty": {"rows": 24}})", "pty.cols"},
                           Bad{R"({"command": ["ls"], "env": {"A": 1}})", "env.A"},
                           Bad{R"({"command": ["ls"], "user": "root"})", "user"},
                           Bad{R"({"command": ["ls"], "detach": true})", "detach"}}) {
        response = post_json(port, processes(id), bad.body);
        INFO(bad.body << ": " << response.body);
        CHECK(response.status == 400);
        CHECK(field_of(response) == bad.field);
    }
    response = http_request(port, "POST", processes(id), R"({"command": ["ls"]})", {{"Content-Type", "text/plain"}});
    CHECK(response.status == 415);
    response = post_json(port, process(id, pid) + "/resize", R"({"rows": "24", "cols": 80})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "rows");
    response = http_request(port, "GET", process(id, pid) + "/output?live=maybe");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "live");
    response = http_request(port, "GET", process(id, pid) + "/output?since=0");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "since");
    response = post_json(port, "/sessions", R"({"timeout_ms": 1000})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "timeout_ms");
    // A WebSocket route asked without the upgrade.
    response = http_request(port, "GET", process(id, pid) + "/attach");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "Upgrade");
    CHECK(post_json(port, process(id, pid) + "/signal", R"({"signal": "SIGKILL"})").status == 204);
}

TEST_CASE("gateway live: keys as a WebSocket subprotocol, origins, and the usual headers on the new routes",
          "[gateway][live][auth]") {
    TenantsFile keys;
    const std::string key = keys.create("acme");
    const std::string other = keys.create("globex");
    KeyedStack stack(keys);
    const int port = stack.port();
    const std::string id = create_live(port, bearer(key));
    auto response =
        post_json(port, processes(id), R"({"command": ["/bin/sh", "-c", "echo hi; exec sleep 600"]})", bearer(key));
    REQUIRE(response.status == 201);
    CHECK_FALSE(response.header("ratelimit").empty());
    CHECK_FALSE(response.header("ratelimit-policy").empty());
    CHECK(response.header("x-request-id").size() == 32);
    const auto pid = static_cast<std::uint32_t>(response.json().at("pid").to_number<std::uint64_t>());

    CHECK(http_request(port, "GET", processes(id)).status == 401);
    CHECK(http_request(port, "GET", processes(id), "", bearer(other)).status == 404);  // another tenant's session
    CHECK(http_request(port, "GET", processes(id), "", api_key(key)).status == 200);

    WebSocketClient keyless(port, process(id, pid) + "/attach");
    CHECK(keyless.status() == 401);
    WebSocketClient wrong(port, process(id, pid) + "/attach", {}, {"jaild.key.jk_not_a_key"});
    CHECK(wrong.status() == 401);
    WebSocketClient stranger(port, process(id, pid) + "/attach", {}, {"jaild.key." + other});
    CHECK(stranger.status() == 404);
    WebSocketClient evil(port, process(id, pid) + "/attach", {{"Origin", "https://evil.example"}},
                         {"jaild.key." + key});
    CHECK(evil.status() == 403);

    WebSocketClient socket(port, process(id, pid) + "/attach", {}, {"jaild.key." + key});
    INFO(socket.body());
    REQUIRE(socket.status() == 101);
    CHECK(socket.header("sec-websocket-protocol") == "jaild.key." + key);
    auto first = socket.receive();
    REQUIRE(first);
    CHECK(json::parse(*first) == json::parse(R"({"type":"stdout","data":"hi\n"})"));
    socket.close();
    // Header keys work on the upgrade as on any request.
    WebSocketClient header_keyed(port, process(id, pid) + "/attach", bearer(key));
    CHECK(header_keyed.status() == 101);
    header_keyed.close();
    CHECK(post_json(port, process(id, pid) + "/signal", R"({"signal": "SIGKILL"})", bearer(key)).status == 204);

    const std::string log = stack.gateway.log();
    CHECK(has(log, R"("route":"/sessions/{id}/processes/{pid}/attach")"));
    CHECK(has(log, R"("status":101)"));
}

TEST_CASE("gateway live: interpreter contexts keep state across cells and errors, and show figures",
          "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const std::string context = create_context(port, id);

    auto lines = run_cell(port, id, context, "x = 41\nprint('set', x)");
    CHECK(joined(lines) == "set 41\n");
    lines = run_cell(port, id, context, "x + 1");
    CHECK(main_result(lines) == "42");
    CHECK(lines.back().at("execution_count").is_number());

    lines = run_cell(port, id, context, "import os\nos.chdir('/tmp')\n1/0");
    const json::value* error = first_of(lines, "error");
    REQUIRE(error);
    CHECK(error->at("name") == "ZeroDivisionError");
    CHECK(error->at("value") == "division by zero");
    CHECK(has(text(error->at("traceback")), "ZeroDivisionError"));
    // After the error: variables, imports and cwd are all still there.
    lines = run_cell(port, id, context, "(x, os.getcwd())");
    CHECK(main_result(lines) == "(41, '/tmp')");

    auto listed = http_request(port, "GET", contexts(id));
    REQUIRE(listed.status == 200);
    const json::value listing = listed.json();
    const auto& entry = listing.at("contexts").at(0);
    CHECK(text(entry.at("context_id")) == context);
    CHECK(entry.at("pid").is_number());  // started by the first cell

    lines = run_cell(port, id, context,
                     "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nNone");
    const json::value* figure = nullptr;
    for (const auto& line : lines)
        if (text(line.at("type")) == "result" && line.as_object().contains("png")) figure = &line;
    REQUIRE(figure);
    const std::string png = base64_decode(text(figure->at("png")));
    CHECK(png.size() > 1000);
    CHECK(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));

    lines = run_cell(port, id, context, "import pandas as pd\npd.DataFrame({'a': [1, 2], 'b': [3, 4]})");
    const json::value* table = first_of(lines, "result");
    REQUIRE(table);
    CHECK(has(text(table->at("html")), "<table"));

    // A second context is another interpreter.
    const std::string second = create_context(port, id);
    lines = run_cell(port, id, second, "x");
    REQUIRE(first_of(lines, "error"));
    CHECK(first_of(lines, "error")->at("name") == "NameError");
}

TEST_CASE("gateway live: a long cell is interrupted, a context restarted and deleted", "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    const std::string context = create_context(port, id);
    run_cell(port, id, context, "import time\nkept = 'yes'");

    const std::string sleeper = R"x({"code": "print('sleeping', flush=True)\ntime.sleep(60)"})x";
    auto long_cell = std::async(std::launch::async,
                                [&] { return post_stream(port, contexts(id) + "/" + context + "/run", sleeper); });
    std::this_thread::sleep_for(1500ms);
    const auto started = std::chrono::steady_clock::now();
    CHECK(http_request(port, "POST", contexts(id) + "/" + context + "/interrupt").status == 204);
    REQUIRE(long_cell.wait_for(20s) == std::future_status::ready);
    CHECK(std::chrono::steady_clock::now() - started < 10s);
    const auto lines = parsed(long_cell.get());
    CHECK(joined(lines) == "sleeping\n");
    const json::value* error = first_of(lines, "error");
    REQUIRE(error);
    CHECK(error->at("name") == "KeyboardInterrupt");
    CHECK(main_result(run_cell(port, id, context, "kept")) == "'yes'");  // interrupted, not restarted

    CHECK(post_json(port, contexts(id) + "/" + context + "/restart", "{}").status == 204);
    auto after = run_cell(port, id, context, "kept");
    REQUIRE(first_of(after, "error"));
    CHECK(first_of(after, "error")->at("name") == "NameError");
    CHECK(main_result(run_cell(port, id, context, "1 + 1")) == "2");

    CHECK(http_request(port, "DELETE", contexts(id) + "/" + context).status == 204);
    CHECK(post_json(port, contexts(id) + "/" + context + "/run", R"({"code": "1"})").status == 404);
    CHECK(http_request(port, "POST", contexts(id) + "/nope/interrupt").status == 404);
    CHECK(http_request(port, "POST", contexts(id) + "/nope/restart").status == 404);
    CHECK(http_request(port, "DELETE", contexts(id) + "/nope").status == 404);
    auto response = post_json(port, contexts(id) + "/nope/run", R"({"cod": "1"})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "cod");
    response = post_json(port, contexts(id), R"({"language": "ruby"})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "language");
    response = post_json(port, contexts(id) + "/x/interrupt", R"({"now": true})");
    CHECK(response.status == 400);
    CHECK(field_of(response) == "now");
}

TEST_CASE("gateway live: a Python client streams a process's output and a cell with requests", "[gateway][live]") {
    Stack stack;
    const int port = stack.port();
    const std::string id = create_live(port);
    TempDir dir;
    const std::string script = dir.path() + "/client.py";
    std::ofstream(script) << R"PY(import json, sys
import requests

base = f"http://127.0.0.1:{sys.argv[1]}/sessions/{sys.argv[2]}"
pid = requests.post(f"{base}/processes", json={"command": ["/bin/sh", "-c", "echo one; sleep 0.3; echo two"]}).json()["pid"]
out = []
with requests.get(f"{base}/processes/{pid}/output", stream=True) as response:
    assert response.headers["Content-Type"] == "application/x-ndjson", response.headers
    for line in response.iter_lines():
        out.append(json.loads(line))
context = requests.post(f"{base}/contexts", json={"language": "python"}).json()["context_id"]
cell = []
with requests.post(f"{base}/contexts/{context}/run", json={"code": "print('hi')\n6 * 7"}, stream=True) as response:
    for line in response.iter_lines():
        cell.append(json.loads(line))
print(json.dumps({"output": out, "cell": cell}))
)PY";
    JailctlCall call;
    call.program = "/usr/bin/python3";
    call.args = {script, std::to_string(port), id};
    const Jailctl ran = run_jailctl(call);
    INFO(ran.out << ran.err);
    REQUIRE(ran.exit_code == 0);
    const json::value result = json::parse(ran.out);
    const auto& output = result.at("output").as_array();
    REQUIRE(output.size() == 3);
    CHECK(output[0] == json::parse(R"({"type":"stdout","data":"one\n"})"));
    CHECK(output[1] == json::parse(R"({"type":"stdout","data":"two\n"})"));
    CHECK(output[2].at("type") == "exit");
    CHECK(output[2].at("exit_code") == 0);
    const std::vector<json::value> cell(result.at("cell").as_array().begin(), result.at("cell").as_array().end());
    REQUIRE(cell.size() >= 3);
    CHECK(joined(cell) == "hi\n");  // printed in as many pieces as the interpreter wrote it
    CHECK(main_result(cell) == "42");
    CHECK(cell.back().at("type") == "end");
}

TEST_CASE("gateway live: a process start and a cell are runs for the caller's rate", "[gateway][live][quotas]") {
    TenantsFile keys;
    const std::string key = keys.create("acme", {"--runs-per-minute", "2"});
    KeyedStack stack(keys);
    const int port = stack.port();
    const std::string id = create_live(port, bearer(key));
    auto response = post_json(port, processes(id), R"({"command": ["true"]})", bearer(key));
    REQUIRE(response.status == 201);
    CHECK(response.header("ratelimit") == "\"runs\";r=1;t=30");
    response = post_json(port, contexts(id), "{}", bearer(key));
    REQUIRE(response.status == 201);  // not a run
    const std::string context = text(response.json().at("context_id"));
    response = post_json(port, contexts(id) + "/" + context + "/run", R"({"code": "1"})", bearer(key));
    CHECK(response.status == 200);
    response = post_json(port, processes(id), R"({"command": ["true"]})", bearer(key));
    CHECK(response.status == 429);
    CHECK(text(response.json().at("quota")) == "runs_per_minute");
    CHECK_FALSE(response.header("retry-after").empty());
    response = post_json(port, contexts(id) + "/" + context + "/run", R"({"code": "1"})", bearer(key));
    CHECK(response.status == 429);
    // Reading, signalling and listing take nothing.
    CHECK(http_request(port, "GET", processes(id), "", bearer(key)).status == 200);
    CHECK(http_request(port, "GET", contexts(id), "", bearer(key)).status == 200);
}

TEST_CASE("gateway live: signals and stdin frames on the attach WebSocket, and CORS on the live routes",
          "[gateway][live][cors]") {
    TempDir dir;
    const std::string config = dir.path() + "/gateway.toml";
    std::ofstream(config) << "[gateway]\ncors_origins = [\"http://ide.example.com\"]\n";
    Daemon daemon;
    GatewayProcess gateway(daemon.socket(), {"--config", config});
    const int port = gateway.port();
    const Headers ide{{"Origin", "http://ide.example.com"}};
    auto response = post_json(port, "/sessions", R"({"live": true})", ide);
    REQUIRE(response.status == 201);
    CHECK(response.header("access-control-allow-origin") == "http://ide.example.com");
    const std::string id = text(response.json().at("session_id"));
    response = post_json(port, processes(id),
                         R"({"command": ["/bin/sh", "-c", "trap 'echo got-int; exit 5' INT; echo ready; )"
                         R"(read line; echo \"read $line\"; while :; do sleep 0.1; done"]})",
                         ide);
    REQUIRE(response.status == 201);
    CHECK(response.header("access-control-allow-origin") == "http://ide.example.com");
    const auto pid = static_cast<std::uint32_t>(response.json().at("pid").to_number<std::uint64_t>());

    // A page of a listed origin may open the WebSocket; the 101 carries its CORS headers too.
    WebSocketClient socket(port, process(id, pid) + "/attach?live=0", ide);
    REQUIRE(socket.status() == 101);
    CHECK(socket.header("access-control-allow-origin") == "http://ide.example.com");
    std::string screen;
    CHECK(has(terminal_until(socket, screen, "ready"), "ready"));
    REQUIRE(socket.send_text(R"({"type": "stdin", "data": "line one\n"})"));
    CHECK(has(terminal_until(socket, screen, "read line one"), "read line one"));
    REQUIRE(socket.send_text(R"({"type": "signal", "signal": "SIGINT"})"));
    std::string last;
    for (auto message = socket.receive(15s); message; message = socket.receive(15s)) {
        const json::value frame = json::parse(*message);
        if (text(frame.at("type")) == "stdout") screen += text(frame.at("data"));
        last = *message;
    }
    CHECK(has(screen, "got-int"));
    CHECK(json::parse(last) == json::parse(R"({"type":"exit","exit_code":5,"signal":null,"signal_name":null})"));
    CHECK(socket.close_code() == 1000);
    WebSocketClient other(port, process(id, pid) + "/attach", {{"Origin", "http://evil.example.com"}});
    CHECK(other.status() == 403);
}
