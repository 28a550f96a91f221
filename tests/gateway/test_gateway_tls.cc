// The gateway over TLS as HTTPS clients see it: a test CA and server certificates made with the openssl
// command at test time, a real jaild behind the gateway, and Python's ssl and http.client as clients that
// verify the CA's certificate (tests/gateway/tls_client.py); a live process's attach WebSocket as wss.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"
#include "tests/support/jailctl.h"
#include "tests/support/process.h"
#include "tests/support/websocket_client.h"

using namespace jaild::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

Jailctl run_program(const std::string& program, const std::vector<std::string>& args) {
    JailctlCall call;  // the jailctl runner starts any program
    call.program = program;
    call.args = args;
    call.timeout = std::chrono::seconds(60);
    return run_jailctl(call);
}

void openssl(const std::vector<std::string>& args) {
    const Jailctl ran = run_program("/usr/bin/openssl", args);
    INFO("openssl exit " << ran.exit_code << ": " << ran.err);
    REQUIRE(ran.exit_code == 0);
}

std::string read_text(const std::string& path) {
    std::ostringstream text;
    text << std::ifstream(path).rdbuf();
    return text.str();
}

// A CA (ca.pem) and the server certificates it signs for 127.0.0.1 and localhost, in a scratch directory.
class TestCa {
public:
    TestCa() {
        openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=jaild test CA", "-addext",
                 "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
        std::ofstream(path("server.ext")) << "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
                                             "basicConstraints = CA:FALSE\n"
                                             "keyUsage = critical, digitalSignature\n"
                                             "extendedKeyUsage = serverAuth\n";
    }
    std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
    std::string ca() const { return path("ca.pem"); }

    // NAME.pem and NAME.key: a certificate for CN=NAME with serial `serial` (hex digits).
    void issue(const std::string& name, const std::string& serial) const {
        openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + name});
        openssl({"x509", "-req", "-in", path(name + ".csr"), "-CA", ca(), "-CAkey", path("ca.key"), "-set_serial",
                 "0x" + serial, "-days", "2", "-extfile", path("server.ext"), "-out", path(name + ".pem")});
    }

private:
    TempDir dir_;
};

// The files the gateway is configured with; a test replaces their content and sends SIGHUP.
struct ServedFiles {
    explicit ServedFiles(const TestCa& ca) : cert(ca.path("served.pem")), key(ca.path("served.key")) {}
    void serve(const TestCa& ca, const std::string& name) const {
        std::filesystem::copy_file(ca.path(name + ".pem"), cert, std::filesystem::copy_options::overwrite_existing);
        std::filesystem::copy_file(ca.path(name + ".key"), key, std::filesystem::copy_options::overwrite_existing);
    }
    std::vector<std::string> args() const { return {"--tls-cert", cert, "--tls-key", key}; }
    std::string cert, key;
};

ServedFiles serving_first(TestCa& ca) {
    ca.issue("first", "1001");
    ServedFiles files(ca);
    files.serve(ca, "first");
    return files;
}

// A jaild and a gateway serving the test CA's certificate "first" (serial 1001).
struct TlsStack {
    TestCa ca;
    ServedFiles files = serving_first(ca);
    Daemon daemon;
    GatewayProcess gateway{daemon.socket(), files.args()};
};

// The JSON object on the last line of a client's output.
json::object last_line(const std::string& output) {
    const std::size_t end = output.find_last_not_of('\n');
    const std::size_t start = output.rfind('\n', end);
    return json::parse(output.substr(start == std::string::npos ? 0 : start + 1)).as_object();
}

// Runs one mode of tls_client.py; its JSON answer.
json::object client(const std::string& mode, int port, const std::string& ca) {
    const Jailctl ran =
        run_program("/usr/bin/python3", {source_path("tests/gateway/tls_client.py"), mode, std::to_string(port), ca});
    INFO("tls_client.py " << mode << ": exit " << ran.exit_code << "\n" << ran.out << ran.err);
    REQUIRE(ran.exit_code == 0);
    return last_line(ran.out);
}

std::string text(const json::value& value) { return value.is_string() ? std::string(value.as_string()) : ""; }

// A mode of tls_client.py that waits for the file `go` (hold, hangup), running while the test acts.
class WaitingClient {
public:
    WaitingClient(const std::string& mode, int port, const std::string& ca, const std::string& go_name = "go")
        : go_(dir_.path() + "/" + go_name), out_(dir_.path() + "/out") {
        const int fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        pid_ = launch({.argv = {"/usr/bin/python3", source_path("tests/gateway/tls_client.py"), mode,
                                std::to_string(port), ca, go_},
                       .stdout_fd = fd});
        ::close(fd);
    }
    ~WaitingClient() { terminate_child(pid_); }
    WaitingClient(const WaitingClient&) = delete;

