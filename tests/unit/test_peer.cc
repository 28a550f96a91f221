// Who may talk to jaild (peer_allowed), and the names the parent gives the child's setup stages.
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "jaild/connection.h"
#include "jaild/sandbox/child.h"

using jaild::peer_allowed;
using jaild::Stage;
using jaild::stage_name;
using Ids = std::vector<std::uint32_t>;

TEST_CASE("root may always talk to jaild", "[unit][peer]") {
    CHECK(peer_allowed(0, {}, {}, {}));
    CHECK(peer_allowed(0, {0}, {1000}, {2000}));
    CHECK(peer_allowed(0, {12345}, {}, {}));
}

TEST_CASE("a listed uid may talk to jaild", "[unit][peer]") {
    CHECK(peer_allowed(1000, {}, Ids{1000}, {}));
    CHECK(peer_allowed(1000, {555}, Ids{7, 1000, 9}, Ids{1}));
    CHECK_FALSE(peer_allowed(1001, {}, Ids{1000}, {}));
}

TEST_CASE("a peer with a listed gid among its groups may talk to jaild", "[unit][peer]") {
    CHECK(peer_allowed(1000, Ids{2000}, {}, Ids{2000}));                  // primary group
    CHECK(peer_allowed(1000, Ids{1000, 27, 2000}, {}, Ids{3000, 2000}));  // a supplementary group
    CHECK_FALSE(peer_allowed(1000, Ids{1000, 27}, {}, Ids{2000}));
    // A gid equal to the uid is no reason to let the uid in.
    CHECK_FALSE(peer_allowed(2000, Ids{1000}, {}, Ids{2000}));
    // A uid equal to a listed gid is no reason either.
    CHECK_FALSE(peer_allowed(2000, Ids{1000}, Ids{1000}, {}));
}

TEST_CASE("a peer that is none of root, a listed uid or a listed group is refused", "[unit][peer]") {
    CHECK_FALSE(peer_allowed(1000, {}, {}, {}));
    CHECK_FALSE(peer_allowed(1000, Ids{1000}, {}, {}));
    CHECK_FALSE(peer_allowed(65534, Ids{65534}, Ids{1000}, Ids{2000}));
    CHECK_FALSE(peer_allowed(UINT32_MAX, Ids{UINT32_MAX}, Ids{1000}, Ids{2000}));  // the "no uid" value
}

TEST_CASE("every child setup stage has its own name", "[unit][child]") {
    std::set<std::string_view> names;
    const auto last = static_cast<std::int32_t>(Stage::start);
    for (std::int32_t value = static_cast<std::int32_t>(Stage::none); value <= last; ++value) {
        const std::string_view name = stage_name(static_cast<Stage>(value));
        INFO("stage " << value << ": " << std::string(name));
        CHECK_FALSE(name.empty());
        CHECK(name != "unknown");
        CHECK(names.insert(name).second);
    }
    CHECK(names.size() == static_cast<std::size_t>(last) + 1);
    CHECK(stage_name(Stage::seccomp) == "seccomp");
    CHECK(stage_name(Stage::exec) == "exec");
    CHECK(stage_name(static_cast<Stage>(last + 1)) == "unknown");
    CHECK(stage_name(static_cast<Stage>(-1)) == "unknown");
}
