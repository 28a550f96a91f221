// The gateway's TLS server context, built from [gateway] tls_cert and tls_key (PEM files): TLS 1.2 and later,
// OpenSSL's default ciphers, ALPN "http/1.1". SIGHUP builds a new one from the same files; each connection
// keeps the context it started with.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <string>

namespace jaild::gateway {

class TlsContext {
public:
    // Reads both files at start. Throws ConfigError naming the file and OpenSSL's reason.
    TlsContext(std::string cert_path, std::string key_path);

    // The context a new connection uses. Any thread.
    std::shared_ptr<boost::asio::ssl::context> current() const;

    // Reads the files again. On failure logs why and keeps the current context. Any thread.
    bool reload();

private:
    std::shared_ptr<boost::asio::ssl::context> load() const;

    const std::string cert_path_, key_path_;
    mutable std::mutex mutex_;
    std::shared_ptr<boost::asio::ssl::context> current_;
};

}  // namespace jaild::gateway
