// gateway/e2b/process_codec and envd_request: which sandbox service a request is for, jaild's errors as
// Connect errors, and envd's process.Process requests as e2b 2.51.0 sends them (captured bodies), mapped
// onto jaild's live processes, and List's answer. Pure.
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "gateway/e2b/envd_request.h"
#include "gateway/e2b/process_codec.h"

namespace json = boost::json;
using namespace jaild::gateway::e2b;
namespace v1 = jaild::v1;

namespace {

template <class T>
T ok(const std::variant<T, ConnectError>& result) {
    if (auto* error = std::get_if<ConnectError>(&result)) FAIL("unexpected error: " << error->message);
    return std::get<T>(result);
}

template <class T>
ConnectError bad(const std::variant<T, ConnectError>& result) {
    if (std::holds_alternative<T>(result)) FAIL("expected an error");
    return std::get<ConnectError>(result);
}

}  // namespace

TEST_CASE("e2b process: Start of commands.run and pty.create", "[unit][e2b]") {
    const v1::ProcessStart run = ok(parse_start(
        R"({"process":{"cmd":"/bin/bash","args":["-l","-c","echo hi"],"envs":{"X":"1"},"cwd":"/tmp"},"stdin":false})",
        EnvdUser::user, 60000));
    CHECK(std::vector<std::string>(run.argv().begin(), run.argv().end()) ==
          std::vector<std::string>{"/bin/bash", "-l", "-c", "echo hi"});
    CHECK(run.env().at("X") == "1");
    CHECK(run.cwd() == "/tmp");
    CHECK(run.stdin_closed());
    CHECK(run.timeout_ms() == 60000);
    CHECK(run.user() == "user");
    CHECK(run.env().at("HOME") == "/home/user");  // the user's home, the workspace
    CHECK_FALSE(run.has_pty());

    const v1::ProcessStart pty = ok(parse_start(
        R"({"process":{"cmd":"/bin/bash","args":["-i","-l"],"envs":{"TERM":"xterm-256color"}},"pty":{"size":{"cols":80,"rows":24}}})",
        EnvdUser::root, std::nullopt));
    CHECK(pty.pty().cols() == 80);
    CHECK(pty.pty().rows() == 24);
    CHECK_FALSE(pty.stdin_closed());  // no "stdin": open, as a terminal needs
    CHECK(pty.timeout_ms() == 0);
    CHECK(pty.user() == "user");             // root is the same unprivileged uid ...
    CHECK(pty.env().at("HOME") == "/root");  // ... with root's home
    CHECK(pty.cwd() == "/home/user");        // no cwd: the workspace, where both users may write

    CHECK(bad(parse_start(R"({"process":{"args":[]}})", EnvdUser::user, {})).message == "process.cmd is required");
    CHECK(bad(parse_start(R"({})", EnvdUser::user, {})).code == ConnectCode::invalid_argument);
    CHECK(bad(parse_start(R"({"process":{"cmd":"x","args":[1]}})", EnvdUser::user, {})).message ==
          "process.args must be an array of strings");
    CHECK(bad(parse_start(R"({"process":{"cmd":"x"},"pty":{"size":{"cols":0,"rows":1}}})", EnvdUser::user, {}))
              .message.find("at least 1") != std::string::npos);
    CHECK(bad(parse_start(R"({"process":{"cmd":"x"},"tag":"t"})", EnvdUser::user, {})).message.find("tags") !=
          std::string::npos);
    CHECK(bad(parse_start("not json", EnvdUser::user, {})).message.find("not valid JSON") != std::string::npos);
}

TEST_CASE("e2b process: the user of Authorization: Basic, the Connect-Timeout-Ms", "[unit][e2b]") {
    CHECK(ok(envd_user("")) == EnvdUser::user);
    CHECK(ok(envd_user("Basic dXNlcjo=")) == EnvdUser::user);     // "user:"
    CHECK(ok(envd_user("Basic cm9vdDo=")) == EnvdUser::root);     // "root:", as captured
    const ConnectError other = bad(envd_user("Basic YWRtaW46"));  // "admin:"
    CHECK(other.code == ConnectCode::unauthenticated);
    CHECK(other.message == "invalid username: 'admin'");
    CHECK(bad(envd_user("Bearer x")).code == ConnectCode::unauthenticated);

    CHECK(ok(connect_timeout_ms("")) == std::nullopt);
    CHECK(ok(connect_timeout_ms("60000")) == 60000u);
    CHECK(bad(connect_timeout_ms("12345678901")).code == ConnectCode::invalid_argument);
    CHECK(bad(connect_timeout_ms("-1")).code == ConnectCode::invalid_argument);
}

