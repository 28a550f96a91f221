// session_files refuses, by itself, the names that would act on something other than an entry beneath the
// workspace: "..", ".", "" as the last component, and paths holding a NUL (found by fuzz_path; jaild's
// callers check paths first, but session_files.h promises that no string check is needed).
#include "jaild/session_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace jaild;

TEST_CASE("session_files refuses '..', '.', '' and NUL bytes as what it removes or writes", "[unit][session_files]") {
    char pattern[] = "/tmp/session_files_test.XXXXXX";
    REQUIRE(::mkdtemp(pattern));
    const fs::path outer = pattern;
    fs::create_directories(outer / "ws" / "sub");
    std::ofstream(outer / "keep") << "outside\n";
    std::ofstream(outer / "ws" / "file") << "inside\n";
    unique_fd ws(::open((outer / "ws").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(ws);

    for (const std::string& path : {std::string(".."), std::string("."), std::string(""), std::string("sub/.."),
                                    std::string("sub/"), std::string(".\0/..", 5), std::string("file\0x", 6)}) {
        INFO(path);
        CHECK(session_files::remove(ws.get(), path) == std::errc::invalid_argument);
        CHECK(session_files::write_file(ws.get(), path, "x", ::getuid(), ::getgid()) == std::errc::invalid_argument);
    }
    std::error_code ec;
    CHECK(!session_files::open_beneath(ws.get(), std::string("file\0/../../keep", 16), O_RDONLY, 0, ec));
    CHECK(ec == std::errc::invalid_argument);
    // Nothing above or in the workspace was touched; plain names still work.
    CHECK(fs::exists(outer / "keep"));
    CHECK(fs::exists(outer / "ws" / "file"));
    CHECK(fs::exists(outer / "ws" / "sub"));
    CHECK(!session_files::write_file(ws.get(), "sub/new", "x", ::getuid(), ::getgid()));
    CHECK(!session_files::remove(ws.get(), "sub"));
    CHECK(!fs::exists(outer / "ws" / "sub"));
    fs::remove_all(outer);
}
