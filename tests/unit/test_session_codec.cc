// gateway/session_codec and the session routes: session and file bodies to protobuf, answers back to JSON,
// seed 002's /run body, path parameters. Pure; no sockets.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "gateway/request_parsing.h"
#include "gateway/result_rendering.h"
#include "gateway/routes.h"
#include "gateway/session_codec.h"

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

}  // namespace

TEST_CASE("session codec: percent-decoding happens once and normalises nothing", "[unit][codec]") {
    CHECK(percent_decode("a/b.txt") == "a/b.txt");
    CHECK(percent_decode("dir%2Fname%20x") == "dir/name x");
    CHECK(percent_decode("%2e%2e/etc/passwd") == "../etc/passwd");
    CHECK(percent_decode("%252e%252e") == "%2e%2e");  // once: a double-encoded dot stays encoded
    CHECK(percent_decode("../x") == "../x");
    CHECK(percent_decode("/etc//passwd") == "/etc//passwd");
    CHECK(percent_decode("a+b") == "a+b");  // a path, not a query: '+' is a plus
    CHECK(percent_decode("%C3%A9") == "\xC3\xA9");
    CHECK(percent_decode("") == "");
    CHECK_FALSE(percent_decode("%"));
    CHECK_FALSE(percent_decode("%2"));
    CHECK_FALSE(percent_decode("a%zz"));
    CHECK_FALSE(percent_decode("a%00b"));  // a NUL would cut the path short somewhere below
}

TEST_CASE("session codec: POST /sessions bodies", "[unit][codec]") {
    CHECK(ok(parse_session_create("")).env().empty());
    CHECK(ok(parse_session_create(" \n")).env().empty());
    CHECK(ok(parse_session_create("{}")).env().empty());
    const auto create = ok(parse_session_create(R"({"env": {"MY_VAR": "hello"}})"));
    CHECK(create.env().at("MY_VAR") == "hello");
    CHECK(create.name().empty());
    CHECK(ok(parse_session_create(R"({"name": "alice"})")).name() == "alice");

    CHECK(bad(parse_session_create("{nope")).field.empty());
    CHECK(bad(parse_session_create("[]")).message == "request body must be a JSON object");
    CHECK(bad(parse_session_create(R"({"env": []})")).field == "env");
    CHECK(bad(parse_session_create(R"({"env": {"A": 1}})")).field == "env.A");
    CHECK(bad(parse_session_create(R"({"env": {"A": null}})")).field == "env.A");
    CHECK(bad(parse_session_create(R"({"name": ""})")).field == "name");
    CHECK(bad(parse_session_create(R"({"name": 7})")).field == "name");
    const auto unknown = bad(parse_session_create(R"({"envs": {}})"));
    CHECK(unknown.field == "envs");
    CHECK(unknown.message == "unknown field envs");
}

TEST_CASE("session codec: env merge, a null removes", "[unit][codec]") {
    const auto set_env = ok(parse_session_env(R"({"env": {"GH_TOKEN": "t", "GONE": null}})"));
    CHECK(set_env.set().size() == 1);
    CHECK(set_env.set().at("GH_TOKEN") == "t");
    REQUIRE(set_env.unset_size() == 1);
    CHECK(set_env.unset(0) == "GONE");
    CHECK(ok(parse_session_env(R"({"env": {}})")).set().empty());

    CHECK(bad(parse_session_env("{}")).field == "env");
    CHECK(bad(parse_session_env(R"({"env": "A=1"})")).field == "env");
    CHECK(bad(parse_session_env(R"({"env": {"A": 1}})")).field == "env.A");
    CHECK(bad(parse_session_env(R"({"env": {}, "cwd": "/"})")).field == "cwd");
    CHECK(bad(parse_session_env("")).field.empty());
}

TEST_CASE("session codec: cwd", "[unit][codec]") {
    CHECK(ok(parse_session_cwd(R"({"cwd": "/tmp"})")).cwd() == "/tmp");
    // jaild judges the path itself (absolute, normalised, inside the sandbox's view).
    CHECK(ok(parse_session_cwd(R"({"cwd": "../x"})")).cwd() == "../x");
    CHECK(bad(parse_session_cwd("{}")).field == "cwd");
    CHECK(bad(parse_session_cwd(R"({"cwd": null})")).field == "cwd");
    CHECK(bad(parse_session_cwd(R"({"cwd": "/", "x": 1})")).field == "x");
}

