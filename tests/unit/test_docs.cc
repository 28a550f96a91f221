// The documentation names what the code does, one for one: a new isolation step or seccomp rule without
// its line in docs/security.md fails here.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/tenant_keys.h"
#include "jaild.pb.h"
#include "jaild/sandbox/child.h"
#include "jaild/sandbox/seccomp_policy.h"

namespace {

std::string read_doc(const std::string& name) {
    const auto root = std::filesystem::path(JAILD_SOURCE_DIR);
    std::ifstream in(root / "docs" / name);
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("docs/security.md names every set-up step as the error text does", "[unit][docs]") {
    const std::string doc = read_doc("security.md");
    for (int s = static_cast<int>(jaild::Stage::cgroup_attach); s <= static_cast<int>(jaild::Stage::exec); ++s) {
        const std::string name(jaild::stage_name(static_cast<jaild::Stage>(s)));
        INFO(name);
        CHECK(doc.find("| `" + name + "` |") != std::string::npos);
    }
}

TEST_CASE("docs/security.md lists every seccomp rule", "[unit][docs]") {
    const std::string doc = read_doc("security.md");
    for (const jaild::seccomp::Rule& rule : jaild::seccomp::rules()) {
        INFO(rule.syscall);
        CHECK(doc.find("| `" + std::string(rule.syscall) + "` |") != std::string::npos);
    }
}

TEST_CASE("docs/protocol.md names every exit status", "[unit][docs]") {
    const std::string doc = read_doc("protocol.md");
    // Every status but STATUS_UNSPECIFIED (0); the protocol is compiled for the lite runtime, without
    // descriptors, so the values are walked by number.
    for (int value = jaild::v1::Status_MIN + 1; value <= jaild::v1::Status_MAX; ++value) {
        if (!jaild::v1::Status_IsValid(value)) continue;
        const std::string name =
            jaild::v1::Status_Name(static_cast<jaild::v1::Status>(value)).substr(std::string("STATUS_").size());
        INFO(name);
        CHECK(doc.find("`" + name + "`") != std::string::npos);
    }
}

TEST_CASE("docs/operations.md lists every tenant limit, and its sample keys file parses", "[unit][docs][keys]") {
    const std::string doc = read_doc("operations.md");
    for (const auto& limit : jaild::gateway::kTenantLimits) {
        INFO(limit.key);
        CHECK(doc.find("| `" + std::string(limit.flag) + "` | `" + limit.key + "` |") != std::string::npos);
    }
    const std::size_t start = doc.find("```toml\n[tenants.");
    REQUIRE(start != std::string::npos);
    const std::size_t body = start + std::string("```toml\n").size();
    const std::string sample = doc.substr(body, doc.find("```", body) - body);
    const auto keys = jaild::gateway::parse_tenant_keys(sample, "docs/operations.md");
    REQUIRE(keys.tenants.count("acme") == 1);
    CHECK(keys.tenants.at("acme").keys.size() == 1);
}
