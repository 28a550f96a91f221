// envd's filesystem requests and answers (gateway/e2b/filesystem_codec) and the multipart/form-data reader
// of POST /files (gateway/multipart_reader): sandbox paths mapped onto the workspace or refused, EntryInfo
// from jaild's FileEntry, REST statuses, and multipart bodies fed whole or a byte at a time.
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "gateway/e2b/filesystem_codec.h"
#include "gateway/multipart_reader.h"

using namespace jaild::gateway;
using namespace jaild::gateway::e2b;
namespace json = boost::json;

namespace {

WorkspacePath mapped(std::string_view path, EnvdUser user = EnvdUser::user, PathUse use = PathUse::read) {
    auto result = workspace_path(path, user, use);
    INFO(path);
    REQUIRE(std::holds_alternative<WorkspacePath>(result));
    return std::get<WorkspacePath>(result);
}

ConnectError refused(std::string_view path, EnvdUser user = EnvdUser::user, PathUse use = PathUse::write) {
    auto result = workspace_path(path, user, use);
    INFO(path);
    REQUIRE(std::holds_alternative<ConnectError>(result));
    return std::get<ConnectError>(result);
}

// The reader's events over `body` fed in pieces of `step` bytes, as "part:name:filename", "data:..." (pieces
// joined) and "end".
std::vector<std::string> events_of(const std::string& boundary, const std::string& body, std::size_t step,
                                   std::optional<std::string>& error) {
    MultipartReader reader(boundary);
    std::vector<MultipartReader::Event> events;
    for (std::size_t at = 0; at < body.size() && !error; at += step)
        error = reader.feed(std::string_view(body).substr(at, step), events);
    if (!error) error = reader.finish();
    std::vector<std::string> out;
    for (const auto& event : events) {
        using Kind = MultipartReader::Event::Kind;
        if (event.kind == Kind::part)
            out.push_back("part:" + event.part.name + ":" + event.part.filename.value_or("-"));
        else if (event.kind == Kind::part_end)
            out.push_back("end");
        else if (!out.empty() && out.back().starts_with("data:"))
            out.back() += event.data;
        else
            out.push_back("data:" + event.data);
    }
    return out;
}

}  // namespace

TEST_CASE("e2b files: sandbox paths map onto the workspace or are refused naming what is reachable", "[unit][e2b]") {
    CHECK(mapped("/home/user/a.txt").relative == "a.txt");
    CHECK(mapped("/home/user").relative.empty());
    CHECK(mapped("/home/user/").relative.empty());
    CHECK(mapped("a/b.txt").relative == "a/b.txt");
    CHECK(mapped("").relative.empty());
    CHECK(mapped("~/x").relative == "x");
    CHECK(mapped("/home/user/./d//e/../f").relative == "d/f");
    CHECK(mapped("/workspace/w").relative == "w");
    CHECK(mapped("/workspace/w").shown("w") == "/workspace/w");
    CHECK(mapped("a").shown("a/b") == "/home/user/a/b");
    CHECK(mapped("/home/user/../user/z").relative == "z");

    const ConnectError etc = refused("/etc/passwd");
    CHECK(etc.code == ConnectCode::permission_denied);
    CHECK(etc.message.find("writing /etc/passwd") != std::string::npos);
    CHECK(etc.message.find("/home/user") != std::string::npos);
    CHECK(refused("/tmp/x").message.find("/tmp is seen by the sandbox's commands only") != std::string::npos);
    CHECK(refused("../x").message.find("resolves against the user's home") != std::string::npos);
    CHECK(refused("/home/user/../../etc").code == ConnectCode::permission_denied);
    CHECK(refused("/home/username/x").code == ConnectCode::permission_denied);
    CHECK(refused("/", EnvdUser::user, PathUse::read).message.starts_with("reading / "));
    // root's home is /root, which is not the workspace; its absolute paths into the workspace are.
    CHECK(refused("x", EnvdUser::root).message.find("/root") != std::string::npos);
    CHECK(mapped("/home/user/x", EnvdUser::root).relative == "x");
    CHECK(refused(std::string("a\0b", 3)).code == ConnectCode::invalid_argument);
    CHECK(refused(std::string(5000, 'a')).code == ConnectCode::invalid_argument);
}