TEST_CASE("session codec: the info object has every field", "[unit][codec]") {
    v1::SessionInfo info;
    info.set_session_id("0123abcd");
    info.set_created_unix_ms(1000);
    info.set_last_used_unix_ms(2000);
    (*info.mutable_env())["B"] = "2";
    (*info.mutable_env())["A"] = "1";
    info.set_cwd("/workspace");
    info.set_disk_used_bytes(4096);
    info.set_files_count(3);
    info.set_quota_bytes(104857600);
    info.set_running(true);
    CHECK(
        session_info_body(info) ==
        R"({"session_id":"0123abcd","name":null,"created_ms":1000,"last_used_ms":2000,"env":{"A":"1","B":"2"},)"
        R"("cwd":"/workspace","disk_used_bytes":4096,"files_count":3,"quota_bytes":104857600,"running":true,)"
        R"("live":false,"restarted":false,"deadline_unix_ms":null,"processes_running":0,"expires_unix_ms":null,"labels":{}})");
    info.set_name("u1");
    CHECK(session_info_object(info).at("name") == "u1");

    v1::SessionInfoList list;
    *list.add_sessions() = info;
    const auto body = json::parse(session_list_body(list));
    REQUIRE(body.at("sessions").as_array().size() == 1);
    CHECK(body.at("sessions").at(0).at("session_id") == "0123abcd");
    CHECK(session_list_body(v1::SessionInfoList()) == R"({"sessions":[]})");
}

TEST_CASE("session codec: file answers", "[unit][codec]") {
    v1::FileEntryList list;
    v1::FileEntry& file = *list.add_files();
    file.set_path("out/data.csv");
    file.set_size(12);
    file.set_type("file");
    file.set_mtime_unix_ms(1700000000123);
    v1::FileEntry& dir = *list.add_files();
    dir.set_path("out");
    dir.set_type("directory");
    CHECK(file_list_body(list) ==
          R"({"files":[{"path":"out/data.csv","size":12,"type":"file",)"
          R"("mtime_ms":1700000000123},{"path":"out","size":0,"type":"directory","mtime_ms":0}]})");
    CHECK(json::serialize(workspace_paths(list)) == R"(["out/data.csv","out"])");
    CHECK(json::serialize(workspace_paths(v1::FileEntryList())) == "[]");

    v1::ServerMessage reply;
    *reply.mutable_files() = list;
    CHECK(answer_is(reply, v1::ServerMessage::kFiles));
    CHECK(reply.files().files_size() == 2);
    CHECK_FALSE(answer_is(reply, v1::ServerMessage::kDone));
    reply.Clear();  // jaild's answer for an empty workspace or no session: nothing on the wire
    CHECK(answer_is(reply, v1::ServerMessage::kFiles));
    CHECK(reply.files().files_size() == 0);
    reply.Clear();
    CHECK(answer_is(reply, v1::ServerMessage::kSessions));
    reply.Clear();
    CHECK_FALSE(answer_is(reply, v1::ServerMessage::kSession));  // a single object is never empty
    CHECK_FALSE(answer_is(reply, v1::ServerMessage::kDone));
    CHECK(put_body("a/b", 5) == R"({"path":"a/b","size":5})");
    CHECK(deleted_body("session_id", "x") == R"({"deleted":true,"session_id":"x"})");
}

TEST_CASE("session codec: seed 002's /run body", "[unit][codec]") {
    const auto result = parse_run(R"({"user_id": "anonymous", "code": "result = x + y", "data": {"x": 1, "y": 2}})");
    REQUIRE(std::holds_alternative<ParsedRequest>(result));
    const ParsedRequest& parsed = std::get<ParsedRequest>(result);
    CHECK(parsed.user_id == "anonymous");
    CHECK(parsed.kind == RequestKind::execute);
    REQUIRE(parsed.message.has_execute());
    const auto& execute = parsed.message.execute();
    CHECK(execute.language() == "python");
    CHECK(execute.mode() == v1::EXECUTE_MODE_RESULT_VARIABLE);
    CHECK(execute.code() == "result = x + y");
    CHECK(json::parse(execute.data_json()) == json::parse(R"({"x":1,"y":2})"));
    CHECK(execute.session_id().empty());  // the handler finds the session

    const auto limited = std::get<ParsedRequest>(parse_run(R"({"user_id":"u","code":"result=1","time":900})"));
    CHECK(limited.message.execute().limits().cpu_ms() == 900);
    CHECK(limited.message.execute().data_json().empty());

    struct Case {
        const char* body;
        const char* field;
        const char* error;
    };
    const Case cases[] = {
        {R"({"user_id":"u","command":["ls"],"code":"x"})", "command", "give either command or user_id, not both"},
        {R"({"command":["ls"],"user_id":"u"})", "command", "give either command or user_id, not both"},
        {R"({"user_id":"","code":"x"})", "user_id", "user_id must be 1 to 128 printable ASCII characters"},
        {R"({"user_id":"a\u0001","code":"x"})", "user_id", "user_id must be 1 to 128 printable ASCII characters"},
        {R"({"user_id":7,"code":"x"})", "user_id", "user_id must be a string"},
        {R"({"user_id":"u"})", "code", "code is required with user_id"},
        {R"({"user_id":"u","code":1})", "code", "code must be a string"},
        {R"({"user_id":"u","code":"x","data":[1]})", "data", "data must be an object"},
        {R"({"user_id":"u","code":"x","data":"{}"})", "data", "data must be an object"},
        // A number that overflows a double (found by fuzz_json_request): it has no JSON spelling to pass on.
        {R"({"user_id":"u","code":"x","data":{"x":[1e400]}})", "data", "data holds a number too large"},
        {R"({"user_id":"u","code":"x","cwd":"/"})", "cwd", "unknown field cwd"},
    };
    for (const Case& c : cases) {
        INFO(c.body);
        const auto parsed_case = parse_run(c.body);
        REQUIRE(std::holds_alternative<FieldError>(parsed_case));
        CHECK(std::get<FieldError>(parsed_case).field == c.field);
        CHECK(std::get<FieldError>(parsed_case).message.rfind(c.error, 0) == 0);
    }
    CHECK(valid_user_id(std::string(128, 'u')));
    CHECK_FALSE(valid_user_id(std::string(129, 'u')));
    CHECK(valid_user_id("user 1"));
    CHECK_FALSE(valid_user_id("\xC3\xA9"));
}

