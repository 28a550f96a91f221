#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/node_id.h"

using jaild::make_session_id;
using jaild::node_id_from_hostname;
using jaild::parse_session_id;
using jaild::valid_node_id;

namespace {

const std::string kRandom = "0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("a node id is 1 to 32 of a-z, 0-9 and '-'", "[unit][node]") {
    for (const std::string& id :
         std::vector<std::string>{"a", "node-a", "n1", "0", "-", std::string(32, 'z'), "build-7"}) {
        INFO(id);
        CHECK(valid_node_id(id));
    }
    for (const std::string& id :
         std::vector<std::string>{"", std::string(33, 'a'), "Node", "node_a", "node.a", "node a", "nöde", "a/b"}) {
        INFO(id);
        CHECK_FALSE(valid_node_id(id));
    }
}

TEST_CASE("the default node id is the host name, lowercased, up to its first dot", "[unit][node]") {
    CHECK(node_id_from_hostname("build-7") == "build-7");
    CHECK(node_id_from_hostname("Build-7.example.org") == "build-7");
    CHECK(node_id_from_hostname("NODE") == "node");
    CHECK(node_id_from_hostname(std::string(32, 'h') + ".lan") == std::string(32, 'h'));
    // No valid id: the caller asks for [node] id.
    CHECK(node_id_from_hostname("web_1") == "");
    CHECK(node_id_from_hostname(std::string(33, 'h')) == "");
    CHECK(node_id_from_hostname("") == "");
    CHECK(node_id_from_hostname(".example.org") == "");
}

TEST_CASE("resolve_node_id takes [node] id, else the host name's, else refuses naming the host", "[unit][node]") {
    CHECK(jaild::resolve_node_id({"node-a"}, "whatever_host") == "node-a");
    CHECK(jaild::resolve_node_id({}, "Box-1.local") == "box-1");
    try {
        jaild::resolve_node_id({}, "web_1.example.org");
        FAIL("no error");
    } catch (const jaild::ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Matchers::Contains("\"web_1.example.org\"") &&
                                 Catch::Matchers::Contains("set [node] id in jaild.toml"));
    }
}

TEST_CASE("a session id is 32 hex digits, then '-' and the node id when it has one", "[unit][node]") {
    const std::string id = make_session_id(kRandom, "node-a");
    CHECK(id == kRandom + "-node-a");
    auto parts = parse_session_id(id);
    REQUIRE(parts);
    CHECK(parts->random == kRandom);
    CHECK(parts->node == "node-a");

    // A node id may hold '-' and digits: everything after the 33rd character is the node.
    // (The parts are views into the id: it must outlive them.)
    const std::string dashed = kRandom + "-a-1-b";
    parts = parse_session_id(dashed);
    REQUIRE(parts);
    CHECK(parts->node == "a-1-b");
    const std::string dash = kRandom + "--";
    parts = parse_session_id(dash);
    REQUIRE(parts);
    CHECK(parts->node == "-");
}

TEST_CASE("an id made before nodes had names still parses, without a node", "[unit][node]") {
    const auto parts = parse_session_id(kRandom);
    REQUIRE(parts);
    CHECK(parts->random == kRandom);
    CHECK(parts->node.empty());
}

TEST_CASE("what is not a session id is refused", "[unit][node]") {
    for (const std::string& id : std::vector<std::string>{
             std::string(),
             kRandom.substr(1),                     // 31 digits
             "0123456789ABCDEF0123456789abcdef",    // upper case
             "0123456789abcdeg0123456789abcdef",    // not hex
             kRandom + "-",                         // an empty node
             kRandom + "x",                         // no '-'
             kRandom + "0",                         // 33 digits
             kRandom + "-Node",                     // not a node id
             kRandom + "-" + std::string(33, 'n'),  // node too long
             kRandom + "-node/../x",                // a path
             "../" + kRandom,                       // a path first
             std::string("0123456789abcdef\0"
                         "123456789abcdef",
                         32),  // a NUL
         }) {
        INFO(id);
        CHECK_FALSE(parse_session_id(id));
    }
}