TEST_CASE("e2b files: filesystem requests as the SDK sends them, and bad ones", "[unit][e2b]") {
    auto listed = parse_path_request(R"({"path":"/home/user","depth":2})");
    REQUIRE(std::holds_alternative<PathRequest>(listed));
    CHECK(std::get<PathRequest>(listed).path == "/home/user");
    CHECK(std::get<PathRequest>(listed).depth == 2);
    CHECK(std::get<PathRequest>(parse_path_request(R"({"path":"a"})")).depth == 0);
    CHECK(list_depth(0) == 1);
    CHECK(list_depth(3) == 3);
    CHECK(std::holds_alternative<ConnectError>(parse_path_request(R"({"path":3})")));
    CHECK(std::holds_alternative<ConnectError>(parse_path_request(R"({"path":"a","depth":-1})")));
    CHECK(std::holds_alternative<ConnectError>(parse_path_request("[]")));
    CHECK(std::holds_alternative<ConnectError>(parse_path_request("{")));

    auto move = parse_move(R"({"source":"/home/user/a","destination":"b"})");
    REQUIRE(std::holds_alternative<MoveRequest>(move));
    CHECK(std::get<MoveRequest>(move).source == "/home/user/a");
    CHECK(std::get<MoveRequest>(move).destination == "b");
    CHECK(std::get<ConnectError>(parse_move(R"({"source":"a"})")).message == "destination is required");
    CHECK(std::get<ConnectError>(parse_move(R"({"destination":"a"})")).message == "source is required");
}

TEST_CASE("e2b files: jaild's entries as EntryInfo, listings and upload answers", "[unit][e2b]") {
    const WorkspacePath where = mapped("/home/user/d");
    jaild::v1::FileEntryList entries;
    jaild::v1::FileEntry& dir = *entries.add_files();
    dir.set_path("d/sub");
    dir.set_type("directory");
    dir.set_mode(0755);
    dir.set_mtime_unix_ms(1'796'454'000'123);
    jaild::v1::FileEntry& file = *entries.add_files();
    file.set_path("d/a.txt");
    file.set_type("file");
    file.set_size(5);
    file.set_mode(0644);
    jaild::v1::FileEntry& link = *entries.add_files();
    link.set_path("d/l");
    link.set_type("symlink");
    link.set_symlink_target("/etc");
    link.set_mode(0777);
    entries.add_files()->set_type("other");  // a fifo: left out of listings

    const json::value one = json::parse(entry_answer(entries, where));
    CHECK(one.at("entry").at("name") == "sub");
    CHECK(one.at("entry").at("path") == "/home/user/d/sub");
    CHECK(one.at("entry").at("type") == "FILE_TYPE_DIRECTORY");
    CHECK(one.at("entry").at("mode") == 2147484141u);  // Go's ModeDir | 0755
    CHECK(one.at("entry").at("permissions") == "drwxr-xr-x");
    CHECK(one.at("entry").at("owner") == "user");
    CHECK(one.at("entry").at("modifiedTime") == "2026-12-05T07:00:00.123Z");

    const json::value listed = json::parse(list_answer(entries, where));
    const json::array& list = listed.at("entries").as_array();
    REQUIRE(list.size() == 3);
    CHECK(list[1].at("type") == "FILE_TYPE_FILE");
    CHECK(list[1].at("size") == "5");
    CHECK(list[1].at("permissions") == "-rw-r--r--");
    CHECK(list[2].at("type") == "FILE_TYPE_SYMLINK");
    CHECK(list[2].at("symlinkTarget") == "/etc");
    CHECK(json::parse(list_answer({}, where)) == json::parse(R"({"entries":[]})"));

    CHECK(json::parse(upload_answer({mapped("a/b.txt"), mapped("/workspace/c")})) ==
          json::parse(R"([{"name":"b.txt","type":"file","path":"/home/user/a/b.txt"},
                          {"name":"c","type":"file","path":"/workspace/c"}])"));
}

