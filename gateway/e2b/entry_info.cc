#include "gateway/e2b/entry_info.h"

#include <sys/stat.h>

#include <cstdio>
#include <ctime>

#include "gateway/text_encoding.h"

namespace jaild::gateway::e2b {

namespace {

// Go's FileMode type bits, in the order FileMode.String() prints their letters ("dalTLDpSugct?").
struct GoModeBit {
    std::uint32_t bit;
    char letter;
};
constexpr GoModeBit kGoModeBits[] = {
    {1u << 31, 'd'}, {1u << 30, 'a'}, {1u << 29, 'l'}, {1u << 28, 'T'}, {1u << 27, 'L'},
    {1u << 26, 'D'}, {1u << 25, 'p'}, {1u << 24, 'S'}, {1u << 23, 'u'}, {1u << 22, 'g'},
    {1u << 21, 'c'}, {1u << 20, 't'}, {1u << 19, '?'},
};
constexpr std::uint32_t kGoDir = 1u << 31, kGoSymlink = 1u << 27, kGoDevice = 1u << 26, kGoNamedPipe = 1u << 25,
                        kGoSocket = 1u << 24, kGoSetuid = 1u << 23, kGoSetgid = 1u << 22, kGoCharDevice = 1u << 21,
                        kGoSticky = 1u << 20;

}  // namespace

FileType file_type(std::uint32_t st_mode) {
    switch (st_mode & S_IFMT) {
        case S_IFREG: return FileType::file;
        case S_IFDIR: return FileType::directory;
        case S_IFLNK: return FileType::symlink;
        default: return FileType::unspecified;
    }
}

std::string_view file_type_name(FileType type) {
    switch (type) {
        case FileType::file: return "FILE_TYPE_FILE";
        case FileType::directory: return "FILE_TYPE_DIRECTORY";
        case FileType::symlink: return "FILE_TYPE_SYMLINK";
        case FileType::unspecified: return "FILE_TYPE_UNSPECIFIED";
    }
    return "FILE_TYPE_UNSPECIFIED";
}

// As Go's os.fillFileStatFromSys does.
std::uint32_t go_file_mode(std::uint32_t st_mode) {
    std::uint32_t mode = st_mode & 0777;
    switch (st_mode & S_IFMT) {
        case S_IFBLK: mode |= kGoDevice; break;
        case S_IFCHR: mode |= kGoDevice | kGoCharDevice; break;
        case S_IFDIR: mode |= kGoDir; break;
        case S_IFIFO: mode |= kGoNamedPipe; break;
        case S_IFLNK: mode |= kGoSymlink; break;
        case S_IFSOCK: mode |= kGoSocket; break;
        default: break;
    }
    if (st_mode & S_ISUID) mode |= kGoSetuid;
    if (st_mode & S_ISGID) mode |= kGoSetgid;
    if (st_mode & S_ISVTX) mode |= kGoSticky;
    return mode;
}

std::string go_mode_string(std::uint32_t go_mode) {
    std::string out;
    for (const GoModeBit& b : kGoModeBits)
        if (go_mode & b.bit) out.push_back(b.letter);
    if (out.empty()) out.push_back('-');
    constexpr std::string_view rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; ++i) out.push_back(go_mode & (1u << (8 - i)) ? rwx[i] : '-');
    return out;
}

std::string rfc3339_utc(std::int64_t unix_ns) {
    std::int64_t seconds = unix_ns / 1'000'000'000;
    std::int64_t nanos = unix_ns % 1'000'000'000;
    if (nanos < 0) {
        nanos += 1'000'000'000;
        --seconds;
    }
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[128];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    std::string out = text;
    if (nanos != 0) {
        // protojson: as few of 3, 6 or 9 digits as say it exactly
        int digits = 9;
        std::int64_t value = nanos;
        while (digits > 3 && value % 1000 == 0) {
            value /= 1000;
            digits -= 3;
        }
        std::snprintf(text, sizeof text, ".%0*lld", digits, static_cast<long long>(value));
        out += text;
    }
    return out + "Z";
}

boost::json::object entry_info_json(const EntryInfo& entry) {
    const std::uint32_t mode = go_file_mode(entry.st_mode);
    boost::json::object out;
    out["name"] = sanitize_utf8(entry.name);
    out["type"] = file_type_name(file_type(entry.st_mode));
    out["path"] = sanitize_utf8(entry.path);
    out["size"] = std::to_string(entry.size);
    out["mode"] = mode;
    out["permissions"] = go_mode_string(mode);
    out["owner"] = sanitize_utf8(entry.owner);
    out["group"] = sanitize_utf8(entry.group);
    out["modifiedTime"] = rfc3339_utc(entry.modified_unix_ns);
    if (entry.symlink_target) out["symlinkTarget"] = sanitize_utf8(*entry.symlink_target);
    return out;
}

}  // namespace jaild::gateway::e2b
