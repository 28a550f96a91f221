// POST /execute and GET /languages over real HTTP against a real jaild: the request examples of seeds 000,
// 001 and 004 verbatim (the bodies their curl lines send), every shipped language, compile errors, and the
// main() contract as an HTTP client sees it.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

using namespace jaild::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object answer(const HttpResponse& response, int status) {
    INFO(response.body);
    REQUIRE(response.status == status);
    return response.json().as_object();
}

json::object ok_result(const HttpResponse& response) { return answer(response, 200); }

// A script that did not return from main() answers 400 with the whole result, as seeds 001 and 004 did.
json::object failed_script(const HttpResponse& response) { return answer(response, 400); }

// Every field of the result object is there, every time.
void check_complete(const json::object& body) {
    for (const char* key : {"stdout", "stderr", "exit_code", "signal", "signal_name", "status", "error", "wall_ms",
                            "cpu_ms", "memory_kb", "truncated", "result", "trace"}) {
        INFO(key);
        CHECK(body.contains(key));
    }
}

}  // namespace

TEST_CASE("gateway: seed 000's /execute example, buffered and streamed", "[gateway][execute]") {
    Stack stack;
    const std::string body = "{\n  \"code\": \"print('hello')\",\n  \"language\": \"python\"\n}";
    const auto result = ok_result(post_json(stack.port(), "/execute", body));
    check_complete(result);
    CHECK(result.at("stdout") == "hello\n");
    CHECK(result.at("stderr") == "");
    CHECK(result.at("exit_code") == 0);
    CHECK(result.at("status") == "ok");

    // "A stream of JSON objects. The last object will contain the final result."
    auto streamed = post_stream(stack.port(), "/execute", body, {{"Accept", "application/x-ndjson"}});
    REQUIRE(streamed.status == 200);
    REQUIRE(streamed.lines.size() >= 3);
    // Seed 000's progress line, then the output.
    CHECK(streamed.lines.front().text == R"({"type":"progress","status":"progress","message":"Executing code..."})");
    const auto first = json::parse(streamed.lines[1].text).as_object();
    CHECK(first.at("type") == "stdout");
    // Python -u writes "hello" and "\n" apart: one line or two, depending on when jaild reads the pipe.
    std::string streamed_out;
    for (std::size_t i = 1; i + 1 < streamed.lines.size(); ++i) {
        const auto line = json::parse(streamed.lines[i].text).as_object();
        if (line.at("type") == "stdout") streamed_out += std::string(line.at("data").as_string());
    }
    CHECK(streamed_out == "hello\n");
    const auto last = json::parse(streamed.lines.back().text).as_object();
    CHECK(last.at("type") == "result");
    CHECK(last.at("stdout") == "hello\n");
    CHECK(last.at("exit_code") == 0);
}