    // Whether it printed `line` (its first) within 30 s.
    bool printed(const std::string& line) const {
        return wait_until([&] { return read_text(out_).starts_with(line + "\n"); }, std::chrono::seconds(30));
    }
    // Creates the file it waits for, waits for it to exit 0 and returns its JSON answer.
    json::object go() {
        std::ofstream(go_) << "go";
        int status = 0;
        REQUIRE(::waitpid(pid_, &status, 0) == pid_);
        pid_ = -1;
        const std::string output = read_text(out_);
        INFO(output);
        REQUIRE(WIFEXITED(status));
        REQUIRE(WEXITSTATUS(status) == 0);
        return last_line(output);
    }

private:
    TempDir dir_;
    std::string go_, out_;
    pid_t pid_ = -1;
};

bool alive(pid_t pid) { return ::kill(pid, 0) == 0 && ::waitpid(pid, nullptr, WNOHANG) == 0; }

}  // namespace

TEST_CASE("gateway tls: a client that verifies the CA runs, streams and keeps its connection alive", "[gateway][tls]") {
    TlsStack stack;
    TestCa& ca = stack.ca;
    GatewayProcess& gateway = stack.gateway;

    const json::object out = client("session", gateway.port(), ca.ca());
    CHECK(out.at("run_status") == 200);
    CHECK(out.at("run").at("stdout") == "hello over tls\n");
    CHECK(text(out.at("tls_version")).starts_with("TLSv1."));  // 1.2 or 1.3, whatever both prefer
    CHECK(out.at("alpn") == "http/1.1");

    // The stream comes line by line, as the program writes it, not all at the end.
    CHECK(out.at("stream_status") == 200);
    CHECK(out.at("stream_type") == "application/x-ndjson");
    CHECK(out.at("stream_encoding") == "chunked");
    const json::array& lines = out.at("stream").as_array();
    REQUIRE(lines.size() == 4);
    CHECK(lines[0].at("line").at("data") == "one\n");
    CHECK(lines[1].at("line").at("data") == "two\n");
    CHECK(lines[2].at("line").at("data") == "three\n");
    CHECK(lines[3].at("line").at("type") == "result");
    CHECK(lines[3].at("line").at("stdout") == "one\ntwo\nthree\n");
    CHECK(lines[2].at("at").to_number<double>() - lines[0].at("at").to_number<double>() >= 0.5);

    // Three requests, one TLS connection.
    CHECK(out.at("health_status") == 200);
    CHECK(out.at("same_socket") == true);
    const json::array& ports = out.at("local_ports").as_array();
    CHECK(ports[0] == ports[1]);
    CHECK(ports[1] == ports[2]);
}

TEST_CASE("gateway tls: uploads, pauses longer than the write timeout and hang-ups work as over plain HTTP",
          "[gateway][tls]") {
    TestCa ca;
    ca.issue("first", "1001");
    ServedFiles files(ca);
    files.serve(ca, "first");
    std::ofstream(ca.path("gateway.toml")) << "[gateway]\nwrite_timeout_ms = 1000\n";
    std::vector<std::string> args = files.args();
    args.insert(args.end(), {"--config", ca.path("gateway.toml")});
    Daemon daemon;
    GatewayProcess gateway(daemon.socket(), args);

    // A file larger than the JSON body limit, streamed to jaild as it comes, and read back whole.
    const json::object put = client("files", gateway.port(), ca.ca());
    CHECK(put.at("create_status") == 201);
    CHECK(put.at("put_status") == 201);
    CHECK(put.at("get_status") == 200);
    CHECK(put.at("same_bytes") == true);
    CHECK(put.at("delete_status") == 200);
    CHECK(put.at("same_socket") == true);

    // Two seconds without a byte to write, twice the write timeout: only writing is timed.
    const json::object slow = client("slow", gateway.port(), ca.ca());
    CHECK(slow.at("stream_status") == 200);
    const json::array& lines = slow.at("stream").as_array();
    REQUIRE(lines.size() == 3);
    CHECK(lines[2].at("stdout") == "a\nb\n");
    CHECK(slow.at("late_status") == 200);
    CHECK(slow.at("late").at("stdout") == "late\n");
    CHECK(slow.at("same_socket") == true);

    // A client that goes away mid-run (no close_notify) cancels its job, streamed or not.
    for (const std::string go : {"go", "go-stream"}) {
        INFO(go);
        WaitingClient leaving("hangup", gateway.port(), ca.ca(), go);
        REQUIRE(leaving.printed("sent"));
        REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, std::chrono::seconds(10)));
        CHECK(leaving.go().at("hung_up") == true);
        CHECK(wait_until([] { return sandbox_processes().empty(); }, std::chrono::seconds(5)));
    }
    CHECK(alive(gateway.pid()));
    check_nothing_left(daemon.run_dir());
}

