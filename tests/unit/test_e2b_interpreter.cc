// gateway/e2b/interpreter_codec: the code interpreter's request bodies as @e2b/code-interpreter 2.8.0 (and the
// Python SDK, with its nulls) sends them, jaild's refusals as its plain-text answers, the contexts as E2B lists
// them, the default context, the env_vars cells, and a cell's events as E2B's lines. Pure.
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "gateway/e2b/envd_request.h"
#include "gateway/e2b/interpreter_codec.h"

namespace json = boost::json;
using namespace jaild::gateway::e2b;
namespace v1 = jaild::v1;

namespace {

template <class T>
T ok(const std::variant<T, TextAnswer>& result) {
    if (auto* error = std::get_if<TextAnswer>(&result)) FAIL("unexpected refusal: " << error->text);
    return std::get<T>(result);
}

template <class T>
TextAnswer refused(const std::variant<T, TextAnswer>& result) {
    if (std::holds_alternative<T>(result)) FAIL("expected a refusal");
    return std::get<TextAnswer>(result);
}

v1::ContextInfo info(std::string id, std::string cwd = "/home/user") {
    v1::ContextInfo out;
    out.set_context_id(std::move(id));
    out.set_language("python");
    out.set_cwd(std::move(cwd));
    out.set_pid(42);
    return out;
}

// The lines of a text, each parsed (an empty line fails, as JSON.parse('') throws in the SDK).
std::vector<json::object> lines_of(const std::string& text) {
    std::vector<json::object> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        REQUIRE(end != std::string::npos);  // whole lines only
        const std::string line = text.substr(start, end - start);
        REQUIRE(!line.empty());
        out.push_back(json::parse(line).as_object());
        start = end + 1;
    }
    return out;
}

}  // namespace

TEST_CASE("e2b interpreter: /execute bodies as the SDKs send them", "[unit][e2b]") {
    const ExecuteRequest plain = ok(parse_execute(R"({"code":"1+1"})"));
    CHECK(plain.code == "1+1");
    CHECK(plain.context_id.empty());
    CHECK(plain.env_vars.empty());

    const ExecuteRequest full = ok(parse_execute(R"({"code":"x","context_id":"ctx-2","env_vars":{"A":"1"}})"));
    CHECK(full.context_id == "ctx-2");
    CHECK(full.env_vars == std::map<std::string, std::string>{{"A", "1"}});

    // The Python SDK sends null for what it leaves out.
    const ExecuteRequest nulls = ok(parse_execute(R"({"code":"x","context_id":null,"language":null,"env_vars":null})"));
    CHECK(nulls.context_id.empty());
    CHECK(ok(parse_execute(R"({"code":"x","language":" Python "})")).code == "x");
    CHECK(ok(parse_execute(R"({"code":"x","language":"python3"})")).code == "x");
}