TEST_CASE("session codec: jaild's session errors", "[unit][codec]") {
    v1::Error error;
    error.set_code(v1::ERROR_CODE_NOT_FOUND);
    error.set_message("no session 42");
    error.set_field("session_id");
    auto mapped = map_jaild_error(error, RequestKind::session);
    CHECK(mapped.status == 404);
    CHECK(mapped.body == R"({"error":"no session 42","field":null})");
    CHECK(map_jaild_error(error, RequestKind::run).status == 404);

    error.set_code(v1::ERROR_CODE_QUOTA_EXCEEDED);
    error.set_message("the session's disk quota of 104857600 bytes would be exceeded");
    mapped = map_jaild_error(error, RequestKind::session);
    CHECK(mapped.status == 507);
    CHECK_FALSE(mapped.retry_after);
    CHECK(json::parse(mapped.body).at("error") == "the session's disk quota of 104857600 bytes would be exceeded");

    error.set_code(v1::ERROR_CODE_RESOURCE_EXHAUSTED);
    error.set_message("the maximum of 50 sessions per principal is reached");
    mapped = map_jaild_error(error, RequestKind::session);
    CHECK(mapped.status == 429);
    CHECK(mapped.retry_after);

    error.set_code(v1::ERROR_CODE_INVALID_ARGUMENT);
    error.set_field("path");
    error.set_message("path must not contain ..");
    mapped = map_jaild_error(error, RequestKind::session);
    CHECK(mapped.status == 400);
    CHECK(mapped.body == R"({"error":"path must not contain ..","field":"path"})");

    CHECK(http_field_name("name", RequestKind::run) == "user_id");
    CHECK(http_field_name("data_json", RequestKind::execute) == "data");
    CHECK(http_field_name("set", RequestKind::session) == "env");
    CHECK(http_field_name("set.A=B", RequestKind::session) == "env.A=B");
    CHECK(http_field_name("unset", RequestKind::session) == "env");
    CHECK(http_field_name("cwd", RequestKind::session) == "cwd");
    CHECK(http_field_name("session_id", RequestKind::session) == "session_id");
}

