// A small blocking HTTP/1.1 client (Boost.Beast) for the gateway tests, and a raw TCP connection for
// malformed and slow clients.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace jaild::test {

struct HttpResponse {
    int status = 0;                              // 0: no answer (connection failed, closed or timed out)
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::chrono::milliseconds elapsed{0};

    boost::json::value json() const;  // the body parsed (throws when it is not JSON)
    std::string header(const std::string& name) const;
};

using Headers = std::map<std::string, std::string>;

// One request on a new connection ("Connection: close").
HttpResponse http_request(int port, const std::string& method, const std::string& target, const std::string& body = "",
                          const Headers& headers = {}, std::chrono::milliseconds timeout = std::chrono::seconds(60));
// POST with Content-Type: application/json.
HttpResponse post_json(int port, const std::string& target, const std::string& body, const Headers& headers = {});

// A chunked answer read chunk by chunk, each NDJSON line with the time it arrived.
struct StreamedLine {
    std::chrono::steady_clock::time_point at;
    std::string text;
};
struct StreamResponse {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::vector<StreamedLine> lines;
};
StreamResponse post_stream(int port, const std::string& target, const std::string& body, const Headers& headers = {});
// The same for a GET (a process's output).
StreamResponse get_stream(int port, const std::string& target, const Headers& headers = {});

// A raw TCP connection for malformed and slow clients.
class RawConnection {
public:
    explicit RawConnection(int port);
    ~RawConnection();
    RawConnection(const RawConnection&) = delete;
    bool connected() const { return fd_ >= 0; }
    bool send(const std::string& bytes);  // false once the peer is gone
    // Everything until the peer closes or `timeout`; `closed` says which.
    std::string receive_all(std::chrono::milliseconds timeout, bool& closed);
    void close();

private:
    int fd_ = -1;
};

}  // namespace jaild::test