TEST_CASE("e2b interpreter: /execute bodies that are refused, with the reason", "[unit][e2b]") {
    CHECK(refused(parse_execute("{")).status == 400);
    CHECK(refused(parse_execute("[1]")).text == "request body must be a JSON object");
    CHECK(refused(parse_execute(R"({"context_id":"c"})")).text == "code is required and must be a string");
    CHECK(refused(parse_execute(R"({"code":1})")).status == 400);
    CHECK(refused(parse_execute(R"({"code":"x","context_id":"c","language":"python"})")).text ==
          "Only one of context_id or language can be provided");
    const TextAnswer js = refused(parse_execute(R"({"code":"1","language":"JS"})"));
    CHECK(js.status == 400);
    CHECK(js.text == "language \"js\" is not available: jaild's code interpreter runs python only");
    CHECK(refused(parse_execute(R"({"code":"x","extra":1})")).text.find("extra") != std::string::npos);
    CHECK(refused(parse_execute(R"({"code":"x","env_vars":["A"]})")).text == "env_vars must be an object of strings");
    CHECK(refused(parse_execute(R"({"code":"x","env_vars":{"A":1}})")).text == "env_vars.A must be a string");
    CHECK(refused(parse_execute(R"({"code":"x","env_vars":{"A=B":"1"}})")).text.find("A=B") != std::string::npos);
    CHECK(refused(parse_execute(R"({"code":"x","env_vars":{"":"1"}})")).status == 400);
    CHECK(refused(parse_execute(R"({"code":"x","env_vars":{"A":"a\u0000b"}})")).text ==
          "env_vars.A must not contain NUL");
    CHECK(refused(parse_execute(R"({"code":"x","context_id":7})")).text == "context_id must be a string");
    // Not UTF-8: the JSON parser refuses it.
    CHECK(refused(parse_execute("{\"code\":\"\xff\"}")).status == 400);
    // Too big for the interpreter's frame, counted as JSON (a newline is two bytes there).
    const std::string big =
        "{\"code\":\"" + std::string(kMaxCodeJsonBytes / 2, 'x') + std::string(kMaxCodeJsonBytes / 4, '\n') + "\"}";
    std::string escaped = big;
    for (std::size_t at = 0; (at = escaped.find('\n', at)) != std::string::npos; at += 2) escaped.replace(at, 1, "\\n");
    const TextAnswer too_big = refused(parse_execute(escaped));
    CHECK(too_big.status == 413);
    CHECK(too_big.text.find("a cell may have") != std::string::npos);
    CHECK(ok(parse_execute("{\"code\":\"" + std::string(kMaxCodeJsonBytes - 2, 'x') + "\"}")).code.size() ==
          kMaxCodeJsonBytes - 2);
}

TEST_CASE("e2b interpreter: POST /contexts bodies", "[unit][e2b]") {
    CHECK(ok(parse_context_create("")) == kInterpreterCwd);
    CHECK(ok(parse_context_create("{}")) == kInterpreterCwd);
    CHECK(ok(parse_context_create(R"({"cwd":"/tmp","language":"python"})")) == "/tmp");
    CHECK(ok(parse_context_create(R"({"cwd":null,"language":null})")) == kInterpreterCwd);
    CHECK(refused(parse_context_create(R"({"language":"r"})")).text ==
          "language \"r\" is not available: jaild's code interpreter runs python only");
    CHECK(refused(parse_context_create(R"({"cwd":3})")).text == "cwd must be a string");
    CHECK(refused(parse_context_create(R"({"env":{}})")).status == 400);
}

TEST_CASE("e2b interpreter: jaild's refusals as plain-text answers", "[unit][e2b]") {
    v1::Error error;
    error.set_code(v1::ERROR_CODE_NOT_FOUND);
    error.set_message("no context \"ctx-9\" in session \"s\"");
    error.set_field("context_id");
    const TextAnswer missing = jaild_failure(error, "ctx-9");
    CHECK(missing.status == 404);
    CHECK(missing.text == "Context ctx-9 not found");
    error.set_field("");
    CHECK(jaild_failure(error, "ctx-9").status == 502);  // the sandbox itself is gone
    error.set_code(v1::ERROR_CODE_FAILED_PRECONDITION);
    CHECK(jaild_failure(error, "").status == 502);
    error.set_code(v1::ERROR_CODE_INVALID_ARGUMENT);
    error.set_message("cwd must be absolute");
    CHECK(jaild_failure(error, "") == TextAnswer{400, "cwd must be absolute"});
    error.set_code(v1::ERROR_CODE_RESOURCE_EXHAUSTED);
    CHECK(jaild_failure(error, "").status == 429);
    error.set_code(v1::ERROR_CODE_UNAVAILABLE);
    CHECK(jaild_failure(error, "").status == 503);
    error.set_code(v1::ERROR_CODE_INTERNAL);
    CHECK(jaild_failure(error, "").status == 500);
}