TEST_CASE("routes: session paths and their parameters", "[unit][codec]") {
    auto match = match_route(http::verb::post, "/sessions");
    CHECK(match.handler != nullptr);
    CHECK(match.params.empty());
    CHECK(match_route(http::verb::get, "/sessions").handler != nullptr);
    CHECK(match_route(http::verb::get, "/sessions?limit=1").handler != nullptr);

    match = match_route(http::verb::get, "/sessions/abc");
    REQUIRE(match.handler != nullptr);
    CHECK(match.params == std::vector<std::string>{"abc"});
    CHECK(match_route(http::verb::delete_, "/sessions/abc").handler != nullptr);
    for (const char* tail : {"run", "execute", "env", "cwd"}) {
        INFO(tail);
        match = match_route(http::verb::post, std::string("/sessions/abc/") + tail);
        CHECK(match.handler != nullptr);
        CHECK(match.params == std::vector<std::string>{"abc"});
    }
    match = match_route(http::verb::get, "/sessions/abc/files");
    CHECK(match.handler != nullptr);
    CHECK(match.params == std::vector<std::string>{"abc"});

    // {path...} takes the rest of the path as sent: slashes, dots and escapes are the handler's (and jaild's).
    for (const auto verb : {http::verb::get, http::verb::put, http::verb::delete_}) {
        match = match_route(verb, "/sessions/abc/files/dir/sub/a.txt?x=1");
        REQUIRE(match.handler != nullptr);
        CHECK(match.params == std::vector<std::string>{"abc", "dir/sub/a.txt"});
    }
    match = match_route(http::verb::get, "/sessions/abc/files/../../etc/passwd");
    CHECK(match.params == std::vector<std::string>{"abc", "../../etc/passwd"});
    match = match_route(http::verb::get, "/sessions/abc/files/%2e%2e/x");
    CHECK(match.params == std::vector<std::string>{"abc", "%2e%2e/x"});
    match = match_route(http::verb::get, "/sessions/abc/files//etc/passwd");
    CHECK(match.params == std::vector<std::string>{"abc", "/etc/passwd"});
    match = match_route(http::verb::get, "/sessions/abc/files/");
    CHECK(match.handler != nullptr);  // an empty path: the handler answers 400
    CHECK(match.params == std::vector<std::string>{"abc", ""});

    // No session route: a GET falls to the static files (which answer 404 for these), another method is a 404.
    CHECK(is_static_route(http::verb::get, "/sessions/"));
    CHECK(is_static_route(http::verb::get, "/sessions//files"));
    CHECK(is_static_route(http::verb::get, "/sessions/abc/nope"));
    CHECK(match_route(http::verb::post, "/sessions/abc/run/more").status == 404);
    CHECK(is_static_route(http::verb::get, "/sessionsx"));
    CHECK(match_route(http::verb::delete_, "/sessions/abc/nope").status == 404);

    match = match_route(http::verb::put, "/sessions/abc");
    CHECK(match.status == 405);
    CHECK(match.allow == "GET, DELETE");
    match = match_route(http::verb::delete_, "/sessions");
    CHECK(match.status == 405);
    CHECK(match.allow == "POST, GET");
    match = match_route(http::verb::post, "/sessions/abc/files/a");
    CHECK(match.status == 405);
    CHECK(match.allow == "GET, PUT, DELETE");
    CHECK(match_route(http::verb::get, "/sessions/abc/run").allow == "POST");
}

TEST_CASE("session codec: URL parameters must be UTF-8, listings stay JSON whatever the names", "[unit][codec]") {
    CHECK(ok(decode_url_param("d%C3%A9j%C3%A0/vu.txt", "path", "the file path")) == "déjà/vu.txt");
    CHECK(ok(decode_url_param("%F0%9F%98%80", "path", "the file path")) == "\xF0\x9F\x98\x80");
    for (const char* text : {"a%C0%AFb", "%FF", "a%E2%82", "%ED%A0%80" /* a surrogate */, "%F4%90%80%80"}) {
        INFO(text);
        const FieldError error = bad(decode_url_param(text, "path", "the file path"));
        CHECK(error.field == "path");
        CHECK(error.message == "the file path in the URL is not UTF-8 once percent-decoded");
    }
    const FieldError id = bad(decode_url_param("s%C0", "session_id", "the session id"));
    CHECK(id.field == "session_id");
    CHECK(id.message == "the session id in the URL is not UTF-8 once percent-decoded");
    CHECK(bad(decode_url_param("%zz", "path", "the file path")).message ==
          "the file path in the URL is not validly percent-encoded");
    CHECK(bad(decode_url_param("a%00b", "path", "the file path")).field == "path");

    // A name a program made: the listing is valid JSON, U+FFFD where the bytes are not UTF-8, and the exact name
    // in base64 beside it.
    v1::FileEntryList list;
    v1::FileEntry& odd = *list.add_files();
    odd.set_path(
        "a\xC0\xAF"
        "b.txt");
    odd.set_type("file");
    list.add_files()->set_path("plain.txt");
    const std::string body = file_list_body(list);
    CHECK(body == R"({"files":[{"path":"a)"
                  "\xEF\xBF\xBD\xEF\xBF\xBD"
                  R"(b.txt","path_base64":"YcCvYi50eHQ=","size":0,"type":"file","mtime_ms":0},)"
                  R"({"path":"plain.txt","size":0,"type":"","mtime_ms":0}]})");
    CHECK(json::parse(body).at("files").at(0).at("path") ==
          "a\xEF\xBF\xBD\xEF\xBF\xBD"
          "b.txt");
    CHECK(json::serialize(workspace_paths(list)) ==
          "[\"a\xEF\xBF\xBD\xEF\xBF\xBD"
          "b.txt\",\"plain.txt\"]");
    // The listing crosses the socket: the path is bytes in the protocol, so the frame parses.
    v1::ServerMessage reply;
    *reply.mutable_files() = list;
    v1::ServerMessage back;
    REQUIRE(back.ParseFromString(reply.SerializeAsString()));
    CHECK(back.files().files(0).path() ==
          "a\xC0\xAF"
          "b.txt");
}
