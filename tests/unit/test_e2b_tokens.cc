// gateway/e2b/sandbox_tokens: the E2B sandboxes' envd and traffic access tokens, MACed with the gateway's
// secret, and the secret's file.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gateway/e2b/sandbox_tokens.h"
#include "tests/support/gateway.h"

using namespace jaild::gateway::e2b;
namespace fs = std::filesystem;

namespace {

SandboxTokens::Secret secret_of(unsigned char fill) {
    SandboxTokens::Secret secret{};
    secret.fill(fill);
    return secret;
}

struct TempDir {
    fs::path path;
    TempDir() {
        std::string name = (fs::temp_directory_path() / "jaild-e2b-tokens-XXXXXX").string();
        REQUIRE(::mkdtemp(name.data()) != nullptr);
        path = name;
    }
    ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("e2b tokens: a token names its principal for its sandbox and kind only", "[unit][e2b]") {
    const SandboxTokens tokens(secret_of(1));
    const std::string envd = tokens.mint(TokenKind::envd, "tenant:blue", "sbx1");
    CHECK(envd.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
          std::string::npos);
    CHECK(tokens.verify(TokenKind::envd, envd, "sbx1") == "tenant:blue");
    CHECK(tokens.mint(TokenKind::envd, "tenant:blue", "sbx1") == envd);  // deterministic: connect gives it again

    CHECK_FALSE(tokens.verify(TokenKind::envd, envd, "sbx2"));                       // another sandbox
    CHECK_FALSE(tokens.verify(TokenKind::traffic, envd, "sbx1"));                    // the other kind
    CHECK_FALSE(SandboxTokens(secret_of(2)).verify(TokenKind::envd, envd, "sbx1"));  // another gateway's secret
    const std::string traffic = tokens.mint(TokenKind::traffic, "tenant:blue", "sbx1");
    CHECK(traffic != envd);
    CHECK(tokens.verify(TokenKind::traffic, traffic, "sbx1") == "tenant:blue");

    // Another principal's name in front of a valid MAC does not verify.
    const std::string red = tokens.mint(TokenKind::envd, "tenant:red", "sbx1");
    const std::string forged = red.substr(0, red.find('.')) + envd.substr(envd.find('.'));
    CHECK_FALSE(tokens.verify(TokenKind::envd, forged, "sbx1"));
    // Mangled: a changed character, cut short, padded, empty, no dot.
    std::string changed = envd;
    changed.back() = changed.back() == 'A' ? 'B' : 'A';
    CHECK_FALSE(tokens.verify(TokenKind::envd, changed, "sbx1"));
    CHECK_FALSE(tokens.verify(TokenKind::envd, envd.substr(0, envd.size() - 1), "sbx1"));
    CHECK_FALSE(tokens.verify(TokenKind::envd, envd + "=", "sbx1"));
    CHECK_FALSE(tokens.verify(TokenKind::envd, "", "sbx1"));
    CHECK_FALSE(tokens.verify(TokenKind::envd, "abc", "sbx1"));
    CHECK_FALSE(tokens.verify(TokenKind::envd, ".", "sbx1"));
}

TEST_CASE("e2b tokens: the secret's file is created once and kept private", "[unit][e2b]") {
    TempDir dir;
    const fs::path file = dir.path / "e2b.secret";
    const SandboxTokens first = SandboxTokens::from_file(file);
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(st.st_size == static_cast<off_t>(SandboxTokens::kSecretBytes));
    // A restarted gateway reads the same secret: tokens it gave out still verify.
    const std::string token = first.mint(TokenKind::envd, "tenant:blue", "sbx1");
    CHECK(SandboxTokens::from_file(file).verify(TokenKind::envd, token, "sbx1") == "tenant:blue");
    // Two random secrets differ.
    CHECK_FALSE(SandboxTokens::from_file(dir.path / "other").verify(TokenKind::envd, token, "sbx1"));

    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    CHECK_THROWS_WITH(SandboxTokens::from_file(file), Catch::Contains("chmod 600"));
    const fs::path short_file = dir.path / "short";
    { std::ofstream(short_file) << "too short"; }
    fs::permissions(short_file, fs::perms::owner_read | fs::perms::owner_write);
    CHECK_THROWS_WITH(SandboxTokens::from_file(short_file), Catch::Contains("exactly 32 bytes"));
    CHECK_THROWS_WITH(SandboxTokens::from_file(dir.path / "no" / "such"), Catch::Contains("cannot create it"));
}

TEST_CASE("e2b tokens: the secret's file is a [gateway] option", "[unit][e2b]") {
    CHECK(jaild::test::gateway_options_from("[gateway]\ne2b_secret_file = \"/var/lib/jaild-gateway/e2b.secret\"\n")
              .e2b_secret_file == "/var/lib/jaild-gateway/e2b.secret");
    CHECK(jaild::test::gateway_options_from("[gateway]\n").e2b_secret_file.empty());
}
