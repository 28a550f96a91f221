// gateway/live_codec and gateway/context_codec: the live routes' bodies to protobuf, the URL's pid and query
// flags, the attach WebSocket's frames, process info, output and cell lines; and the WebSocket upgrade checks
// (gateway/websocket.h) and the key carried as a subprotocol (gateway/authenticator.h). Pure; no sockets.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "gateway/authenticator.h"
#include "gateway/context_codec.h"
#include "gateway/live_codec.h"
#include "gateway/result_rendering.h"
#include "gateway/session_codec.h"
#include "gateway/websocket.h"

namespace json = boost::json;
namespace http = boost::beast::http;
using namespace jaild::gateway;
namespace v1 = jaild::v1;

namespace {

template <class T>
T ok(const std::variant<T, FieldError>& result) {
    if (auto* error = std::get_if<FieldError>(&result))
        FAIL("unexpected error: " << error->field << ": " << error->message);
    return std::get<T>(result);
}

template <class T>
FieldError bad(const std::variant<T, FieldError>& result) {
    if (std::holds_alternative<T>(result)) FAIL("expected a validation error");
    return std::get<FieldError>(result);
}

json::value line(const std::string& text) { return json::parse(text); }

v1::Output output(v1::Stream stream, std::string data, std::uint64_t dropped = 0) {
    v1::Output out;
    out.set_stream(stream);
    out.set_data(std::move(data));
    out.set_dropped(dropped);
    return out;
}

Request upgrade(const std::string& target = "/sessions/s/processes/1/attach") {
    Request request{http::verb::get, target, 11};
    request.set(http::field::host, "127.0.0.1:8080");
    request.set(http::field::upgrade, "websocket");
    request.set(http::field::connection, "Upgrade");
    request.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    request.set(http::field::sec_websocket_version, "13");
    return request;
}

}  // namespace

TEST_CASE("live codec: POST /sessions takes live and timeout_ms", "[unit][codec][live]") {
    const auto live = ok(parse_session_create(R"({"live": true, "timeout_ms": 60000})"));
    CHECK(live.live());
    CHECK(live.timeout_ms() == 60000);
    CHECK_FALSE(ok(parse_session_create(R"({"live": false})")).live());
    CHECK(bad(parse_session_create(R"({"live": "yes"})")).field == "live");
    CHECK(bad(parse_session_create(R"({"timeout_ms": 1000})")).field == "timeout_ms");  // only a live one has it
    CHECK(bad(parse_session_create(R"({"live": true, "timeout_ms": -1})")).field == "timeout_ms");
    CHECK(bad(parse_session_create(R"({"live": true, "timeout_ms": 1.5})")).field == "timeout_ms");
    CHECK(bad(parse_session_create(R"({"live": true, "ttl": 1})")).field == "ttl");
}

TEST_CASE("live codec: session info carries the live fields", "[unit][codec][live]") {
    v1::SessionInfo info;
    info.set_session_id("s1");
    info.set_live(true);
    info.set_processes_running(2);
    info.set_expires_unix_ms(1700000000000);
    auto object = session_info_object(info);
    CHECK(object.at("live") == true);
    CHECK(object.at("restarted") == false);
    CHECK(object.at("deadline_unix_ms").is_null());
    CHECK(object.at("processes_running") == 2);
    CHECK(object.at("expires_unix_ms") == 1700000000000);
    info.set_deadline_unix_ms(1700000060000);
    info.set_restarted(true);
    object = session_info_object(info);
    CHECK(object.at("deadline_unix_ms") == 1700000060000);
    CHECK(object.at("restarted") == true);
    CHECK(ok(parse_session_timeout(R"({"timeout_ms": 0})")).timeout_ms() == 0);
    CHECK(ok(parse_session_timeout(R"({"timeout_ms": 30000})")).timeout_ms() == 30000);
    CHECK(bad(parse_session_timeout("{}")).field == "timeout_ms");
    CHECK(bad(parse_session_timeout(R"({"timeout_ms": "30s"})")).field == "timeout_ms");
    CHECK(bad(parse_session_timeout(R"({"timeout_ms": 1, "x": 2})")).field == "x");
}

