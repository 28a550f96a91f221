// Execute requests through a real jaild: every shipped language, compile errors, runtime errors, stdin, args,
// env and files, and Python's main() and `result` contracts, all on the real runtimes of this host.
#include <catch2/catch.hpp>
#include <map>

#include "tests/support/harness.h"

using namespace jaild;
using namespace jaild::test;
using namespace std::chrono_literals;

namespace {

v1::ClientMessage execute(const std::string& language, const std::string& code,
                          v1::ExecuteMode mode = v1::EXECUTE_MODE_PLAIN) {
    v1::ClientMessage message;
    message.mutable_execute()->set_language(language);
    message.mutable_execute()->set_code(code);
    message.mutable_execute()->set_mode(mode);
    return message;
}

RunResult python_main(const std::string& socket, const std::string& script) {
    return run(socket, execute("python", script, v1::EXECUTE_MODE_MAIN));
}

// Prints stdin's first line, the first argument, $GREETING and the file data.txt, one per line.
const std::map<std::string, std::string> kEcho = {
    {"python",
     "import os, sys\nprint(sys.stdin.readline().strip())\nprint(sys.argv[1])\nprint(os.environ['GREETING'])\n"
     "print(open('data.txt').read().strip())"},
    {"bash", "read line; echo \"$line\"; echo \"$1\"; echo \"$GREETING\"; cat data.txt"},
    {"sh", "read line; echo \"$line\"; echo \"$1\"; echo \"$GREETING\"; cat data.txt"},
    {"node",
     "const fs = require('fs');\nconst line = fs.readFileSync(0, 'utf8').split('\\n')[0];\n"
     "console.log(line); console.log(process.argv[2]); console.log(process.env.GREETING);\n"
     "process.stdout.write(fs.readFileSync('data.txt', 'utf8'));"},
    {"perl",
     "my $line = <STDIN>; print $line; print \"$ARGV[0]\\n\"; print \"$ENV{GREETING}\\n\";\n"
     "open(my $f, '<', 'data.txt') or die; print <$f>;"},
    {"c",
     "#include <stdio.h>\n#include <stdlib.h>\nint main(int argc, char** argv) {\n"
     "  char line[256]; if (!fgets(line, sizeof line, stdin)) return 2; fputs(line, stdout);\n"
     "  printf(\"%s\\n%s\\n\", argv[1], getenv(\"GREETING\"));\n"
     "  FILE* f = fopen(\"data.txt\", \"r\"); if (!f) return 3; int c; while ((c = fgetc(f)) != EOF) putchar(c);\n"
     "  return 0;\n}\n"},
    {"cpp",
     "#include <cstdlib>\n#include <fstream>\n#include <iostream>\n#include <string>\n"
     "int main(int argc, char** argv) {\n  std::string line; std::getline(std::cin, line);\n"
     "  std::cout << line << '\\n' << argv[1] << '\\n' << std::getenv(\"GREETING\") << '\\n';\n"
     "  std::ifstream f(\"data.txt\"); std::cout << f.rdbuf();\n}\n"},
};

}  // namespace

TEST_CASE("languages lists every shipped language with its real version", "[languages]") {
    Daemon daemon;
    v1::ClientMessage request;
    request.mutable_languages();
    Connection connection(daemon.socket());
    connection.send(request);
    v1::ServerMessage reply;
    REQUIRE(connection.receive(reply));
    REQUIRE(reply.has_languages());
    std::map<std::string, v1::Language> by_name;
    for (const auto& language : reply.languages().languages()) by_name[language.name()] = language;
    for (const auto& [name, code] : kHelloWorld) {
        INFO(name);
        REQUIRE(by_name.count(name) == 1);
        CHECK_FALSE(by_name[name].version().empty());
    }
    CHECK(by_name["c"].compiled());
    CHECK(by_name["cpp"].compiled());
    CHECK_FALSE(by_name["python"].compiled());
    CHECK(by_name["python"].version().rfind("3.", 0) == 0);
    const auto& aliases = by_name["python"].aliases();
    CHECK(std::find(aliases.begin(), aliases.end(), "python3") != aliases.end());
}