TEST_CASE("gateway: seed 001's curl examples", "[gateway][execute]") {
    Stack stack;
    // Basic Script
    auto basic = ok_result(post_json(stack.port(), "/execute",
                                     R"({"script": "def main():\n    print(\"Hi!\")\n    return {\"done\": True}"})"));
    check_complete(basic);
    CHECK(basic.at("stdout") == "Hi!\n");
    CHECK(json::serialize(basic.at("result")) == R"({"done":true})");
    CHECK(basic.at("status") == "ok");

    // NumPy Example: the value exactly as Python wrote it (2.0, not 2E0).
    auto numpy = post_json(
        stack.port(), "/execute",
        R"({"script": "def main():\n    import numpy as np\n    return {\"avg\": float(np.mean([1,2,3]))}"})");
    CHECK(numpy.body.find(R"("result":{"avg": 2.0})") != std::string::npos);
    CHECK(ok_result(numpy).at("result").at("avg").as_double() == 2.0);

    // Error: the script fails inside the sandbox; error and trace say how.
    auto error =
        failed_script(post_json(stack.port(), "/execute",
                                R"({"script": "def main():\n    import os\n    os.mkdir(\"/root\")\n    return {}"})"));
    check_complete(error);
    CHECK(error.at("status") == "runtime_error");
    CHECK(error.at("result").is_null());
    const std::string message(error.at("error").as_string());
    CHECK((message.rfind("OSError: [Errno 30] Read-only file system", 0) == 0 ||
           message.rfind("PermissionError", 0) == 0));
    CHECK(std::string(error.at("trace").as_string()).find("os.mkdir(\"/root\")") != std::string::npos);
}

TEST_CASE("gateway: seed 004's examples and its error texts", "[gateway][execute]") {
    Stack stack;
    // API Reference
    auto reference = ok_result(post_json(stack.port(), "/execute", R"J({
  "script": "def main():\n    return {'result': 42}"
})J"));
    CHECK(json::serialize(reference.at("result")) == R"({"result":42})");
    CHECK(reference.at("stdout") == "");

    // Basic Example
    auto basic = ok_result(
        post_json(stack.port(), "/execute",
                  R"({"script": "def main():\n    return {\"message\": \"Hello from Cloud Run!\", \"value\": 42}"})"));
    CHECK(json::serialize(basic.at("result")) == R"({"message":"Hello from Cloud Run!","value":42})");

    // NumPy Example
    auto numpy = post_json(stack.port(), "/execute",
                           R"({"script": "import numpy as np\n\ndef main():\n    arr = np.array([1,2,3,4,5])\n    )"
                           R"(return {\"mean\": float(np.mean(arr)), \"sum\": int(np.sum(arr)), \"std\": )"
                           R"(float(np.std(arr))}"})");
    CHECK(numpy.body.find(R"("result":{"mean": 3.0, "sum": 15, "std": 1.4142135623730951})") != std::string::npos);
    CHECK(ok_result(numpy).at("status") == "ok");

    // Pandas Example
    auto pandas = post_json(stack.port(), "/execute",
                            R"({"script": "import pandas as pd\n\ndef main():\n    df = pd.DataFrame({\"name\": )"
                            R"([\"Alice\", \"Bob\", \"Charlie\"], \"age\": [25, 30, 35]})\n    return {\"shape\": )"
                            R"(list(df.shape), \"mean_age\": float(df.age.mean()), \"names\": df.name.tolist()}"})");
    CHECK(pandas.body.find(R"("result":{"shape": [3, 2], "mean_age": 30.0, "names": ["Alice", "Bob", "Charlie"]})") !=
          std::string::npos);

    // Stdout Capture Example
    auto capture = ok_result(post_json(
        stack.port(), "/execute",
        R"({"script": "def main():\n    print(\"Starting calculation...\")\n    result = sum(range(100))\n    )"
        R"(print(f\"Sum of 0-99: {result}\")\n    print(\"Calculation complete!\")\n    return {\"sum\": result, )"
        R"(\"count\": 100}"})"));
    CHECK(capture.at("stdout") == "Starting calculation...\nSum of 0-99: 4950\nCalculation complete!\n");
    CHECK(json::serialize(capture.at("result")) == R"({"sum":4950,"count":100})");

    // Health Check
    auto health = http_request(stack.port(), "GET", "/health");
    CHECK(health.status == 200);
    CHECK(json::serialize(health.json()) == R"({"status":"healthy"})");

    // The troubleshooting texts, word for word.
    auto no_main = post_json(stack.port(), "/execute", R"({"script": "def helper():\n    return 1"})");
    CHECK(no_main.status == 400);
    CHECK(no_main.json().at("error") == "Script must contain a 'main()' function");
    CHECK(no_main.json().at("field") == "script");
    // A top-level `def main` that is gone by the end: only the runner can tell; still a 400.
    auto shadowed = post_json(stack.port(), "/execute", R"({"script": "def main():\n    return 1\nmain = 5"})");
    CHECK(shadowed.status == 400);
    CHECK(shadowed.json().at("error") == "Script must contain a 'main()' function");
    CHECK(shadowed.json().at("field") == "script");
    // "50KB" is 50,000 characters as both services counted them (len(script) > 50000), not bytes: 'é' is two
    // bytes in UTF-8 and one character.
    const std::string head = "def main():\n    return 1\n#";
    std::string fits = head;
    while (fits.size() - head.size() < 2 * (50'000 - head.size())) fits += "\u00e9";
    auto largest = ok_result(post_json(stack.port(), "/execute", json::serialize(json::object{{"script", fits}})));
    CHECK(largest.at("result") == 1);
    auto big = post_json(stack.port(), "/execute", json::serialize(json::object{{"script", fits + "x"}}));
    CHECK(big.status == 400);
    CHECK(big.json().at("error") == "Invalid script size");
    CHECK(big.json().at("field") == "script");

    // Seed 004's own test suite asserts 400 for an exception and for its timeout.
    auto raised = failed_script(post_json(stack.port(), "/execute", R"({"script": "def main():\n    return 1 / 0"})"));
    check_complete(raised);
    CHECK(raised.at("status") == "runtime_error");
    CHECK(raised.at("error") == "ZeroDivisionError: division by zero");
    CHECK(std::string(raised.at("trace").as_string()).find("return 1 / 0") != std::string::npos);
    auto slow = failed_script(
        post_json(stack.port(), "/execute",
                  R"J({"script": "import time\ndef main():\n    time.sleep(10)", "limits": {"wall": 1000}})J"));
    CHECK(slow.at("status") == "timeout");
    CHECK(slow.at("error") == "Script execution timed out (1s limit)");
    auto hungry = failed_script(post_json(stack.port(), "/execute",
                                          R"J({"script": "def main():\n    return len(bytearray(400 << 20))",)J"
                                          R"J( "limits": {"mem": 65536}})J"));
    CHECK(hungry.at("status") == "memory_limit");
    auto killed = failed_script(
        post_json(stack.port(), "/execute",
                  R"J({"script": "import os, signal\ndef main():\n    os.kill(os.getpid(), signal.SIGKILL)"})J"));
    CHECK(killed.at("signal") == 9);
    // A streamed script has sent its 200 already: its last line says how the run ended.
    auto streamed =
        post_stream(stack.port(), "/execute", R"({"script": "def main():\n    return 1 / 0", "stream": true})");
    CHECK(streamed.status == 200);
    REQUIRE_FALSE(streamed.lines.empty());
    const auto last = json::parse(streamed.lines.back().text).as_object();
    CHECK(last.at("status") == "runtime_error");
    CHECK(last.at("error") == "ZeroDivisionError: division by zero");
    // The language+code dialect keeps 200 for a finished run whatever the program did.
    auto plain = ok_result(post_json(stack.port(), "/execute", R"({"language":"python","code":"1 / 0"})"));
    CHECK(plain.at("status") == "runtime_error");
}

TEST_CASE("gateway: every language over HTTP, and a compile error", "[gateway][execute]") {
    Stack stack;
    for (const auto& [language, code] : kHelloWorld) {
        INFO(language);
        json::object request;
        request["language"] = language;
        request["code"] = code;
        auto result = ok_result(post_json(stack.port(), "/execute", json::serialize(request)));
        check_complete(result);
        CHECK(result.at("stdout") == "hello\n");
        CHECK(result.at("status") == "ok");
    }

    auto languages = http_request(stack.port(), "GET", "/languages");
    REQUIRE(languages.status == 200);
    std::map<std::string, json::object> by_name;
    const json::value listing = languages.json();  // named: a range-for over a temporary's member dangles
    for (const auto& entry : listing.at("languages").as_array())
        by_name[std::string(entry.at("name").as_string())] = entry.as_object();
    for (const auto& [language, code] : kHelloWorld) {
        INFO(language);
        REQUIRE(by_name.count(language) == 1);
        CHECK_FALSE(by_name[language].at("version").as_string().empty());
    }

    auto broken =
        ok_result(post_json(stack.port(), "/execute", R"({"language":"c","code":"int main() { return x; }"})"));
    CHECK(broken.at("status") == "compile_error");
    CHECK(std::string(broken.at("stderr").as_string()).find("undeclared") != std::string::npos);
    CHECK(std::string(broken.at("error").as_string()).find("compilation failed") == 0);
    CHECK(broken.at("stdout") == "");

    // stdin, args, env and files through HTTP too.
    auto echo = ok_result(post_json(stack.port(), "/execute",
                                    R"({"language":"bash","code":"read l; echo \"$l $1 $NAME\"; cat in.txt",)"
                                    R"("stdin":"line\n","args":["arg"],"env":{"NAME":"env"},)"
                                    R"("files":{"in.txt":"file\n"}})"));
    CHECK(echo.at("stdout") == "line arg env\nfile\n");
    check_nothing_left(stack.daemon.run_dir(), stack.daemon.pid());
}

TEST_CASE("gateway: the libraries and tools the seeds promise, inside a sandbox", "[gateway][execute]") {
    Stack stack;
    // Seeds 001 and 004 list these libraries; a script imports them all and uses each once.
    auto imported = ok_result(post_json(stack.port(), "/execute",
                                        R"J({"script": "def main():\n)J"
                                        R"J(    import numpy, pandas, scipy.stats, sklearn.linear_model, requests\n)J"
                                        R"J(    import matplotlib\n    matplotlib.use('Agg')\n    import seaborn\n)J"
                                        R"J(    m = sklearn.linear_model.LinearRegression().fit([[0], [1]], [0, 2])\n)J"
                                        R"J(    return [int(numpy.sum([1, 2])), len(pandas.DataFrame({'a': [1]})),)J"
                                        R"J( round(float(m.coef_[0])), requests.__name__, seaborn.__name__]"})J"));
    INFO(imported.at("stderr"));
    CHECK(imported.at("status") == "ok");
    CHECK(json::serialize(imported.at("result")) == R"([3,1,2,"requests","seaborn"])");
    // Seed 003's sandbox has git and gh.
    for (const char* tool : {"git", "gh"}) {
        INFO(tool);
        json::object request;
        request["command"] = json::array{tool, "--version"};
        auto version = ok_result(post_json(stack.port(), "/run", json::serialize(request)));
        CHECK(version.at("exit_code") == 0);
        CHECK(std::string(version.at("stdout").as_string()).find(" version ") != std::string::npos);
    }
    auto repo =
        ok_result(post_json(stack.port(), "/run",
                            R"({"command": ["sh", "-c", "git init -q r && cd r && git config user.email a@b && )"
                            R"(git config user.name a && echo x > f && git add f && git commit -qm one && )"
                            R"(git log --oneline | wc -l"]})"));
    CHECK(repo.at("stdout") == "1\n");
    check_nothing_left(stack.daemon.run_dir(), stack.daemon.pid());
}
