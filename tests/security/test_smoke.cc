// The harness itself: an attack that does nothing harmful leaves the host as it was, and check_host_unharmed
// notices a canary that changed (so its CHECKs can fail).
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/fortress.h"

namespace jaild::test {

TEST_CASE("harness: a harmless run leaves the host unharmed, and a changed canary is noticed", "[security][harness]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program("int main(void) { puts(\"hi\"); return 0; }\n"));
    CHECK(attack.status == "ok");
    CHECK(attack.out == "hi\n");
    const Jailctl ctl = fortress.jailctl({"run", "--", "/bin/echo", "hello"});
    CHECK(ctl.exit_code == 0);
    CHECK(ctl.out == "hello\n");
    check_host_unharmed(fortress, attack.out + ctl.out);

    std::ofstream(fortress.canary_dir() + "/writable") << "changed\n";
    CHECK(fortress.snapshot() != fortress.baseline());
}

}  // namespace jaild::test
