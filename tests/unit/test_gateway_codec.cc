// The gateway's codec (request_parsing, text_encoding, result_rendering): JSON requests to protobuf, results
// and errors back to JSON. Pure; no sockets.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "gateway/options.h"
#include "gateway/precise_json.h"
#include "gateway/request_parsing.h"
#include "gateway/result_rendering.h"
#include "gateway/routes.h"
#include "gateway/static_files.h"
#include "gateway/text_encoding.h"

namespace json = boost::json;
using namespace jaild::gateway;
using jaild::v1::ClientMessage;

namespace {

ParsedRequest ok(const ParseResult& result) {
    if (auto* error = std::get_if<FieldError>(&result))
        FAIL("unexpected error: " << error->field << ": " << error->message);
    return std::get<ParsedRequest>(result);
}

FieldError bad(const ParseResult& result) {
    if (std::holds_alternative<ParsedRequest>(result)) FAIL("expected a validation error");
    return std::get<FieldError>(result);
}

ParseResult execute(const std::string& body) { return parse_execute(body, 50'000); }

}  // namespace

TEST_CASE("codec: seed 003's /run body maps to a RunRequest", "[unit][codec]") {
    const auto parsed = ok(parse_run(
        R"({"command":["/bin/echo","hi"],"time":5000,"mem":2097152,"fsize":10240,"nofile":64,"env":{"A":"b"},)"
        R"("cwd":"/","stdin":"in","wall":7000,"nproc":8,"output":4096,"stream":true,"encoding":"base64"})"));
    const auto& run = parsed.message.run();
    REQUIRE(run.argv_size() == 2);
    CHECK(run.argv(1) == "hi");
    CHECK(run.limits().cpu_ms() == 5000);
    CHECK(run.limits().memory_kb() == 2097152);
    CHECK(run.limits().fsize_kb() == 10240);
    CHECK(run.limits().nofile() == 64);
    CHECK(run.limits().wall_ms() == 7000);
    CHECK(run.limits().nproc() == 8);
    CHECK(run.limits().output_bytes() == 4096);
    CHECK(run.env().at("A") == "b");
    CHECK(run.cwd() == "/");
    CHECK(run.stdin() == "in");
    CHECK(parsed.stream);
    CHECK(parsed.encoding == Encoding::base64);
    CHECK(parsed.kind == RequestKind::run);
}

TEST_CASE("codec: /run validation names the field", "[unit][codec]") {
    struct Case {
        const char* body;
        const char* field;
    };
    const Case cases[] = {
        {R"({"command":"ls"})", "command"},
        {R"({"command":["ls",1]})", "command"},
        {R"({})", "command"},
        {R"({"command":[]})", "command"},
        {R"({"command":["ls"],"time":-1})", "time"},
        {R"({"command":["ls"],"time":1.5})", "time"},
        {R"({"command":["ls"],"time":"5"})", "time"},
        {R"({"command":["ls"],"time":4294967296})", "time"},
        {R"({"command":["ls"],"mem":true})", "mem"},
        {R"({"command":["ls"],"env":[]})", "env"},
        {R"({"command":["ls"],"env":{"A":1}})", "env.A"},
        {R"({"command":["ls"],"cwd":5})", "cwd"},
        {R"({"command":["ls"],"stdin":[]})", "stdin"},
        {R"({"command":["ls"],"stream":"yes"})", "stream"},
        {R"({"command":["ls"],"encoding":"latin1"})", "encoding"},
        {R"({"command":["ls"],"bogus":1})", "bogus"},
    };
    for (const Case& c : cases) {
        INFO(c.body);
        CHECK(bad(parse_run(c.body)).field == c.field);
    }
    CHECK(bad(parse_run("not json")).field.empty());
    CHECK(bad(parse_run("[1]")).message == "request body must be a JSON object");
    CHECK(bad(parse_run(R"({"command":["ls"],"bogus":1})")).message == "unknown field bogus");
}

TEST_CASE("codec: /execute with a language", "[unit][codec]") {
    const auto parsed =
        ok(execute(R"J({"language":"python","code":"print(1)","stdin":"x","args":["a"],"env":{"K":"v"},)J"
                   R"J("files":{"data.txt":"hello"},"limits":{"time":1000,"wall":2000,"mem":1024}})J"));
    const auto& request = parsed.message.execute();
    CHECK(request.language() == "python");
    CHECK(request.code() == "print(1)");
    CHECK(request.args(0) == "a");
    CHECK(request.files(0).path() == "data.txt");
    CHECK(request.files(0).content() == "hello");
    CHECK(request.limits().cpu_ms() == 1000);
    CHECK(request.limits().wall_ms() == 2000);
    CHECK(request.mode() == jaild::v1::EXECUTE_MODE_PLAIN);
    CHECK_FALSE(parsed.script);
    CHECK(bad(execute(R"({"code":"x"})")).field == "language");
    CHECK(bad(execute(R"({"language":"python"})")).field == "code");
    // A field is named as the request spells it, also inside "limits".
    CHECK(bad(execute(R"({"language":"python","code":"x","limits":{"cpu":1}})")).field == "cpu");
    CHECK(bad(execute(R"({"language":"python","code":"x","limits":{"time":-3}})")).field == "time");
    CHECK(bad(execute(R"({"language":"python","code":"x","time":-3})")).field == "time");
    CHECK(bad(execute(R"({"language":"python","code":"x","env":{"K":1}})")).field == "env.K");
    CHECK(bad(execute(R"({"language":"python","code":"x","files":{"a":1}})")).field == "files.a");
    CHECK(bad(execute(R"({"language":"python","code":"x","args":"a"})")).field == "args");
}

TEST_CASE("codec: /execute takes /run's limits at the top level too, with one meaning", "[unit][codec]") {
    const auto top = ok(execute(R"({"language":"python","code":"x","time":1000,"wall":2000,"mem":4096,"tmp":8192})"));
    const auto nested =
        ok(execute(R"({"language":"python","code":"x","limits":{"time":1000,"wall":2000,"mem":4096,"tmp":8192}})"));
    CHECK(top.message.execute().limits().SerializeAsString() == nested.message.execute().limits().SerializeAsString());
    CHECK(top.message.execute().limits().tmp_kb() == 8192);
    const auto mixed = ok(execute(R"({"language":"python","code":"x","time":1000,"limits":{"mem":4096}})"));
    CHECK(mixed.message.execute().limits().cpu_ms() == 1000);
    CHECK(mixed.message.execute().limits().memory_kb() == 4096);
    const auto twice = bad(execute(R"({"language":"python","code":"x","time":1000,"limits":{"time":1000}})"));
    CHECK(twice.field == "time");
    CHECK(twice.message == "time is given twice: at the top level and in limits");
    // A script's 30-second default yields to a limit given either way.
    CHECK(ok(execute(R"({"script":"def main(): pass","wall":1000})")).message.execute().limits().wall_ms() == 1000);
}

TEST_CASE("codec: a script's HTTP status is seeds 001 and 004's, other dialects answer 200", "[unit][codec]") {
    for (const auto& [status, script_code] : std::vector<std::pair<std::string, unsigned>>{{"ok", 200},
                                                                                           {"runtime_error", 400},
                                                                                           {"timeout", 400},
                                                                                           {"memory_limit", 400},
                                                                                           {"output_limit", 400},
                                                                                           {"internal_error", 500}}) {
        INFO(status);
        const json::object result{{"status", status}};
        CHECK(result_http_status(result, true) == script_code);
        CHECK(result_http_status(result, false) == 200);
    }
}

TEST_CASE("codec: seed 004's script", "[unit][codec]") {
    const auto parsed = ok(execute(R"({"script":"import os\ndef main():\n    return {'result': 42}"})"));
    const auto& request = parsed.message.execute();
    CHECK(parsed.script);
    CHECK(request.language() == "python");
    CHECK(request.mode() == jaild::v1::EXECUTE_MODE_MAIN);
    CHECK(request.limits().wall_ms() == 30000);
    CHECK(request.limits().cpu_ms() == 30000);
    CHECK(request.limits().memory_kb() == 300 * 1024);  // seed 004's 300 MB

    const auto missing = bad(execute(R"({"script":"x = 1\n    def main():\n        pass"})"));
    CHECK(missing.message == "Script must contain a 'main()' function");
    CHECK(missing.field == "script");
    // 50,000 characters as Python's len() counts them (seed 004's `len(script) > 50000`), not bytes.
    const std::string head = "def main():\n    return 1\n#";
    const std::string ascii = head + std::string(50'000 - head.size(), 'x');
    CHECK(ok(execute(json::serialize(json::object{{"script", ascii}}))).script);
    CHECK(bad(execute(json::serialize(json::object{{"script", ascii + "x"}}))).message == "Invalid script size");
    std::string wide = head;
    for (std::size_t i = head.size(); i < 50'000; ++i) wide += "\u20ac";  // 3 bytes, 1 character
    CHECK(ok(execute(json::serialize(json::object{{"script", wide}}))).script);
    CHECK(bad(execute(json::serialize(json::object{{"script", wide + "\u20ac"}}))).field == "script");
    CHECK(bad(execute(R"({"script":"def main(): pass","code":"x"})")).field == "script");
    CHECK(bad(execute(R"({"script":"def main(): pass","language":"node"})")).field == "language");
}

TEST_CASE("codec: top-level main detection", "[unit][codec]") {
    CHECK(has_top_level_main("def main():\n  pass"));
    CHECK(has_top_level_main("import x\n\ndef  main (a):\n  pass\n"));
    CHECK(has_top_level_main("async def main():\n  pass"));
    CHECK_FALSE(has_top_level_main("def mainly():\n  pass"));
    CHECK_FALSE(has_top_level_main("class A:\n    def main(self): pass"));
    CHECK_FALSE(has_top_level_main("# def main():"));
}

TEST_CASE("codec: result object has every field", "[unit][codec]") {
    jaild::v1::Exit exit;
    exit.set_status(jaild::v1::STATUS_RUNTIME_ERROR);
    exit.set_exit_code(137);
    exit.set_signal(9);
    exit.set_signal_name("SIGKILL");
    exit.set_wall_ms(12);
    exit.set_cpu_ms(3);
    exit.set_memory_kb(400);
    exit.set_stderr_truncated(true);
    exit.set_error("killed by SIGKILL");
    exit.set_result_json(R"({"a":[1,2]})");
    ParsedRequest request;
    const auto result = result_object(exit, "out", "err", request);
    CHECK(
        json::serialize(result) ==
        R"({"stdout":"out","stderr":"err","exit_code":137,"signal":9,"signal_name":"SIGKILL",)"
        R"("status":"runtime_error","error":"killed by SIGKILL","wall_ms":12,"cpu_ms":3,"memory_kb":400,"truncated":true,)"
        R"("result":{"a":[1,2]},"trace":null})");

    jaild::v1::Exit fine;
    fine.set_status(jaild::v1::STATUS_OK);
    const auto clean = result_object(fine, "", "", request);
    CHECK(clean.at("signal").is_null());
    CHECK(clean.at("signal_name").is_null());
    CHECK(clean.at("error").is_null());
    CHECK(clean.at("result").is_null());
    CHECK(clean.at("status") == "ok");
    CHECK(clean.size() == 13);

    const auto broken = internal_error_result("jaild connection lost", "a", "", Encoding::utf8);
    CHECK(broken.at("status") == "internal_error");
    CHECK(broken.at("error") == "jaild connection lost");
    CHECK(broken.at("stdout") == "a");
    CHECK(broken.size() == 13);
}

TEST_CASE("codec: a degraded jaild's result names its isolation, and its unknown peak memory is null",
          "[unit][codec]") {
    jaild::v1::Exit exit;
    exit.set_status(jaild::v1::STATUS_OK);
    exit.set_memory_kb_unknown(true);
    auto& isolation = *exit.mutable_isolation();
    isolation.set_memory("rlimit_as");
    isolation.set_processes("rlimit_nproc");
    isolation.set_cpu("rlimit_cpu");
    isolation.set_wall("pid1_kill");
    isolation.set_memory_peak("unknown");
    isolation.set_cpu_usage("reaped_rusage");
    isolation.set_root("pivot_root");
    isolation.set_namespaces(true);
    isolation.set_runtime("read_only");
    isolation.set_reaper_uid(true);
    ParsedRequest request;
    const auto result = result_object(exit, "", "", request);
    CHECK(result.at("memory_kb").is_null());
    CHECK(result.size() == 14);
    CHECK(json::serialize(result.at("isolation")) ==
          R"({"cgroups":false,"memory":"rlimit_as","processes":"rlimit_nproc","cpu":"rlimit_cpu",)"
          R"("wall":"pid1_kill","memory_peak":"unknown","cpu_usage":"reaped_rusage","root":"pivot_root",)"
          R"("namespaces":true,"runtime":"read_only","reaper_uid":true})");
}

TEST_CASE("codec: status names", "[unit][codec]") {
    ParsedRequest request;
    const std::pair<jaild::v1::Status, const char*> names[] = {
        {jaild::v1::STATUS_OK, "ok"},
        {jaild::v1::STATUS_TIMEOUT, "timeout"},
        {jaild::v1::STATUS_MEMORY_LIMIT, "memory_limit"},
        {jaild::v1::STATUS_OUTPUT_LIMIT, "output_limit"},
        {jaild::v1::STATUS_COMPILE_ERROR, "compile_error"},
        {jaild::v1::STATUS_INTERNAL_ERROR, "internal_error"},
        {jaild::v1::STATUS_CANCELLED, "cancelled"},
        // A value this gateway does not know (a newer jaild; found by fuzz_frame_decoder): no exception.
        {static_cast<jaild::v1::Status>(147), "internal_error"},
    };
    for (const auto& [status, name] : names) {
        jaild::v1::Exit exit;
        exit.set_status(status);
        CHECK(result_object(exit, "", "", request).at("status") == name);
    }
}

TEST_CASE("codec: a timed-out script says so in seed 004's words", "[unit][codec]") {
    auto parsed = ok(execute(R"({"script":"def main():\n    while True: pass"})"));
    jaild::v1::Exit exit;
    exit.set_status(jaild::v1::STATUS_TIMEOUT);
    exit.set_timeout_kind("wall");
    exit.set_error("wall-clock limit of 30000 ms exceeded");
    CHECK(result_object(exit, "", "", parsed).at("error") == "Script execution timed out (30s limit)");
    ParsedRequest plain;
    CHECK(result_object(exit, "", "", plain).at("error") == "wall-clock limit of 30000 ms exceeded");
}

TEST_CASE("codec: output that is not UTF-8 stays valid JSON", "[unit][codec]") {
    CHECK(sanitize_utf8("héllo ✓ 😀") == "héllo ✓ 😀");
    CHECK(sanitize_utf8(std::string("a\xff"
                                    "b")) ==
          "a\xEF\xBF\xBD"
          "b");
    CHECK(sanitize_utf8(std::string("\xC0\xAF")) == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
    CHECK(sanitize_utf8(std::string("\xED\xA0\x80")) == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    CHECK(sanitize_utf8(std::string("x\xE2\x9C")) == "x\xEF\xBF\xBD\xEF\xBF\xBD");                // cut at the end
    CHECK(complete_utf8_prefix(std::string("ab\xE2\x9C")) == 2);
    CHECK(complete_utf8_prefix(std::string("ab\xE2\x9C\x93")) == 5);
    CHECK(complete_utf8_prefix(std::string("ab\xff")) == 3);
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode(std::string("\xff\x00\xfe", 3)) == "/wD+");
    ParsedRequest request;
    request.encoding = Encoding::base64;
    jaild::v1::Exit exit;
    CHECK(result_object(exit, std::string("\xff\x00", 2), "", request).at("stdout") == "/wA=");
    CHECK(output_line(jaild::v1::STREAM_STDERR, "x\n") == R"({"type":"stderr","data":"x\n"})");
}

TEST_CASE("codec: jaild errors become HTTP answers", "[unit][codec]") {
    jaild::v1::Error error;
    error.set_code(jaild::v1::ERROR_CODE_INVALID_ARGUMENT);
    error.set_field("limits.cpu_ms");
    error.set_message("cpu_ms 99999 exceeds the maximum 30000");
    auto mapped = map_jaild_error(error, RequestKind::run);
    CHECK(mapped.status == 400);
    CHECK(mapped.body == R"({"error":"time 99999 exceeds the maximum 30000","field":"time"})");
    mapped = map_jaild_error(error, RequestKind::execute);
    CHECK(json::parse(mapped.body).at("field") == "time");
    error.set_field("limits.tmp_kb");
    error.set_message("tmp_kb 9 exceeds the maximum 8");
    CHECK(map_jaild_error(error, RequestKind::execute).body ==
          R"({"error":"tmp 9 exceeds the maximum 8","field":"tmp"})");

    CHECK(http_field_name("argv", RequestKind::run) == "command");
    CHECK(http_field_name("argv", RequestKind::execute) == "args");
    CHECK(http_field_name("limits.memory_kb", RequestKind::run) == "mem");
    CHECK(http_field_name("limits.wall_ms", RequestKind::run) == "wall");
    CHECK(http_field_name("limits.output_bytes", RequestKind::run) == "output");
    CHECK(http_field_name("cwd", RequestKind::run) == "cwd");
    CHECK(http_field_name("env", RequestKind::run) == "env");

    error.set_code(jaild::v1::ERROR_CODE_RESOURCE_EXHAUSTED);
    mapped = map_jaild_error(error, RequestKind::run);
    CHECK(mapped.status == 429);
    CHECK(mapped.retry_after);
    error.set_code(jaild::v1::ERROR_CODE_UNIMPLEMENTED);
    error.set_field("");
    error.set_message("this jaild does not serve execute requests yet");
    mapped = map_jaild_error(error, RequestKind::execute);
    CHECK(mapped.status == 501);
    CHECK(mapped.body == R"({"error":"this jaild does not serve execute requests yet","field":null})");
    error.set_code(jaild::v1::ERROR_CODE_UNAVAILABLE);
    CHECK(map_jaild_error(error, RequestKind::run).status == 503);
}

TEST_CASE("codec: request ids", "[unit][codec]") {
    CHECK(valid_request_id("abc-123"));
    CHECK(valid_request_id(std::string(128, 'a')));
    CHECK_FALSE(valid_request_id(std::string(129, 'a')));
    CHECK_FALSE(valid_request_id(""));
    CHECK_FALSE(valid_request_id("a b"));
    CHECK_FALSE(valid_request_id("a\x01"));
    CHECK(error_body("m", "") == R"({"error":"m","field":null})");
}

TEST_CASE("routes: 404 and 405 come from the table", "[unit][codec]") {
    namespace http = boost::beast::http;
    CHECK(match_route(http::verb::get, "/health").handler != nullptr);
    CHECK(match_route(http::verb::post, "/run").handler != nullptr);
    CHECK(match_route(http::verb::get, "/health?verbose=1").handler != nullptr);
    const auto missing = match_route(http::verb::post, "/nope");
    CHECK(missing.status == 404);
    CHECK(missing.handler == nullptr);
    // A GET or HEAD no API route has goes to the static files (the playground), which answer 404 themselves.
    CHECK(match_route(http::verb::get, "/nope").handler == &handle_static);
    CHECK(match_route(http::verb::head, "/index.html").handler == &handle_static);
    CHECK(match_route(http::verb::get, "/nope", true).status == 404);  // the metrics listener serves no files
    CHECK(is_static_route(http::verb::get, "/app.js"));
    CHECK_FALSE(is_static_route(http::verb::get, "/sessions"));
    CHECK_FALSE(is_static_route(http::verb::post, "/app.js"));
    const auto wrong = match_route(http::verb::get, "/run");
    CHECK(wrong.status == 405);
    CHECK(wrong.allow == "POST");
}

TEST_CASE("options: listen address and the loopback rule", "[unit][codec]") {
    GatewayOptions options;
    parse_listen("127.0.0.1:9000", options);
    CHECK(options.listen_port == 9000);
    CHECK_NOTHROW(check_listen_allowed(options));
    parse_listen("[::1]:9001", options);
    CHECK(options.listen_address == "::1");
    CHECK_NOTHROW(check_listen_allowed(options));
    parse_listen("0.0.0.0:80", options);
    CHECK_THROWS_WITH(check_listen_allowed(options),
                      Catch::Contains("--keys-file") && Catch::Contains("--insecure-no-auth"));
    options.insecure_no_auth = true;
    CHECK_NOTHROW(check_listen_allowed(options));
    options.insecure_no_auth = false;
    options.keys_file = "/etc/jaild/keys.toml";
    CHECK_NOTHROW(check_listen_allowed(options));
    CHECK_THROWS_AS(parse_listen("127.0.0.1", options), jaild::ConfigError);
    CHECK_THROWS_AS(parse_listen("127.0.0.1:0", options), jaild::ConfigError);
    CHECK_THROWS_AS(parse_listen("127.0.0.1:99999", options), jaild::ConfigError);
    CHECK_THROWS_AS(parse_listen("example.com:80", options), jaild::ConfigError);
}

TEST_CASE("codec: numbers are read exactly, as strtod reads them", "[unit][codec]") {
    // Boost.JSON 1.81's own parser lands some of these a few ulps away (found by fuzz_json_request).
    for (const char* text : {"1333333333333303333333333333333333333333333333", "1.3333333333333033E45", "0.1",
                             "2.2250738585072011e-308", "4.9406564584124654e-324", "1.7976931348623157e308",
                             "9007199254740993.0", "123456789012345678901234567890e-10", "-0.0", "5e-1"}) {
        INFO(text);
        boost::system::error_code ec;
        const json::value value = parse_json(text, ec);
        REQUIRE(!ec);
        REQUIRE(value.is_double());
        CHECK(value.get_double() == std::strtod(text, nullptr));
    }
    boost::system::error_code ec;
    CHECK(parse_json("[1, 18446744073709551615, -9223372036854775808, 1e400]", ec) ==
          json::parse("[1, 18446744073709551615, -9223372036854775808, 1e400]"));
    // The number's text split between Boost's internal buffers is still read whole.
    const std::string long_number = "0." + std::string(3000, '3') + "1e1";
    CHECK(parse_json(long_number, ec).get_double() == std::strtod(long_number.c_str(), nullptr));
    // Errors are Boost's.
    for (const char* text : {"", "{", "[1,]", "{} x", "01", "{\"a\":1,}", "// c\n1"}) {
        INFO(text);
        boost::system::error_code mine, boosts;
        parse_json(text, mine);
        json::parse(text, boosts);
        CHECK(mine);
        CHECK(mine == boosts);
    }
    CHECK(parse_json(std::string(33, '[') + std::string(33, ']'), ec).is_null());
    CHECK(ec == json::error::too_deep);
}

TEST_CASE("codec: data numbers reach the program as the client wrote them", "[unit][codec]") {
    const ParsedRequest request = ok(parse_run(
        R"({"user_id": "u", "code": "result = x", "data": {"x": 1333333333333303333333333333333333333333333333}})"));
    boost::system::error_code ec;
    const json::value data = parse_json(request.message.execute().data_json(), ec);
    REQUIRE(!ec);
    CHECK(data.at("x").get_double() == std::strtod("1333333333333303333333333333333333333333333333", nullptr));
}
