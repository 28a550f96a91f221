// The per-sandbox secrets of the E2B protocols: envdAccessToken (X-Access-Token on envd's routes) and
// trafficAccessToken (E2B-Traffic-Access-Token on the code interpreter's). The gateway keeps no table of them:
// a token is the principal that owns the sandbox plus an HMAC-SHA256 (OpenSSL) of the token's kind, that
// principal and the sandbox id under the gateway's secret. envd requests carry no API key, so the token is
// also how the gateway learns whose sandbox a request may reach: only a token minted for that principal and
// that sandbox verifies. The secret comes from a file (created with 32 random bytes at first start) so that
// tokens outlive a gateway restart, as the sandboxes do. Unit-tested in tests/unit/test_e2b_tokens.cc.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace jaild::gateway::e2b {

enum class TokenKind { envd, traffic };

class SandboxTokens {
public:
    static constexpr std::size_t kSecretBytes = 32;
    using Secret = std::array<unsigned char, kSecretBytes>;

    explicit SandboxTokens(const Secret& secret) : secret_(secret) {}
    // A fresh random secret (OpenSSL's RAND_bytes): tokens then last as long as this gateway process.
    static SandboxTokens random();
    // The secret in `path`, exactly kSecretBytes bytes; a missing file is created (mode 0600, O_EXCL) with a
    // random one. Throws std::runtime_error naming the file when it cannot be read, has another size or is
    // readable by group or others.
    static SandboxTokens from_file(const std::filesystem::path& path);

    // "<principal, base64url>.<HMAC, base64url>"
    std::string mint(TokenKind kind, std::string_view principal, std::string_view sandbox_id) const;
    // The principal `token` was minted for, when it was minted by this secret for this kind and sandbox.
    std::optional<std::string> verify(TokenKind kind, std::string_view token, std::string_view sandbox_id) const;

private:
    std::string mac(TokenKind kind, std::string_view principal, std::string_view sandbox_id) const;

    Secret secret_;
};

}  // namespace jaild::gateway::e2b