TEST_CASE("live codec: a process start body, field by field", "[unit][codec][live]") {
    const auto start = ok(parse_process_start(
        R"({"command": ["sh", "-c", "echo hi"], "env": {"A": "1"}, "cwd": "/tmp", "pty": {"rows": 24, "cols": 80},)"
        R"( "timeout_ms": 5000, "user": "user", "stdin": false})"));
    REQUIRE(start.argv_size() == 3);
    CHECK(start.argv(2) == "echo hi");
    CHECK(start.env().at("A") == "1");
    CHECK(start.cwd() == "/tmp");
    CHECK(start.has_pty());
    CHECK(start.pty().rows() == 24);
    CHECK(start.pty().cols() == 80);
    CHECK(start.timeout_ms() == 5000);
    CHECK(start.user() == "user");
    CHECK(start.stdin_closed());
    const auto plain = ok(parse_process_start(R"({"command": ["true"], "pty": null})"));
    CHECK_FALSE(plain.has_pty());
    CHECK_FALSE(plain.stdin_closed());

    CHECK(bad(parse_process_start("{}")).field == "command");
    CHECK(bad(parse_process_start(R"({"command": []})")).field == "command");
    CHECK(bad(parse_process_start(R"({"command": "ls"})")).field == "command");
    CHECK(bad(parse_process_start(R"({"command": ["ls", 1]})")).field == "command");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "env": {"A": 1}})")).field == "env.A");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "env": []})")).field == "env");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "cwd": 7})")).field == "cwd");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "pty": {"rows": 24}})")).field == "pty.cols");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "pty": {"rows": 0, "cols": 80}})")).field == "pty.rows");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "pty": {"rows": 1001, "cols": 80}})")).field == "pty.rows");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "pty": {"rows": 1, "cols": 1, "x": 1}})")).field == "pty.x");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "pty": true})")).field == "pty");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "timeout_ms": -5})")).field == "timeout_ms");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "user": "root"})")).field == "user");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "stdin": "yes"})")).field == "stdin");
    CHECK(bad(parse_process_start(R"({"command": ["ls"], "shell": true})")).field == "shell");
    CHECK(bad(parse_process_start("{nope")).field.empty());
    CHECK(http_field_name("stdin_closed", RequestKind::session) == "stdin");
    CHECK(http_field_name("size.rows", RequestKind::session) == "rows");
    CHECK(http_field_name("argv", RequestKind::session) == "command");
}

TEST_CASE("live codec: pids, query flags and signals", "[unit][codec][live]") {
    CHECK(ok(parse_pid("1")) == 1u);
    CHECK(ok(parse_pid("4294967295")) == 4294967295u);
    for (const char* wrong : {"", "0", "-1", "+1", "12a", "4294967296", "1.0", " 1", "abc"})
        CHECK(bad(parse_pid(wrong)).field == "pid");

    CHECK(ok(parse_query_flags("/x", {"live"})).empty());
    CHECK(ok(parse_query_flags("/x?live=1", {"live"})).at("live"));
    CHECK(ok(parse_query_flags("/x?live", {"live"})).at("live"));
    CHECK(ok(parse_query_flags("/x?live=true", {"live"})).at("live"));
    CHECK_FALSE(ok(parse_query_flags("/x?live=0", {"live"})).at("live"));
    CHECK_FALSE(ok(parse_query_flags("/x?eof=false", {"eof"})).at("eof"));
    CHECK(bad(parse_query_flags("/x?live=yes", {"live"})).field == "live");
    CHECK(bad(parse_query_flags("/x?lvie=1", {"live"})).field == "lvie");
    CHECK(bad(parse_query_flags("/x?eof=1", {"live"})).field == "eof");

    CHECK(signal_number(json::value("SIGTERM")) == SIGTERM);
    CHECK(signal_number(json::value("TERM")) == SIGTERM);
    CHECK(signal_number(json::value("SIGKILL")) == SIGKILL);
    CHECK(signal_number(json::value("SIGWINCH")) == SIGWINCH);
    CHECK(signal_number(json::value(9)) == 9);
    CHECK(signal_number(json::value(64)) == 64);
    CHECK_FALSE(signal_number(json::value(0)));
    CHECK_FALSE(signal_number(json::value(65)));
    CHECK_FALSE(signal_number(json::value(-9)));
    CHECK_FALSE(signal_number(json::value("sigterm")));
    CHECK_FALSE(signal_number(json::value("SIGNOPE")));
    CHECK_FALSE(signal_number(json::value(9.5)));
    CHECK(ok(parse_process_signal(R"({"signal": "SIGINT"})")).signal() == SIGINT);
    CHECK(ok(parse_process_signal(R"({"signal": 15})")).signal() == 15);
    CHECK(bad(parse_process_signal("{}")).field == "signal");
    CHECK(bad(parse_process_signal(R"({"signal": "SIGFOO"})")).field == "signal");
    CHECK(bad(parse_process_signal(R"({"signal": 15, "pid": 3})")).field == "pid");
    const auto resize = ok(parse_process_resize(R"({"rows": 40, "cols": 120})"));
    CHECK(resize.size().rows() == 40);
    CHECK(resize.size().cols() == 120);
    CHECK(bad(parse_process_resize(R"({"rows": 40})")).field == "cols");
    CHECK(bad(parse_process_resize(R"({"rows": "40", "cols": 1})")).field == "rows");
    CHECK_FALSE(parse_empty_body(""));
    CHECK_FALSE(parse_empty_body("{}"));
    CHECK(parse_empty_body(R"({"force": true})")->field == "force");
    CHECK(parse_empty_body("[]")->message == "request body must be a JSON object");
}