TEST_CASE("gateway tls: SIGTERM closes idle connections and lets a running request answer", "[gateway][tls]") {
    TlsStack stack;
    TestCa& ca = stack.ca;
    GatewayProcess& gateway = stack.gateway;
    WaitingClient clients("shutdown", gateway.port(), ca.ca());
    REQUIRE(clients.printed("sent"));
    REQUIRE(wait_until([] { return !sandbox_processes().empty(); }, std::chrono::seconds(10)));
    // One SIGTERM, then the wait for the exit (a second one could arrive after the handler is gone).
    auto stopped = std::async(std::launch::async, [&] { return gateway.terminate(); });
    const json::object seen = clients.go();
    CHECK(seen.at("busy_status") == 200);
    CHECK(seen.at("busy").at("stdout") == "done\n");
    CHECK(seen.at("busy_connection") == "close");
    CHECK(seen.at("idle_read") == "");
    REQUIRE(stopped.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    const int status = stopped.get();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("gateway tls: untrusted certificates, plain HTTP and TLS 1.1 are refused, and the gateway serves on",
          "[gateway][tls]") {
    TlsStack stack;
    TestCa& ca = stack.ca;
    GatewayProcess& gateway = stack.gateway;

    const json::object untrusted = client("untrusted", gateway.port(), ca.ca());
    CHECK(untrusted.at("error") == "SSLCertVerificationError");
    CHECK(text(untrusted.at("message")).find("unable to get local issuer certificate") != std::string::npos);

    // Plain HTTP to the TLS port: told so in plain HTTP, then closed.
    const std::string answer = text(client("plain", gateway.port(), ca.ca()).at("answer"));
    CHECK(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    CHECK(answer.find("Connection: close\r\n") != std::string::npos);
    CHECK(answer.find(R"({"error":"this port speaks only HTTPS: use an https:// URL","field":null})") !=
          std::string::npos);

    const json::object old = client("old_tls", gateway.port(), ca.ca());
    INFO(std::string(old.at("message").as_string()));
    CHECK(old.at("reason") == "TLSV1_ALERT_PROTOCOL_VERSION");  // the server's alert, not the client's refusal

    CHECK(alive(gateway.pid()));
    const json::object after = client("cert", gateway.port(), ca.ca());
    CHECK(after.at("status") == 200);
    CHECK(after.at("subject") == "first");
    const std::string log = gateway.log();
    CHECK(log.find("refused plain HTTP from 127.0.0.1 on the TLS port") != std::string::npos);
}

TEST_CASE("gateway tls: SIGHUP serves a new certificate to new connections, a broken one keeps the old",
          "[gateway][tls]") {
    TlsStack stack;
    TestCa& ca = stack.ca;
    ServedFiles& files = stack.files;
    GatewayProcess& gateway = stack.gateway;
    ca.issue("second", "2002");
    CHECK(client("cert", gateway.port(), ca.ca()).at("serial") == "1001");

    // A connection open across the reload: it goes on with the certificate it shook hands with.
    WaitingClient held("hold", gateway.port(), ca.ca());
    REQUIRE(held.printed("ready"));

    files.serve(ca, "second");
    REQUIRE(::kill(gateway.pid(), SIGHUP) == 0);
    REQUIRE(wait_until([&] { return gateway.log().find("TLS certificate reloaded") != std::string::npos; },
                       std::chrono::seconds(10)));
    const json::object fresh = client("cert", gateway.port(), ca.ca());
    CHECK(fresh.at("serial") == "2002");
    CHECK(fresh.at("subject") == "second");

    const json::object kept = held.go();
    CHECK(kept.at("second_status") == 200);
    CHECK(kept.at("second").at("stdout") == "still here\n");
    CHECK(kept.at("same_socket") == true);
    CHECK(kept.at("after").at("serial") == "1001");

    // A certificate whose key is not the one beside it: logged, and the second certificate stays.
    ca.issue("third", "3003");
    std::filesystem::copy_file(ca.path("third.pem"), files.cert, std::filesystem::copy_options::overwrite_existing);
    REQUIRE(::kill(gateway.pid(), SIGHUP) == 0);
    REQUIRE(wait_until([&] { return gateway.log().find("TLS reload failed") != std::string::npos; },
                       std::chrono::seconds(10)));
    CHECK(gateway.log().find("gateway.tls_key " + files.key + " is not the key of gateway.tls_cert " + files.cert) !=
          std::string::npos);
    CHECK(client("cert", gateway.port(), ca.ca()).at("serial") == "2002");

    // Not PEM at all: the same.
    std::ofstream(files.cert) << "not a certificate\n";
    REQUIRE(::kill(gateway.pid(), SIGHUP) == 0);
    REQUIRE(wait_until(
        [&] { return gateway.log().find("gateway.tls_cert " + files.cert + ": no start line") != std::string::npos; },
        std::chrono::seconds(10)));
    CHECK(client("cert", gateway.port(), ca.ca()).at("serial") == "2002");
    CHECK(alive(gateway.pid()));
}

TEST_CASE("gateway tls: a missing half, a missing file, a broken, locked or mismatched key stops the gateway at start",
          "[gateway][tls]") {
    TestCa ca;
    ca.issue("first", "1001");
    ca.issue("other", "1002");
    ServedFiles files(ca);
    files.serve(ca, "first");
    const auto start = [&](const std::vector<std::string>& args) {
        const Jailctl ran = run_program(bin("jaild-gateway"), [&] {
            std::vector<std::string> all = {"--listen", "127.0.0.1:" + std::to_string(free_port()), "--jaild-socket",
                                            "/nonexistent/jaild.sock"};
            all.insert(all.end(), args.begin(), args.end());
            return all;
        }());
        INFO(ran.err);
        CHECK(ran.exit_code != 0);
        return ran.err;
    };
    CHECK(start({"--tls-cert", files.cert}).find("gateway.tls_key (--tls-key) is missing") != std::string::npos);
    CHECK(start({"--tls-key", files.key}).find("gateway.tls_cert (--tls-cert) is missing") != std::string::npos);
    const std::string missing = ca.path("missing.pem");
    CHECK(start({"--tls-cert", missing, "--tls-key", files.key})
              .find("gateway.tls_cert " + missing + ": No such file or directory") != std::string::npos);
    CHECK(start({"--tls-cert", files.cert, "--tls-key", ca.path("server.ext")})
              .find("gateway.tls_key " + ca.path("server.ext") + ": ") != std::string::npos);
    openssl({"pkey", "-in", files.key, "-aes256", "-passout", "pass:secret", "-out", ca.path("locked.key")});
    CHECK(start({"--tls-cert", files.cert, "--tls-key", ca.path("locked.key")})
              .find("gateway.tls_key " + ca.path("locked.key") +
                    " is protected by a passphrase: the gateway needs the key without one") != std::string::npos);
    CHECK(start({"--tls-cert", files.cert, "--tls-key", ca.path("other.key")})
              .find("is not the key of gateway.tls_cert " + files.cert) != std::string::npos);
}

TEST_CASE("gateway tls: a live process's attach WebSocket over TLS (wss), on the connection's own TLS stream",
          "[gateway][tls][live]") {
    TlsStack stack;
    // The session and its process come from a plain gateway in front of the same jaild: the same caller.
    GatewayProcess plain(stack.daemon.socket());
    auto response = post_json(plain.port(), "/sessions", R"({"live": true})");
    REQUIRE(response.status == 201);
    const std::string id(response.json().at("session_id").as_string());
    response = post_json(plain.port(), "/sessions/" + id + "/processes",
                         R"({"command": ["/bin/sh", "-i"], "env": {"PS1": "$ "}, "pty": {"rows": 24, "cols": 80}})");
    REQUIRE(response.status == 201);
    const std::string attach =
        "/sessions/" + id + "/processes/" + std::to_string(response.json().at("pid").to_number<int>()) + "/attach";

    WebSocketClient socket(stack.gateway.port(), attach, {}, {}, stack.ca.ca());
    INFO(socket.body());
    REQUIRE(socket.status() == 101);
    REQUIRE(socket.send_text(R"({"type": "resize", "rows": 33, "cols": 99})"));
    REQUIRE(socket.send_text(R"({"type": "stdin", "data": "stty size; exit 4\n"})"));
    std::string screen, last;
    for (auto message = socket.receive(15s); message; message = socket.receive(15s)) {
        const json::value frame = json::parse(*message);
        if (frame.at("type") == "stdout") screen += std::string(frame.at("data").as_string());
        last = *message;
    }
    CHECK(screen.find("33 99") != std::string::npos);
    CHECK(json::parse(last) == json::parse(R"({"type":"exit","exit_code":4,"signal":null,"signal_name":null})"));
    CHECK(socket.close_code() == 1000);
    // The plain port of a TLS gateway is refused before any upgrade.
    WebSocketClient plaintext(stack.gateway.port(), attach);
    CHECK(plaintext.status() != 101);
}