TEST_CASE("e2b interpreter: contexts as E2B lists them, and the default one", "[unit][e2b]") {
    CHECK(json::parse(context_json(info("ctx-1"))) ==
          json::parse(R"({"id":"ctx-1","language":"python","cwd":"/home/user"})"));
    v1::ContextInfoList list;
    CHECK(context_list_json(list) == "[]");
    CHECK(default_context(list) == nullptr);
    for (const char* id : {"ctx-10", "ctx-9", "ctx-11", "ctx-2"}) *list.add_contexts() = info(id);
    const json::array listed = json::parse(context_list_json(list)).as_array();
    CHECK(listed.size() == 4);
    CHECK(listed.at(0).at("id") == "ctx-10");
    // The oldest: ctx-2 was made before ctx-9, ctx-10 and ctx-11.
    REQUIRE(default_context(list) != nullptr);
    CHECK(default_context(list)->context_id() == "ctx-2");
}

TEST_CASE("e2b interpreter: the env_vars cells carry any value as data, not code", "[unit][e2b]") {
    const std::string set = env_set_cell({{"A", "x\"); import os; os._exit(1) #"}, {"B", "\xc3\xa9\n"}});
    // The values travel base64-encoded: nothing of them appears as Python source.
    CHECK(set.find("os._exit") == std::string::npos);
    CHECK(set.find("b64decode(\"") != std::string::npos);
    CHECK(set.find("execution_count -= 1") != std::string::npos);
    CHECK(set.find("shell.events.register(\"post_run_cell\", restore)") != std::string::npos);
    CHECK(set.ends_with("del _jaild_env\n"));
}

TEST_CASE("e2b interpreter: a cell's events as E2B's lines", "[unit][e2b]") {
    ExecutionLines lines;
    bool ended = true;
    v1::ServerMessage out;
    out.mutable_output()->set_stream(v1::STREAM_STDOUT);
    out.mutable_output()->set_data("hi\n\xc3");  // an é cut in two
    auto got = lines_of(lines.event(out, "2026-12-05T10:00:00Z", ended));
    CHECK_FALSE(ended);
    REQUIRE(got.size() == 1);
    CHECK(got[0] == json::parse(R"({"type":"stdout","text":"hi\n","timestamp":"2026-12-05T10:00:00Z"})"));
    out.mutable_output()->set_data("\xa9!");
    got = lines_of(lines.event(out, "t", ended));
    REQUIRE(got.size() == 1);
    CHECK(got[0].at("text") == "\xc3\xa9!");

    v1::ServerMessage err;
    err.mutable_output()->set_stream(v1::STREAM_STDERR);
    err.mutable_output()->set_data("warn\n");
    CHECK(lines_of(lines.event(err, "t", ended)).at(0).at("type") == "stderr");

    v1::ServerMessage result;
    result.mutable_cell_result()->set_text("'abc'");
    result.mutable_cell_result()->set_html("<b>x</b>");
    result.mutable_cell_result()->set_png(std::string("\x89PNG", 4));
    result.mutable_cell_result()->set_json(R"({"a":1})");
    result.mutable_cell_result()->set_is_main_result(true);
    got = lines_of(lines.event(result, "t", ended));
    REQUIRE(got.size() == 1);
    CHECK(got[0].at("type") == "result");
    CHECK(got[0].at("text") == "abc");  // one pair of quotes off, as E2B does
    CHECK(got[0].at("html") == "<b>x</b>");
    CHECK(got[0].at("png") == "iVBORw==");
    CHECK(got[0].at("json") == json::parse(R"({"a":1})"));  // an object, not text
    CHECK(got[0].at("is_main_result") == true);
    result.mutable_cell_result()->set_text("\"it's\"");
    CHECK(lines_of(lines.event(result, "t", ended)).at(0).at("text") == "it's");
    result.mutable_cell_result()->set_text("'a\"");
    CHECK(lines_of(lines.event(result, "t", ended)).at(0).at("text") == "'a\"");
    result.mutable_cell_result()->set_text("'");
    CHECK(lines_of(lines.event(result, "t", ended)).at(0).at("text") == "'");

    v1::ServerMessage error;
    error.mutable_cell_error()->set_name("ZeroDivisionError");
    error.mutable_cell_error()->set_value("division by zero");
    error.mutable_cell_error()->set_traceback("Traceback...\nZeroDivisionError: division by zero");
    got = lines_of(lines.event(error, "t", ended));
    CHECK(got.at(0) == json::parse(R"({"type":"error","name":"ZeroDivisionError","value":"division by zero",
                                       "traceback":"Traceback...\nZeroDivisionError: division by zero"})"));
    CHECK_FALSE(ended);

    v1::ServerMessage end;
    end.mutable_cell_end()->set_execution_count(7);
    got = lines_of(lines.event(end, "t", ended));
    CHECK(ended);
    REQUIRE(got.size() == 2);
    CHECK(got[0] == json::parse(R"({"type":"number_of_executions","execution_count":7})"));
    CHECK(got[1] == json::parse(R"({"type":"end_of_execution"})"));
}

