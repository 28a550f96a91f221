// envd's EntryInfo (E2B spec/envd/filesystem/filesystem.proto) as JSON, from what lstat says of a file: the
// type as FILE_TYPE_*, the size as an int64 string, the mode as Go's FileMode bits (a directory is 1<<31 |
// 0755) with Go's rendering ("drwxr-xr-x"), the modification time as protojson's RFC 3339 Timestamp. Pure;
// unit-tested in tests/unit/test_e2b_connect.cc.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jaild::gateway::e2b {

enum class FileType { unspecified, file, directory, symlink };

struct EntryInfo {
    std::string name;
    std::string path;
    std::uint32_t st_mode = 0;  // as stat(2) gives it: the type bits and the permissions
    std::int64_t size = 0;
    std::string owner;
    std::string group;
    std::int64_t modified_unix_ns = 0;
    std::optional<std::string> symlink_target;
};

// FILE_TYPE_FILE, _DIRECTORY, _SYMLINK; anything else (fifo, socket, device) is unspecified, which the SDK
// leaves out of listings.
FileType file_type(std::uint32_t st_mode);
std::string_view file_type_name(FileType type);
// Go's os.FileMode of a stat(2) mode: permission bits plus ModeDir, ModeSymlink, ModeSetuid, ...
std::uint32_t go_file_mode(std::uint32_t st_mode);
// Go's FileMode.String(): "drwxr-xr-x", "-rw-r--r--", "Lrwxrwxrwx", "urwxr-xr-x".
std::string go_mode_string(std::uint32_t go_mode);
// protojson's Timestamp: "2026-12-05T07:00:00Z", with 3, 6 or 9 fraction digits when not whole seconds.
std::string rfc3339_utc(std::int64_t unix_ns);

// {"name","type","path","size","mode","permissions","owner","group","modifiedTime"[,"symlinkTarget"]}, every
// text made valid UTF-8.
boost::json::object entry_info_json(const EntryInfo& entry);

}  // namespace jaild::gateway::e2b
