#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "common/unique_fd.h"
#include "jaild/socket_claim.h"
#include "tests/support/harness.h"

using Catch::Matchers::Contains;
using jaild::SocketClaim;
using jaild::SocketInUse;
using jaild::unique_fd;

namespace {

// A Unix socket bound at `path`, listening when `listen`.
unique_fd bound_socket(const std::string& path, bool listen) {
    unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, path.c_str());
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    if (listen) REQUIRE(::listen(fd.get(), 4) == 0);
    return fd;
}

std::string refusal(const std::string& path) {
    try {
        SocketClaim claim(path);
    } catch (const SocketInUse& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a socket another jaild answers on is refused, not replaced", "[unit][socket_claim]") {
    jaild::test::TempDir dir;
    const std::string path = dir.path() + "/jaild.sock";
    unique_fd other = bound_socket(path, true);
    CHECK_THAT(refusal(path), Contains("socket " + path + " is in use by another jaild") &&
                                  Contains("accepted a connection") && Contains("[server] socket"));
    CHECK(std::filesystem::is_socket(path));  // still there, still the other's
}

TEST_CASE("a socket file nobody answers on (a killed jaild's) is taken", "[unit][socket_claim]") {
    jaild::test::TempDir dir;
    const std::string path = dir.path() + "/run/jaild.sock";
    std::filesystem::create_directories(dir.path() + "/run");
    { unique_fd gone = bound_socket(path, false); }
    REQUIRE(std::filesystem::is_socket(path));
    SocketClaim claim(path);
    CHECK_FALSE(std::filesystem::exists(path));
    // And a path that is not a socket is never removed.
    jaild::test::TempDir other;
    std::ofstream(other.path() + "/file") << "data";
    CHECK_THAT(refusal(other.path() + "/file"), Contains("is not a socket"));
    CHECK(std::filesystem::exists(other.path() + "/file"));
}

TEST_CASE("two jailds starting at once: the lock beside the socket lets one through", "[unit][socket_claim]") {
    jaild::test::TempDir dir;
    const std::string path = dir.path() + "/jaild.sock";
    SocketClaim first(path);
    CHECK_THAT(refusal(path), Contains("holds " + path + ".lock"));
}

TEST_CASE("a stopping jaild removes its socket only if the path is still its own", "[unit][socket_claim]") {
    jaild::test::TempDir dir;
    const std::string path = dir.path() + "/jaild.sock";
    {
        std::optional<SocketClaim> claim;
        claim.emplace(path);
        unique_fd ours = bound_socket(path, true);
        claim->bound();
        CHECK(claim->release());
        CHECK_FALSE(std::filesystem::exists(path));
    }
    std::optional<SocketClaim> claim;
    claim.emplace(path);
    unique_fd ours = bound_socket(path, true);
    claim->bound();
    // Someone put another socket at the path meanwhile (what a second jaild did before these rules).
    REQUIRE(::unlink(path.c_str()) == 0);
    unique_fd theirs = bound_socket(path, true);
    CHECK_FALSE(claim->release());
    CHECK(std::filesystem::is_socket(path));
}