TEST_CASE("e2b interpreter: output held at the end, lost bytes said, jaild's failures, keepalives", "[unit][e2b]") {
    ExecutionLines lines;
    bool ended = false;
    v1::ServerMessage out;
    out.mutable_output()->set_stream(v1::STREAM_STDOUT);
    out.mutable_output()->set_data("\xe2\x82");  // the start of a €
    CHECK(lines.event(out, "t", ended).empty());
    v1::ServerMessage end;
    end.mutable_cell_end()->set_execution_count(1);
    auto got = lines_of(lines.event(end, "t", ended));
    REQUIRE(got.size() == 3);
    CHECK(got[0].at("type") == "stdout");  // flushed before the end, made valid
    CHECK(got[2].at("type") == "end_of_execution");

    ExecutionLines dropped;
    v1::ServerMessage gap;
    gap.mutable_output()->set_stream(v1::STREAM_STDOUT);
    gap.mutable_output()->set_dropped(100);
    gap.mutable_output()->set_data("tail\n");
    got = lines_of(dropped.event(gap, "t", ended));
    REQUIRE(got.size() == 2);
    CHECK(got[0].at("type") == "stderr");
    CHECK(got[0].at("text") == "[jaild: 100 bytes of stdout were lost here]\n");
    CHECK(got[1].at("text") == "tail\n");

    ExecutionLines failing;
    v1::ServerMessage refusal;
    refusal.mutable_error()->set_message("the context's interpreter did not start: x");
    got = lines_of(failing.event(refusal, "t", ended));
    CHECK(ended);
    REQUIRE(got.size() == 2);
    CHECK(got[0].at("name") == "JaildError");
    CHECK(got[0].at("value") == "the context's interpreter did not start: x");
    CHECK(got[1].at("type") == "end_of_execution");
    CHECK(lines_of(failing.lost("gone", "t")).size() == 2);

    CHECK(ExecutionLines::keepalive() == "{\"type\":\"keepalive\"}\n");
}

TEST_CASE("e2b interpreter: keepalive intervals a client may ask for", "[unit][e2b]") {
    using std::chrono::seconds;
    CHECK(keepalive_interval("", seconds(5)) == seconds(5));
    CHECK(keepalive_interval("1", seconds(5)) == seconds(1));
    CHECK(keepalive_interval("5", seconds(5)) == seconds(5));
    CHECK(keepalive_interval("6", seconds(5)) == seconds(5));
    CHECK(keepalive_interval("0", seconds(5)) == seconds(5));
    CHECK(keepalive_interval("2s", seconds(5)) == seconds(5));
    CHECK(keepalive_interval("50", seconds(50)) == seconds(50));
}
