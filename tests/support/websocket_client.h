// A small WebSocket client (Boost.Beast) for the gateway tests: opens a WebSocket on a gateway route, plain or
// over TLS, sends text and binary frames, and receives messages with a deadline.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/http_client.h"

namespace jaild::test {

class WebSocketClient {
public:
    // Connects to 127.0.0.1:port and asks to upgrade `target` with `headers`, offering `protocols`. status() is
    // the answer's HTTP status: 101 when the WebSocket is open; otherwise body() holds the refusal.
    // With `ca_file`: over TLS (wss), verifying the server's certificate for "localhost" against that CA.
    WebSocketClient(int port, const std::string& target, const Headers& headers = {},
                    const std::vector<std::string>& protocols = {}, const std::string& ca_file = "");
    ~WebSocketClient();
    WebSocketClient(const WebSocketClient&) = delete;

    int status() const { return status_; }
    std::string header(const std::string& name) const;  // of the handshake's answer (lower-case name)
    const std::string& body() const { return body_; }

    bool send_text(const std::string& text);
    bool send_binary(const std::string& bytes);
    // The next message, or nullopt once the server closed (close_code() says how) or after `timeout`.
    std::optional<std::string> receive(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // Messages until the server closes or `timeout` passes.
    std::vector<std::string> receive_all(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    bool closed() const { return closed_; }
    int close_code() const { return close_code_; }
    std::string close_reason() const { return close_reason_; }
    void close();  // the closing handshake from this side

private:
    struct State;
    std::unique_ptr<State> state_;
    int status_ = 0;
    std::map<std::string, std::string> headers_;
    std::string body_;
    bool closed_ = false;
    int close_code_ = 0;
    std::string close_reason_;
};

}  // namespace jaild::test