TEST_CASE("hello world runs in every language", "[languages]") {
    Daemon daemon;
    for (const auto& [language, code] : kHelloWorld) {
        INFO(language);
        RunResult result = run(daemon.socket(), execute(language, code));
        REQUIRE(result.has_exit);
        CHECK(result.exit.status() == v1::STATUS_OK);
        CHECK(result.out == "hello\n");
        CHECK(result.err.empty());
    }
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("stdin, args, env and files reach the program in every language", "[languages]") {
    Daemon daemon;
    for (const auto& [language, code] : kEcho) {
        INFO(language);
        v1::ClientMessage message = execute(language, code);
        auto& request = *message.mutable_execute();
        request.set_stdin("a line of stdin\nsecond line\n");
        request.add_args("first-arg");
        (*request.mutable_env())["GREETING"] = "hi there";
        v1::File& file = *request.add_files();
        file.set_path("data.txt");
        file.set_content("file content\n");
        RunResult result = run(daemon.socket(), message);
        REQUIRE(result.has_exit);
        INFO(result.err);
        CHECK(result.exit.status() == v1::STATUS_OK);
        CHECK(result.out == "a line of stdin\nfirst-arg\nhi there\nfile content\n");
    }
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("a compile error is compile_error with the compiler's words, and nothing runs", "[languages]") {
    Daemon daemon;
    for (const std::string language : {"c", "cpp"}) {
        INFO(language);
        // If it compiled, the program would print; it must not even start.
        RunResult result = run(daemon.socket(), execute(language, "int main() { puts(\"ran\"); return undefined_x; }"));
        REQUIRE(result.has_exit);
        CHECK(result.exit.status() == v1::STATUS_COMPILE_ERROR);
        CHECK(result.err.find("undefined_x") != std::string::npos);
        CHECK(result.exit.error().find("compilation failed") == 0);
        CHECK(result.exit.error().find("undefined_x") != std::string::npos);
        CHECK(result.out.empty());
    }
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("a compiled program's exit code, signal and limits are the program's", "[languages]") {
    Daemon daemon;
    RunResult code = run(daemon.socket(), execute("c", "int main(void) { return 3; }"));
    REQUIRE(code.has_exit);
    CHECK(code.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(code.exit.exit_code() == 3);

    RunResult crash = run(daemon.socket(), execute("c", "int main(void) { volatile int* p = 0; return *p; }"));
    REQUIRE(crash.has_exit);
    CHECK(crash.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(crash.exit.signal_name() == "SIGSEGV");

    // The run's CPU limit applies to the program, not the compile step's.
    v1::ClientMessage spin = execute("c", "int main(void) { for (;;) {} }");
    *spin.mutable_execute()->mutable_limits() = limits(5000, 300);
    RunResult timeout = run(daemon.socket(), spin);
    REQUIRE(timeout.has_exit);
    CHECK(timeout.exit.status() == v1::STATUS_TIMEOUT);
    CHECK(timeout.exit.timeout_kind() == "cpu");
    check_nothing_left(daemon.run_dir(), daemon.pid());
}

TEST_CASE("stdin streamed while a program is still compiling reaches it", "[languages]") {
    Daemon daemon;
    v1::ClientMessage message = execute("c",
                                        "#include <stdio.h>\nint main(void) { char b[64]; while (fgets(b, sizeof b, "
                                        "stdin)) printf(\"got %s\", b); return 0; }\n");
    message.mutable_execute()->set_stdin_stream(true);
    Connection connection(daemon.socket());
    connection.send(message);
    for (const char* line : {"one\n", "two\n"}) {
        v1::ClientMessage chunk;
        chunk.mutable_stdin()->set_data(line);
        connection.send(chunk);
    }
    v1::ClientMessage eof;
    eof.mutable_stdin()->set_eof(true);
    connection.send(eof);
    RunResult result = receive_run(connection);
    REQUIRE(result.has_exit);
    CHECK(result.exit.status() == v1::STATUS_OK);
    CHECK(result.out == "got one\ngot two\n");
}

TEST_CASE("execute refuses bad requests naming the field", "[languages]") {
    Daemon daemon;
    struct Case {
        v1::ClientMessage message;
        std::string field;
    };
    std::vector<Case> cases;
    cases.push_back({execute("cobol", "x"), "language"});
    cases.push_back({execute("", "x"), "language"});
    cases.push_back({execute("bash", "x", v1::EXECUTE_MODE_MAIN), "mode"});
    v1::ClientMessage escape = execute("python", "pass");
    escape.mutable_execute()->add_files()->set_path("../outside.txt");
    cases.push_back({escape, "files"});
    v1::ClientMessage clash = execute("python", "pass");
    clash.mutable_execute()->add_files()->set_path("main.py");
    cases.push_back({clash, "files"});
    for (const char* data : {"[1, 2]", "{\"not-an-identifier\": 1}", "{\"class\": 1}", "{\"__builtins__\": 1}", "{"}) {
        v1::ClientMessage bad = execute("python", "result = 1", v1::EXECUTE_MODE_RESULT_VARIABLE);
        bad.mutable_execute()->set_data_json(data);
        cases.push_back({bad, "data"});
    }
    cases.push_back({execute("python", std::string(201 * 1024, '#')), "code"});  // past code_bytes (200 KiB)
    for (const Case& c : cases) {
        INFO("the bad field: " << c.field);
        RunResult result = run(daemon.socket(), c.message);
        REQUIRE(result.has_error);
        CHECK(result.error.code() == v1::ERROR_CODE_INVALID_ARGUMENT);
        CHECK(result.error.field() == c.field);
        CHECK_FALSE(result.error.message().empty());
    }
}

TEST_CASE("main() returns every JSON type as result", "[languages][python]") {
    Daemon daemon;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{'result': 42}", "{\"result\": 42}"},
        {"[1, 'two', 3.5, None, True]", "[1, \"two\", 3.5, null, true]"},
        {"'text with \\u00e9'", "\"text with \\u00e9\""},
        {"7", "7"},
        {"2.0", "2.0"},
        {"False", "false"},
        {"None", "null"},
        {"{'nested': {'list': [{'a': 1}]}}", "{\"nested\": {\"list\": [{\"a\": 1}]}}"},
    };
    for (const auto& [value, json] : cases) {
        INFO(value);
        RunResult result = python_main(daemon.socket(), "def main():\n    return " + value + "\n");
        REQUIRE(result.has_exit);
        CHECK(result.exit.status() == v1::STATUS_OK);
        CHECK(result.exit.result_json() == json);
    }
}

TEST_CASE("main() that returns something not JSON is a runtime_error naming the type", "[languages][python]") {
    Daemon daemon;
    RunResult set = python_main(daemon.socket(), "def main():\n    print('before')\n    return {1, 2}\n");
    REQUIRE(set.has_exit);
    CHECK(set.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(set.exit.error().find("not JSON-serializable") != std::string::npos);
    CHECK(set.exit.error().find("set") != std::string::npos);
    CHECK(set.out == "before\n");
    CHECK(set.exit.result_json().empty());

    RunResult nan = python_main(daemon.socket(), "def main():\n    return float('nan')\n");
    REQUIRE(nan.has_exit);
    CHECK(nan.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(nan.exit.error().find("not JSON-serializable") != std::string::npos);
}

TEST_CASE("an exception gives error and a trace of the user's frames only", "[languages][python]") {
    Daemon daemon;
    RunResult result = python_main(daemon.socket(),
                                   "def helper(x):\n    return 1 / x\n\ndef main():\n    print('working')\n"
                                   "    return helper(0)\n");
    REQUIRE(result.has_exit);
    CHECK(result.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(result.exit.error() == "ZeroDivisionError: division by zero");
    const std::string& trace = result.exit.trace();
    CHECK(trace.find("Traceback (most recent call last):") == 0);
    CHECK(trace.find("line 6, in main") != std::string::npos);
    CHECK(trace.find("line 2, in helper") != std::string::npos);
    CHECK(trace.find("runner.py") == std::string::npos);
    CHECK(result.out == "working\n");
    CHECK(result.exit.result_json().empty());

    RunResult syntax = python_main(daemon.socket(), "def main(:\n    return 1\n");
    REQUIRE(syntax.has_exit);
    CHECK(syntax.exit.status() == v1::STATUS_RUNTIME_ERROR);
    CHECK(syntax.exit.error().find("SyntaxError") == 0);
    CHECK(syntax.exit.trace().find("runner.py") == std::string::npos);
}

TEST_CASE("what a script prints cannot forge or corrupt its result", "[languages][python]") {
    Daemon daemon;
    RunResult result = python_main(daemon.socket(),
                                   "import sys, os\ndef main():\n    print('{\"result\": 666}')\n"
                                   "    sys.stdout.write('{\"status\": \"ok\", \"result\": \"666\"}\\n')\n"
                                   "    os.write(1, b'{\"result\": 666}\\n')\n    return {'real': 1}\n");
    REQUIRE(result.has_exit);
    CHECK(result.exit.status() == v1::STATUS_OK);
    CHECK(result.exit.result_json() == "{\"real\": 1}");
    CHECK(result.out.find("666") != std::string::npos);

    // The channel is not handed down to programs the script starts (os.system closes nothing itself).
    RunResult child = python_main(daemon.socket(),
                                  "import os\ndef main():\n    os.system('ls /proc/self/fd > fds.txt')\n"
                                  "    return open('fds.txt').read().split()\n");
    REQUIRE(child.has_exit);
    CHECK(child.exit.status() == v1::STATUS_OK);
    CHECK(child.exit.result_json() == "[\"0\", \"1\", \"2\", \"3\"]");  // 3 is ls's own directory
}

TEST_CASE("a script without main() is refused with seed 004's words", "[languages][python]") {
    Daemon daemon;
    RunResult result = python_main(daemon.socket(), "def not_main():\n    return 1\nmain = 5\n");
    REQUIRE(result.has_error);
    CHECK(result.error.code() == v1::ERROR_CODE_INVALID_ARGUMENT);
    CHECK(result.error.message() == "Script must contain a 'main()' function");
}

TEST_CASE("seed 002: data becomes variables and `result` is returned", "[languages][python]") {
    Daemon daemon;
    v1::ClientMessage message = execute("python", "result = x + y", v1::EXECUTE_MODE_RESULT_VARIABLE);
    message.mutable_execute()->set_data_json("{\"x\": 1, \"y\": 2}");
    RunResult result = run(daemon.socket(), message);
    REQUIRE(result.has_exit);
    CHECK(result.exit.status() == v1::STATUS_OK);
    CHECK(result.exit.result_json() == "3");

    RunResult unset = run(daemon.socket(), execute("python", "x = 1", v1::EXECUTE_MODE_RESULT_VARIABLE));
    REQUIRE(unset.has_exit);
    CHECK(unset.exit.status() == v1::STATUS_OK);
    CHECK(unset.exit.result_json().empty());
}

TEST_CASE("seeds 001 and 004: numpy and pandas give their exact values", "[languages][python]") {
    Daemon daemon;
    RunResult numpy =
        python_main(daemon.socket(),
                    "import numpy as np\n\ndef main():\n    arr = np.array([1,2,3,4,5])\n    return {\"mean\": "
                    "float(np.mean(arr)), \"sum\": int(np.sum(arr)), \"std\": float(np.std(arr))}");
    REQUIRE(numpy.has_exit);
    CHECK(numpy.exit.status() == v1::STATUS_OK);
    CHECK(numpy.exit.result_json() == "{\"mean\": 3.0, \"sum\": 15, \"std\": 1.4142135623730951}");

    RunResult average = python_main(
        daemon.socket(), "def main():\n    import numpy as np\n    return {\"avg\": float(np.mean([1,2,3]))}");
    REQUIRE(average.has_exit);
    CHECK(average.exit.result_json() == "{\"avg\": 2.0}");

    RunResult pandas = python_main(daemon.socket(),
                                   "import pandas as pd\n\ndef main():\n    df = pd.DataFrame({\"name\": [\"Alice\", "
                                   "\"Bob\", \"Charlie\"], \"age\": [25, 30, 35]})\n    return {\"shape\": "
                                   "list(df.shape), \"mean_age\": float(df.age.mean()), \"names\": df.name.tolist()}");
    REQUIRE(pandas.has_exit);
    CHECK(pandas.exit.status() == v1::STATUS_OK);
    CHECK(pandas.exit.result_json() ==
          "{\"shape\": [3, 2], \"mean_age\": 30.0, \"names\": [\"Alice\", \"Bob\", \"Charlie\"]}");
}

TEST_CASE("scipy, scikit-learn, seaborn import and matplotlib plots headless to a file", "[languages][python]") {
    Daemon daemon;
    v1::ClientMessage message =
        execute("python",
                "import scipy, sklearn, seaborn\n"
                "from sklearn.linear_model import LinearRegression\n"
                "import matplotlib.pyplot as plt\nimport os\n\ndef main():\n"
                "    model = LinearRegression().fit([[0], [1], [2]], [1, 3, 5])\n"
                "    plt.plot([1, 2, 3], [4, 5, 6])\n    plt.savefig('plot.png')\n"
                "    with open('plot.png', 'rb') as f:\n        head = f.read(8)\n"
                "    return {'slope': round(float(model.coef_[0]), 6), 'png': head[1:4].decode(),"
                " 'backend': plt.get_backend()}\n",
                v1::EXECUTE_MODE_MAIN);
    *message.mutable_execute()->mutable_limits() = limits(30000, 20000, 1024 * 1024);
    RunResult result = run(daemon.socket(), message);
    REQUIRE(result.has_exit);
    INFO(result.err);
    CHECK(result.exit.status() == v1::STATUS_OK);
    CHECK(result.exit.result_json() == "{\"slope\": 2.0, \"png\": \"PNG\", \"backend\": \"agg\"}");
    CHECK(result.err.empty());
    check_nothing_left(daemon.run_dir(), daemon.pid());
}