TEST_CASE("live codec: the attach WebSocket's client frames", "[unit][codec][live]") {
    auto message = ok(parse_attach_frame(R"({"type": "stdin", "data": "ls\n"})"));
    CHECK(message.stdin().data() == "ls\n");
    CHECK_FALSE(message.stdin().eof());
    CHECK(ok(parse_attach_frame(R"({"type": "eof"})")).stdin().eof());
    message = ok(parse_attach_frame(R"({"type": "resize", "rows": 50, "cols": 132})"));
    CHECK(message.process_resize().size().rows() == 50);
    CHECK(message.process_resize().size().cols() == 132);
    CHECK(ok(parse_attach_frame(R"({"type": "signal", "signal": "SIGINT"})")).process_signal().signal() == SIGINT);
    CHECK(attach_stdin(std::string("\x03\xff", 2)).stdin().data() == std::string("\x03\xff", 2));

    CHECK(bad(parse_attach_frame("not json")).field.empty());
    CHECK(bad(parse_attach_frame(R"({"data": "x"})")).field == "type");
    CHECK(bad(parse_attach_frame(R"({"type": "paste", "data": "x"})")).field == "type");
    CHECK(bad(parse_attach_frame(R"({"type": "stdin"})")).field == "data");
    CHECK(bad(parse_attach_frame(R"({"type": "stdin", "data": 5})")).field == "data");
    CHECK(bad(parse_attach_frame(R"({"type": "stdin", "data": "x", "eof": true})")).field == "eof");
    CHECK(bad(parse_attach_frame(R"({"type": "resize", "rows": 0, "cols": 80})")).field == "rows");
    CHECK(bad(parse_attach_frame(R"({"type": "signal", "signal": "KILLALL"})")).field == "signal");
}

TEST_CASE("live codec: process info, running and ended", "[unit][codec][live]") {
    v1::ProcessInfo info;
    info.set_pid(42);
    info.add_argv("sleep");
    info.add_argv("10");
    info.set_running(true);
    info.set_cwd("/workspace");
    info.set_started_unix_ms(1700000000000);
    CHECK(process_info_body(info) ==
          R"({"pid":42,"command":["sleep","10"],"running":true,"exit_code":null,"signal":null,"signal_name":null,)"
          R"("pty":false,"cwd":"/workspace","started_unix_ms":1700000000000,"context_id":null})");
    info.set_running(false);
    info.set_exit_code(137);
    info.set_signal(9);
    info.set_signal_name("SIGKILL");
    auto object = process_info_object(info);
    CHECK(object.at("exit_code") == 137);
    CHECK(object.at("signal") == 9);
    CHECK(object.at("signal_name") == "SIGKILL");
    info.set_exit_code(0);
    info.set_signal(0);
    info.set_signal_name("");
    info.set_context_id("c1");
    object = process_info_object(info);
    CHECK(object.at("exit_code") == 0);
    CHECK(object.at("signal").is_null());
    CHECK(object.at("context_id") == "c1");

    v1::ProcessInfoList list;
    *list.add_processes() = info;
    CHECK(find_process(list, 42) != nullptr);
    CHECK(find_process(list, 43) == nullptr);
    CHECK(line(process_list_body(list)).at("processes").as_array().size() == 1);
    CHECK(process_list_body(v1::ProcessInfoList()) == R"({"processes":[]})");
}

