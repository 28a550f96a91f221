#include "gateway/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "common/config.h"

namespace jaild::gateway {

namespace ssl = boost::asio::ssl;

namespace {

// The first error OpenSSL queued (the most specific: "No such file or directory", "no start line"), then
// clears the queue.
std::string openssl_reason(unsigned long& first) {
    first = ERR_peek_error();
    std::string reason;
    if (first == 0) {
        reason = "unknown error";
    } else if (ERR_SYSTEM_ERROR(first)) {
        reason = std::strerror(ERR_GET_REASON(first));
    } else {
        const char* text = ERR_reason_error_string(first);
        const char* library = ERR_lib_error_string(first);
        reason = std::string(text ? text : "unknown error") + (library ? " (" + std::string(library) + ")" : "");
    }
    ERR_clear_error();
    return reason;
}

// A key protected by a passphrase is refused instead of prompting on the terminal; `asked` records why.
int no_passphrase(char*, int, int, void* asked) {
    if (asked) *static_cast<bool*>(asked) = true;
    return 0;
}

// ALPN: HTTP/1.1 when the client offers it; a client that offers only other protocols goes on without ALPN.
int select_http11(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                  unsigned int offered_length, void*) {
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, out_length, kHttp11, sizeof kHttp11, offered, offered_length) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

// The private key is refused when every user of the host may read it, as the keys file is.
void check_key_mode(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || (st.st_mode & S_IROTH) == 0) return;  // OpenSSL names a missing file
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw ConfigError("gateway.tls_key " + path + ": mode " + mode +
                      " lets every user read the private key (chmod o-rwx " + path +
                      "; readable by the gateway's user or group only)");
}

}  // namespace

TlsContext::TlsContext(std::string cert_path, std::string key_path)
    : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)), current_(load()) {}

std::shared_ptr<ssl::context> TlsContext::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

bool TlsContext::reload() {
    try {
        auto fresh = load();
        std::lock_guard lock(mutex_);
        current_ = std::move(fresh);
    } catch (const ConfigError& error) {
        spdlog::error("TLS reload failed, new connections keep the previous certificate: {}", error.what());
        return false;
    }
    spdlog::info("TLS certificate reloaded from {}", cert_path_);
    return true;
}

std::shared_ptr<ssl::context> TlsContext::load() const {
    check_key_mode(key_path_);
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = context->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    // Renegotiation (TLS 1.2) would let a client make the server do handshakes at will.
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_default_passwd_cb(native, no_passphrase);
    SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);
    unsigned long code = 0;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(native, cert_path_.c_str()) != 1)
        throw ConfigError("gateway.tls_cert " + cert_path_ + ": " + openssl_reason(code));
    bool passphrase_asked = false;
    SSL_CTX_set_default_passwd_cb_userdata(native, &passphrase_asked);
    const int key_loaded = SSL_CTX_use_PrivateKey_file(native, key_path_.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb_userdata(native, nullptr);  // asio's ~context deletes what it finds there
    if (key_loaded != 1) {
        const std::string reason = openssl_reason(code);
        if (passphrase_asked)
            throw ConfigError("gateway.tls_key " + key_path_ +
                              " is protected by a passphrase: the gateway needs the key without one");
        if (ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH)
            throw ConfigError("gateway.tls_key " + key_path_ + " is not the key of gateway.tls_cert " + cert_path_ +
                              ": " + reason);
        throw ConfigError("gateway.tls_key " + key_path_ + ": " + reason);
    }
    return context;
}

}  // namespace jaild::gateway
