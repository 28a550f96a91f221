#include "gateway/e2b/sandbox_tokens.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/unique_fd.h"
#include "gateway/e2b/protojson.h"
#include "gateway/text_encoding.h"

namespace jaild::gateway::e2b {

namespace {

// Unpadded base64url: what a header value and a URL may carry as is.
std::string base64url(std::string_view bytes) {
    std::string text = base64_encode(bytes);
    while (!text.empty() && text.back() == '=') text.pop_back();
    for (char& c : text) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return text;
}

std::string_view kind_label(TokenKind kind) { return kind == TokenKind::envd ? "envd" : "traffic"; }

std::runtime_error file_error(const std::filesystem::path& path, const std::string& what) {
    return std::runtime_error("E2B token secret " + path.string() + ": " + what);
}

// Reads exactly the secret's size; throws when the file holds more or less.
SandboxTokens::Secret read_secret(int fd, const std::filesystem::path& path) {
    SandboxTokens::Secret secret{};
    unsigned char extra = 0;
    const ssize_t got = ::read(fd, secret.data(), secret.size());
    if (got < 0) throw file_error(path, std::strerror(errno));
    if (static_cast<std::size_t>(got) != secret.size() || ::read(fd, &extra, 1) != 0)
        throw file_error(path, "must hold exactly " + std::to_string(secret.size()) + " bytes");
    return secret;
}

}  // namespace

SandboxTokens SandboxTokens::random() {
    Secret secret{};
    if (RAND_bytes(secret.data(), secret.size()) != 1) throw std::runtime_error("OpenSSL's RAND_bytes failed");
    return SandboxTokens(secret);
}

SandboxTokens SandboxTokens::from_file(const std::filesystem::path& path) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd && errno == ENOENT) {
        unique_fd created(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!created) throw file_error(path, std::string("cannot create it: ") + std::strerror(errno));
        const SandboxTokens made = random();
        if (::write(created.get(), made.secret_.data(), made.secret_.size()) !=
                static_cast<ssize_t>(made.secret_.size()) ||
            ::fsync(created.get()) != 0)
            throw file_error(path, std::string("cannot write it: ") + std::strerror(errno));
        return made;
    }
    if (!fd) throw file_error(path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw file_error(path, std::strerror(errno));
    if (st.st_mode & 077) throw file_error(path, "must not be readable by group or others (chmod 600)");
    return SandboxTokens(read_secret(fd.get(), path));
}

std::string SandboxTokens::mac(TokenKind kind, std::string_view principal, std::string_view sandbox_id) const {
    // Lengths first, so that no two (principal, sandbox) pairs give the same input.
    std::string input(kind_label(kind));
    input += '\n' + std::to_string(principal.size()) + ':' + std::string(principal);
    input += std::to_string(sandbox_id.size()) + ':' + std::string(sandbox_id);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
              reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &length))
        throw std::runtime_error("OpenSSL's HMAC failed");
    return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string SandboxTokens::mint(TokenKind kind, std::string_view principal, std::string_view sandbox_id) const {
    return base64url(principal) + '.' + base64url(mac(kind, principal, sandbox_id));
}

std::optional<std::string> SandboxTokens::verify(TokenKind kind, std::string_view token,
                                                 std::string_view sandbox_id) const {
    const std::size_t dot = token.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    std::optional<std::string> principal = base64_decode(token.substr(0, dot));
    if (!principal || principal->empty()) return std::nullopt;
    // The one spelling mint() gives, compared in constant time.
    const std::string expected = mint(kind, *principal, sandbox_id);
    if (token.size() != expected.size() || CRYPTO_memcmp(token.data(), expected.data(), expected.size()) != 0)
        return std::nullopt;
    return principal;
}

}  // namespace jaild::gateway::e2b