TEST_CASE("live codec: output lines keep UTF-8 whole and give exact bytes when not UTF-8", "[unit][codec][live]") {
    OutputLines lines;
    auto out = lines.output(output(v1::STREAM_STDOUT, "h\xC3"));  // é cut in two
    REQUIRE(out.size() == 1);
    CHECK(line(out[0]) == line(R"({"type":"stdout","data":"h"})"));
    out = lines.output(output(v1::STREAM_STDOUT, "\xA9!"));
    REQUIRE(out.size() == 1);
    CHECK(line(out[0]).at("data") == "\xC3\xA9!");
    CHECK_FALSE(line(out[0]).as_object().contains("data_base64"));

    out = lines.output(output(v1::STREAM_STDERR,
                              "a\xFF"
                              "b"));
    REQUIRE(out.size() == 1);
    CHECK(line(out[0]).at("type") == "stderr");
    CHECK(line(out[0]).at("data") ==
          "a\xEF\xBF\xBD"
          "b");
    CHECK(line(out[0]).at("data_base64") == "Yf9i");

    // A gap: the dropped marker, then what came after it.
    out = lines.output(output(v1::STREAM_STDOUT, "tail", 4096));
    REQUIRE(out.size() == 2);
    CHECK(line(out[0]) == line(R"({"type":"dropped","stream":"stdout","bytes":4096})"));
    CHECK(line(out[1]).at("data") == "tail");

    // The exit: what is held first, then the exit line.
    lines.output(output(v1::STREAM_STDOUT, "\xE2\x82"));
    v1::Exit exit;
    exit.set_exit_code(130);
    exit.set_signal(2);
    exit.set_signal_name("SIGINT");
    out = lines.exit(exit);
    REQUIRE(out.size() == 2);
    CHECK(line(out[0]).at("data_base64") == "4oI=");
    CHECK(line(out[1]) == line(R"({"type":"exit","exit_code":130,"signal":2,"signal_name":"SIGINT"})"));
    exit.set_exit_code(0);
    exit.set_signal(0);
    exit.set_signal_name("");
    CHECK(line(lines.exit(exit).back()) == line(R"({"type":"exit","exit_code":0,"signal":null,"signal_name":null})"));

    v1::ServerMessage error;
    error.mutable_error()->set_message("process 7 is not running");
    bool ended = false;
    out = lines.event(error, ended);
    CHECK(ended);
    CHECK(line(out.back()) == line(R"({"type":"error","error":"process 7 is not running","field":null})"));
    v1::ServerMessage info;
    info.mutable_process()->set_pid(7);
    CHECK(lines.event(info, ended).empty());
    CHECK_FALSE(ended);
    CHECK(ndjson({"{}", "[]"}) == "{}\n[]\n");
}