TEST_CASE("e2b process: selector, SendInput, SendSignal, Update", "[unit][e2b]") {
    CHECK(ok(parse_selector(R"({"process":{"pid":42}})")) == 42u);
    CHECK(ok(parse_selector(R"({"process":{"pid":"42"}})")) == 42u);  // protojson may send a uint32 as a string
    CHECK(bad(parse_selector(R"({"process":{"tag":"t"}})")).message.find("tag") != std::string::npos);
    CHECK(bad(parse_selector(R"({"process":{"pid":0}})")).message == "process.pid must be a process id");
    CHECK(bad(parse_selector(R"({"process":{"pid":4294967296}})")).code == ConnectCode::invalid_argument);

    const Input in = ok(parse_send_input(R"({"process":{"pid":42},"input":{"stdin":"YWJj"}})"));
    CHECK(in.pid == 42);
    CHECK(in.data == "abc");
    CHECK_FALSE(in.pty);
    const Input pty = ok(parse_send_input(R"({"process":{"pid":43},"input":{"pty":"bHMK"}})"));
    CHECK(pty.data == "ls\n");
    CHECK(pty.pty);
    CHECK(bad(parse_send_input(R"({"process":{"pid":43},"input":{"pty":"!!"}})")).message.find("base64") !=
          std::string::npos);

    const Signal kill = ok(parse_send_signal(R"({"process":{"pid":42},"signal":"SIGNAL_SIGKILL"})"));
    CHECK(kill.pid == 42);
    CHECK(kill.signal == 9);
    CHECK(ok(parse_send_signal(R"({"process":{"pid":42},"signal":15})")).signal == 15);
    CHECK(bad(parse_send_signal(R"({"process":{"pid":42},"signal":"SIGNAL_UNSPECIFIED"})")).code ==
          ConnectCode::invalid_argument);

    const Resize size = ok(parse_update(R"({"process":{"pid":43},"pty":{"size":{"cols":100,"rows":30}}})"));
    CHECK(size.pid == 43);
    CHECK(size.cols == 100);
    CHECK(size.rows == 30);
}

TEST_CASE("e2b process: List answers running commands with their config", "[unit][e2b]") {
    v1::ProcessInfoList list;
    v1::ProcessInfo* running = list.add_processes();
    running->set_pid(42);
    running->set_running(true);
    running->set_cwd("/home/user");
    for (const char* arg : {"/bin/bash", "-l", "-c", "sleep 10"}) running->add_argv(arg);
    v1::ProcessInfo* ended = list.add_processes();
    ended->set_pid(43);
    ended->add_argv("true");
    v1::ProcessInfo* interpreter = list.add_processes();
    interpreter->set_pid(44);
    interpreter->set_running(true);
    interpreter->set_context_id("c1");
    interpreter->add_argv("python3");
    CHECK(json::parse(list_json(list)) == json::parse(R"({"processes":[{"config":{"cmd":"/bin/bash",
        "args":["-l","-c","sleep 10"],"envs":{},"cwd":"/home/user"},"pid":42}]})"));

    v1::ProcessInfo killed;
    killed.set_exit_code(137);
    killed.set_signal(9);
    CHECK(process_end(killed).signal == 9);
    v1::ProcessInfo failed;
    failed.set_exit_code(3);
    CHECK(process_end(failed).exit_code == 3);
    CHECK(process_end(failed).signal == 0);
}

TEST_CASE("e2b process: a request's sandbox and service, by its headers", "[unit][e2b]") {
    namespace http = boost::beast::http;
    http::request<http::string_body> request{http::verb::post, "/process.Process/Start", 11};
    CHECK_FALSE(sandbox_request(request));                              // no E2b-Sandbox-Id: an ordinary request
    request.set("e2b-sandbox-id", "4253d579429f7d11b11c6559bb41cfe1");  // header names are case-insensitive
    request.set("E2b-Sandbox-Port", "49983");
    auto envd = sandbox_request(request);
    REQUIRE(envd);
    REQUIRE(std::holds_alternative<SandboxRequest>(*envd));
    CHECK(std::get<SandboxRequest>(*envd).sandbox_id == "4253d579429f7d11b11c6559bb41cfe1");
    CHECK(std::get<SandboxRequest>(*envd).service == SandboxService::envd);
    request.set("E2b-Sandbox-Port", "49999");
    CHECK(std::get<SandboxRequest>(*sandbox_request(request)).service == SandboxService::interpreter);
    request.set("E2b-Sandbox-Port", "3000");
    const E2bError other = std::get<E2bError>(*sandbox_request(request));
    CHECK(other.status == 501);
    CHECK(other.message.find("port 3000") != std::string::npos);
    request.set("E2b-Sandbox-Port", "49983x");
    CHECK(std::get<E2bError>(*sandbox_request(request)).status == 400);
    request.erase("E2b-Sandbox-Port");
    CHECK(std::get<E2bError>(*sandbox_request(request)).status == 400);
    request.set("E2b-Sandbox-Port", "49983");
    request.set("E2b-Sandbox-Id", "a b");
    CHECK(std::get<E2bError>(*sandbox_request(request)).message == "E2b-Sandbox-Id must be a sandbox id");
}

TEST_CASE("e2b process: jaild's errors as Connect errors", "[unit][e2b]") {
    v1::Error error;
    error.set_code(v1::ERROR_CODE_NOT_FOUND);
    error.set_message("no process 999");
    CHECK(connect_error(error).code == ConnectCode::not_found);
    CHECK(connect_error(error).message == "no process 999");
    error.set_code(v1::ERROR_CODE_FAILED_PRECONDITION);
    CHECK(connect_error(error).code == ConnectCode::failed_precondition);
    error.set_code(v1::ERROR_CODE_QUOTA_EXCEEDED);
    CHECK(connect_error(error).code == ConnectCode::resource_exhausted);
    error.set_code(v1::ERROR_CODE_INVALID_ARGUMENT);
    CHECK(connect_error(error).code == ConnectCode::invalid_argument);
    error.set_code(v1::ERROR_CODE_UNSPECIFIED);
    CHECK(connect_error(error).code == ConnectCode::unknown);
}