TEST_CASE("e2b files: /files's query and REST statuses", "[unit][e2b]") {
    auto query = parse_files_query("/files?path=%2Fhome%2Fuser%2Fa+b.txt&username=root");
    REQUIRE(std::holds_alternative<FilesQuery>(query));
    CHECK(std::get<FilesQuery>(query).path == "/home/user/a b.txt");
    CHECK(std::get<FilesQuery>(query).user == EnvdUser::root);
    CHECK_FALSE(std::get<FilesQuery>(parse_files_query("/files")).path.has_value());
    CHECK(std::get<FilesQuery>(parse_files_query("/files?username=user")).user == EnvdUser::user);
    CHECK(std::get<E2bError>(parse_files_query("/files?username=admin")).status == 401);
    CHECK(std::get<E2bError>(parse_files_query("/files?path=%zz")).status == 400);
    CHECK(std::get<E2bError>(parse_files_query("/files?path=a%00b")).status == 400);

    CHECK(rest_status(ConnectCode::not_found, false) == 404);
    CHECK(rest_status(ConnectCode::invalid_argument, false) == 400);
    CHECK(rest_status(ConnectCode::permission_denied, false) == 403);
    CHECK(rest_status(ConnectCode::resource_exhausted, true) == 507);
    jaild::v1::Error quota;
    quota.set_code(jaild::v1::ERROR_CODE_QUOTA_EXCEEDED);
    CHECK(rest_status(quota) == 507);
    jaild::v1::Error exists;
    exists.set_code(jaild::v1::ERROR_CODE_ALREADY_EXISTS);
    CHECK(rest_status(exists) == 409);
}

TEST_CASE("multipart: boundaries, parts and their content, whole or a byte at a time", "[unit][e2b]") {
    CHECK(multipart_boundary("multipart/form-data; boundary=----abc") == "----abc");
    CHECK(multipart_boundary("Multipart/Form-Data;boundary=\"q b\"") == "q b");
    CHECK_FALSE(multipart_boundary("application/octet-stream").has_value());
    CHECK_FALSE(multipart_boundary("multipart/form-data").has_value());
    CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')).has_value());

    // As undici sends files.write([...]): one "file" part per entry, its path as the filename.
    const std::string body =
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\nA\r\n--X not the boundary\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"/home/user/b.txt\"\r\n\r\n\r\n"
        "--XyZ--\r\nepilogue";
    const std::vector<std::string> expected{"part:file:a.txt", "data:A\r\n--X not the boundary", "end",
                                            "part:file:/home/user/b.txt", "end"};
    for (const std::size_t step : {body.size(), std::size_t{1}, std::size_t{7}}) {
        std::optional<std::string> error;
        INFO(step);
        CHECK(events_of("XyZ", body, step, error) == expected);
        CHECK_FALSE(error.has_value());
    }
    // A preamble before the first boundary is skipped; bytes that look like a boundary's start are content.
    std::optional<std::string> error;
    CHECK(events_of("b", "preamble\r\n--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n-\r\n--b--", 3,
                    error) == std::vector<std::string>{"part:x:-", "data:\r\n-", "end"});
    CHECK_FALSE(error.has_value());

    // Cut before the closing boundary, garbage after a boundary, headers without end.
    events_of("b", "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc", 4, error);
    CHECK(error == "the multipart body ended before its closing boundary");
    error.reset();
    events_of("b", "--bXX", 1, error);
    REQUIRE(error.has_value());
    CHECK(error->find("neither CRLF") != std::string::npos);
    error.reset();
    events_of("b", "--b\r\n" + std::string(20000, 'h'), 1000, error);
    REQUIRE(error.has_value());
    CHECK(error->find("headers are longer") != std::string::npos);
    error.reset();
    events_of("b", "--b\r\nno colon here\r\n\r\n", 5, error);
    REQUIRE(error.has_value());
    CHECK(error->find("without ':'") != std::string::npos);
    // A preamble trimmed as it is read never makes "--b" look like the body's first boundary (found by
    // fuzz_multipart: fed two bytes at a time, "1--b ..." was read as a part).
    error.reset();
    const std::string trimmed = "1--b   \r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n--b--";
    for (const std::size_t step : {trimmed.size(), std::size_t{1}, std::size_t{2}})
        CHECK(events_of("b", trimmed, step, error).empty());
    // Transport padding after a boundary is allowed, but bounded: endless spaces are refused, not held.
    error.reset();
    CHECK(events_of("b", "--b \t \r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--b--", 2, error) ==
          std::vector<std::string>{"part:x:-", "data:y", "end"});
    CHECK_FALSE(error.has_value());
    events_of("b", "--b" + std::string(100000, ' '), 512, error);
    REQUIRE(error.has_value());
    CHECK(error->find("padding") != std::string::npos);
}
