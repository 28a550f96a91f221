// The keys file on disk: read only when no other user can read it, replaced atomically with its mode and owner
// kept, and held exclusively while `jaild-gateway keys` changes it.
#pragma once

#include <string>

#include "common/unique_fd.h"
#include "gateway/tenant_keys.h"

namespace jaild::gateway {

// Reads and parses `path`. A missing file is an empty set of tenants when `missing_ok`. Throws KeysFileError
// when the file cannot be read, is not a regular file, is readable or writable by others (mode & 0006), or
// does not parse (the message names the line).
TenantKeys load_keys_file(const std::string& path, bool missing_ok = false);

// Replaces `path` with `keys`' text: a temporary file in the same directory, given the old file's mode and
// owner (a new file: mode 0640, the caller's owner), written, fsync'd and renamed over it. A symlink is
// followed: its target is replaced. Throws KeysFileError; the old file is untouched then.
void save_keys_file(const std::string& path, const TenantKeys& keys);

// An exclusive flock on the directory that holds `path` (the file itself is replaced, so it cannot carry the
// lock): two `keys` commands change the file one after the other. Throws KeysFileError.
class KeysFileLock {
public:
    explicit KeysFileLock(const std::string& path);

private:
    unique_fd dir_;
};

}  // namespace jaild::gateway
