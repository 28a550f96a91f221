// File operations on a session's workspace from the host side, safe against whatever sandboxed code left
// there: every path is resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS),
// so `..`, absolute paths and symlinks (planted, or swapped in while we work) can never take a read or a
// write outside; fifos, devices and sockets are refused; hard links cannot cross into the workspace because
// it is copied, not bound (see sessions.h). No string checks decide anything here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/unique_fd.h"

namespace jaild::session_files {

// openat2 beneath dirfd. errno-style error in ec: ELOOP/EXDEV for symlinks and escapes.
unique_fd open_beneath(int dirfd, const std::string& path, int flags, mode_t mode, std::error_code& ec);

struct Usage {
    std::uint64_t bytes = 0;  // sizes of regular files and symlinks
    std::uint64_t files = 0;  // entries of every kind below the top
};

struct Entry {
    std::string path;  // relative to the top
    std::uint64_t size = 0;
    std::string type;  // "file", "directory", "symlink"
    std::int64_t mtime_ms = 0;
    std::uint32_t mode = 0;      // permission bits (07777)
    std::string symlink_target;  // a symlink's, as stored
};

// Copies the tree below src into dst (both directory fds): directories, regular files, symlinks (as links,
// never followed). Fifos, devices and sockets are skipped. Everything created is owned by uid/gid.
std::error_code copy_tree(int src, int dst, uid_t uid, gid_t gid, Usage& usage);
// What the tree below dir holds.
Usage usage_of(int dir);
// Every entry below dir, depth first, sorted by path.
std::vector<Entry> list(int dir);
// The entries below the directory at path ("": dir itself) down to max_depth levels (0: all), sorted by path;
// their paths start with path. ENOTDIR when path is not a directory.
std::vector<Entry> list_below(int dir, const std::string& path, unsigned max_depth, std::error_code& ec);
// The entry at path ("": dir itself), a symlink there not followed.
std::error_code stat_entry(int dir, const std::string& path, Entry& out);
// Creates the directory at path and its missing parents (0755, owned by uid/gid). EEXIST when a directory is
// there already, ENOTDIR when something else is (at path or at a parent).
std::error_code make_dir(int dir, const std::string& path, uid_t uid, gid_t gid);
// Renames source to destination (a file there replaced), creating destination's missing parents (0755, owned
// by uid/gid). Neither may be dir itself.
std::error_code move(int dir, const std::string& source, const std::string& destination, uid_t uid, gid_t gid);

// The regular file at path, opened for reading (fifos, devices and sockets: EINVAL; a directory: EISDIR), and
// its size.
unique_fd open_regular(int dir, const std::string& path, std::uint64_t& size, std::error_code& ec);
// The regular file at path (at most max_bytes; EFBIG beyond).
std::error_code read_file(int dir, const std::string& path, std::uint64_t max_bytes, std::string& out);
// Creates or replaces the regular file at path (parents created, 0755), mode 0644, owned by uid/gid.
std::error_code write_file(int dir, const std::string& path, const std::string& content, uid_t uid, gid_t gid);

// A file being written in pieces: created unnamed (O_TMPFILE) in its parent directory, or under a temporary
// name beside it where the file system has no O_TMPFILE, and put at its name by commit() only, so a reader
// never sees half a file and an upload that stops half-way leaves nothing (not even after a crash, with
// O_TMPFILE). A symlink or fifo at the name is replaced, never followed; a directory there is EISDIR.
class Upload {
public:
    Upload() = default;
    Upload(const Upload&) = delete;
    ~Upload();  // uncommitted: the file goes
    // Creates the missing parents of path beneath dir (0755, owned by uid/gid) and the new file (0644).
    std::error_code open(int dir, const std::string& path, uid_t uid, gid_t gid);
    std::error_code write(std::string_view data);
    std::error_code commit();
    std::uint64_t written() const { return written_; }

private:
    unique_fd parent_, file_;
    std::string name_, temp_;  // temp_: the temporary name, while the file has one
    std::uint64_t written_ = 0;
};

// What a path error means, in words a client can act on ("the path goes through a symbolic link, which is
// not followed").
std::string describe(const std::error_code& ec);
// Removes the file, symlink or directory (with its content) at path.
std::error_code remove(int dir, const std::string& path);
// Removes everything below dir (not dir itself).
std::error_code clear(int dir);

}  // namespace jaild::session_files