TEST_CASE("live codec: contexts and their bodies", "[unit][codec][live]") {
    CHECK(ok(parse_context_create("")).language() == "python");
    CHECK(ok(parse_context_create("{}")).language() == "python");
    const auto create = ok(parse_context_create(R"({"language": "python", "cwd": "/tmp", "env": {"A": "b"}})"));
    CHECK(create.cwd() == "/tmp");
    CHECK(create.env().at("A") == "b");
    CHECK(bad(parse_context_create(R"({"language": "ruby"})")).field == "language");
    CHECK(bad(parse_context_create(R"({"language": 3})")).field == "language");
    CHECK(bad(parse_context_create(R"({"env": {"A": 1}})")).field == "env.A");
    CHECK(bad(parse_context_create(R"({"kernel": "x"})")).field == "kernel");

    const auto run = ok(parse_context_run(R"({"code": "1+1", "timeout_ms": 2000})"));
    CHECK(run.code() == "1+1");
    CHECK(run.timeout_ms() == 2000);
    CHECK(bad(parse_context_run("{}")).field == "code");
    CHECK(bad(parse_context_run(R"({"code": ["1"]})")).field == "code");
    CHECK(bad(parse_context_run(R"({"code": "1", "timeout_ms": "2s"})")).field == "timeout_ms");
    CHECK(bad(parse_context_run(R"({"code": "1", "language": "python"})")).field == "language");

    v1::ContextInfo info;
    info.set_context_id("c1");
    info.set_language("python");
    info.set_cwd("/workspace");
    CHECK(context_info_body(info) == R"({"context_id":"c1","language":"python","cwd":"/workspace","pid":null})");
    info.set_pid(12);
    v1::ContextInfoList list;
    *list.add_contexts() = info;
    CHECK(line(context_list_body(list)).at("contexts").at(0).at("pid") == 12);
    CHECK(has_context(list, "c1"));
    CHECK_FALSE(has_context(list, "c2"));
}

TEST_CASE("live codec: a cell's events as lines", "[unit][codec][live]") {
    CellLines lines;
    bool ended = false;
    v1::ServerMessage message;
    *message.mutable_output() = output(v1::STREAM_STDOUT, "hello\n");
    auto out = lines.event(message, ended);
    REQUIRE(out.size() == 1);
    CHECK(line(out[0]) == line(R"({"type":"stdout","data":"hello\n"})"));

    message.Clear();
    v1::CellResult& result = *message.mutable_cell_result();
    result.set_text("<Figure size 640x480 with 1 Axes>");
    result.set_png(std::string("\x89PNG\r\n\x1a\n", 8));
    result.set_json(R"({"a": [1, 2.5]})");
    out = lines.event(message, ended);
    REQUIRE(out.size() == 1);
    const json::value figure = line(out[0]);
    CHECK(figure.at("type") == "result");
    CHECK(figure.at("png") == "iVBORw0KGgo=");
    CHECK(figure.at("json").at("a").at(1) == 2.5);
    CHECK(figure.at("is_main_result") == false);
    CHECK_FALSE(figure.as_object().contains("html"));
    CHECK_FALSE(figure.as_object().contains("jpeg"));

    message.Clear();
    message.mutable_cell_result()->set_text("2");
    message.mutable_cell_result()->set_html("<b>2</b>");
    message.mutable_cell_result()->set_is_main_result(true);
    CHECK(line(lines.event(message, ended)[0]) ==
          line(R"({"type":"result","text":"2","html":"<b>2</b>","is_main_result":true})"));

    message.Clear();
    message.mutable_cell_error()->set_name("ZeroDivisionError");
    message.mutable_cell_error()->set_value("division by zero");
    message.mutable_cell_error()->set_traceback("Traceback...");
    CHECK(line(lines.event(message, ended)[0]) ==
          line(R"({"type":"error","name":"ZeroDivisionError","value":"division by zero","traceback":"Traceback..."})"));
    CHECK_FALSE(ended);

    message.Clear();
    message.mutable_cell_end()->set_execution_count(3);
    out = lines.event(message, ended);
    CHECK(ended);
    CHECK(line(out.back()) == line(R"({"type":"end","execution_count":3})"));

    out = lines.lost("jaild connection lost");
    REQUIRE(out.size() == 2);
    CHECK(line(out[0]).at("name") == "JaildError");
    CHECK(line(out[1]) == line(R"({"type":"end","execution_count":null})"));
}

TEST_CASE("live codec: FAILED_PRECONDITION is 409", "[unit][codec][live]") {
    v1::Error error;
    error.set_code(v1::ERROR_CODE_FAILED_PRECONDITION);
    error.set_message("session s is not live");
    const HttpError mapped = map_jaild_error(error, RequestKind::session);
    CHECK(mapped.status == 409);
    CHECK(line(mapped.body).at("error") == "session s is not live");
}

