// session_files refuses, by itself, the names that would act on something other than an entry beneath the
// workspace: "..", ".", "" as the last component, and paths holding a NUL (found by fuzz_path; jaild's
// callers check paths first, but session_files.h promises that no string check is needed).
#include "jaild/session_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
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

TEST_CASE("session_files::Upload puts a file at its name only when committed", "[unit][session_files]") {
    char pattern[] = "/tmp/session_files_upload.XXXXXX";
    REQUIRE(::mkdtemp(pattern));
    const fs::path ws = pattern;
    std::ofstream(ws / "old") << "old content\n";
    fs::create_symlink("/etc/passwd", ws / "link");
    fs::create_directories(ws / "dir");
    unique_fd dir(::open(ws.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir);
    auto names = [&] {
        std::vector<std::string> out;
        for (const auto& entry : fs::recursive_directory_iterator(ws))
            out.push_back(entry.path().lexically_relative(ws));
        std::sort(out.begin(), out.end());
        return out;
    };
    const std::vector<std::string> before = names();
    {
        // Abandoned half-way: nothing new, the old file as it was.
        session_files::Upload upload;
        REQUIRE(!upload.open(dir.get(), "old", ::getuid(), ::getgid()));
        REQUIRE(!upload.write("half of it"));
        CHECK(upload.written() == 10);
        session_files::Upload deeper;  // its parents are made at open, and stay
        REQUIRE(!deeper.open(dir.get(), "new/deeper/file", ::getuid(), ::getgid()));
        REQUIRE(!deeper.write("x"));
    }
    CHECK(fs::is_directory(ws / "new" / "deeper"));
    CHECK(fs::is_empty(ws / "new" / "deeper"));
    std::ifstream old(ws / "old");
    std::string line;
    std::getline(old, line);
    CHECK(line == "old content");
    {
        session_files::Upload upload;
        REQUIRE(!upload.open(dir.get(), "old", ::getuid(), ::getgid()));
        REQUIRE(!upload.write("new "));
        REQUIRE(!upload.write("content"));
        REQUIRE(!upload.commit());
    }
    std::ifstream replaced(ws / "old");
    std::getline(replaced, line);
    CHECK(line == "new content");
    {
        // A symlink at the name is replaced, never followed; a directory there is refused at once.
        session_files::Upload upload;
        REQUIRE(!upload.open(dir.get(), "link", ::getuid(), ::getgid()));
        REQUIRE(!upload.write("not passwd"));
        REQUIRE(!upload.commit());
        session_files::Upload into_dir;
        CHECK(into_dir.open(dir.get(), "dir", ::getuid(), ::getgid()) == std::errc::is_a_directory);
    }
    CHECK(!fs::is_symlink(ws / "link"));
    CHECK(fs::file_size(ws / "link") == 10);
    fs::remove_all(ws / "new");
    CHECK(names() == before);  // no temporary name left anywhere
    fs::remove_all(ws);
}