TEST_CASE("websocket: upgrade checks, origins and the key subprotocol", "[unit][websocket][live]") {
    CHECK(websocket_request_problem(upgrade()).empty());
    Request plain{http::verb::get, "/x", 11};
    CHECK_FALSE(websocket_request_problem(plain).empty());
    Request old = upgrade();
    old.set(http::field::sec_websocket_version, "8");
    CHECK(websocket_request_problem(old) == "Sec-WebSocket-Version must be 13");
    Request keyless = upgrade();
    keyless.erase(http::field::sec_websocket_key);
    CHECK(websocket_request_problem(keyless) == "Sec-WebSocket-Key is required");
    Request both = upgrade();
    both.set(http::field::connection, "keep-alive, Upgrade");
    CHECK(websocket_request_problem(both).empty());

    Request page = upgrade();
    CHECK(websocket_origin_allowed(page, {}));  // no Origin: not a browser
    page.set(http::field::origin, "http://127.0.0.1:8080");
    CHECK(websocket_origin_allowed(page, {}));  // the gateway's own origin
    page.set(http::field::origin, "https://evil.example");
    CHECK_FALSE(websocket_origin_allowed(page, {}));
    CHECK_FALSE(websocket_origin_allowed(page, {"https://ide.example"}));
    CHECK(websocket_origin_allowed(page, {"https://evil.example"}));
    CHECK(websocket_origin_allowed(page, {"*"}));
    page.set(http::field::origin, "null");
    CHECK_FALSE(websocket_origin_allowed(page, {}));

    Request keyed = upgrade();
    keyed.set(http::field::sec_websocket_protocol, "jaild.v1, jaild.key.jk_abc123");
    CHECK(key_subprotocol(keyed) == "jaild.key.jk_abc123");
    const PresentedKey presented = presented_key(keyed);
    CHECK(presented.kind == PresentedKey::Kind::key);
    CHECK(presented.key == "jk_abc123");
    keyed.set(http::field::authorization, "Bearer jk_other");
    CHECK(presented_key(keyed).kind == PresentedKey::Kind::conflicting);
    keyed.set(http::field::authorization, "Bearer jk_abc123");
    CHECK(presented_key(keyed).kind == PresentedKey::Kind::key);
    // Not an upgrade: the header means nothing.
    Request not_upgrade{http::verb::get, "/sessions", 11};
    not_upgrade.set(http::field::sec_websocket_protocol, "jaild.key.jk_abc123");
    CHECK(presented_key(not_upgrade).kind == PresentedKey::Kind::none);
    CHECK(key_subprotocol(not_upgrade).empty());
}

TEST_CASE("live routes: the table's live rows, and only attach upgrades", "[unit][live]") {
    const RouteMatch attach = match_route(http::verb::get, "/sessions/s1/processes/7/attach?live=1");
    CHECK(attach.handler != nullptr);
    CHECK(attach.websocket);
    CHECK(attach.params == std::vector<std::string>{"s1", "7"});
    CHECK(attach.pattern == "/sessions/{id}/processes/{pid}/attach");
    for (const auto& [verb, target] :
         std::vector<std::pair<http::verb, std::string>>{{http::verb::post, "/sessions/s1/processes"},
                                                         {http::verb::get, "/sessions/s1/processes/7/output"},
                                                         {http::verb::post, "/sessions/s1/processes/7/stdin"},
                                                         {http::verb::post, "/sessions/s1/contexts/c1/run"},
                                                         {http::verb::delete_, "/sessions/s1/contexts/c1"},
                                                         {http::verb::post, "/sessions/s1/timeout"}}) {
        const RouteMatch match = match_route(verb, target);
        INFO(target);
        CHECK(match.handler != nullptr);
        CHECK_FALSE(match.websocket);
        CHECK_FALSE(match.streams_body);
    }
    CHECK(match_route(http::verb::post, "/sessions/s1/processes/7/attach").status == 405);
    CHECK(match_route(http::verb::post, "/sessions/s1/processes/7/nope").status == 404);
    CHECK(is_static_route(http::verb::get, "/sessions/s1/processes/7/nope"));  // no API route: a static 404
}
