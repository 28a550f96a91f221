// File-path resolution: jaild's request path validators (check_relative_path, check_cwd_path) and the
// session file operations (jaild/session_files.h) run against a real scratch tree whose workspace holds
// symlinks to files and directories outside it, a dangling symlink whose target would be created outside,
// a symlink loop and a fifo.
//
//   <scratch>/outside/canary       a secret file      (reached by ws/out/canary, ws/abs, ws/dir/up/..)
//   <scratch>/outside/sub/         an empty directory (ws/dir/up)
//   <scratch>/box/sibling          a secret file beside the workspace (ws/sib, or ".." from the workspace)
//   <scratch>/box/ws/              the workspace: file, dir/nested, out -> ../../outside, abs -> <abs canary>,
//                                  sib -> ../sibling, dir/up -> ../../../outside/sub, dangling ->
//                                  ../../outside/created, loop -> loop, fifo
//
// Input: lines "<op><path>[\t<content>]"; op W write_file, R read_file, D remove, O/C/P/K open_beneath
// (read, create+write, O_PATH, directory), L list+usage_of, S copy_tree into a second workspace, X clear.
// A first line "!" skips jaild's check_relative_path gate, exercising session_files' own promise ("no string
// checks decide anything here"); otherwise each path goes through the gate first, as jaild's connection does.
//
// Invariants (each op, then __builtin_trap):
// - nothing outside <scratch>/box/ws changes: every outside node keeps its inode, size, mtime and ctime, and
//   no directory outside gains or loses an entry;
// - no descriptor open_beneath returns is an outside inode (st_dev/st_ino), and no content read_file returns
//   or copy_tree copies is a secret;
// - check_relative_path accepts exactly the paths a separate model accepts; check_cwd_path likewise.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "jaild/plan_from_request.h"
#include "jaild/session_files.h"

using namespace jaild;

namespace {

// The separate reading of docs/sessions.md's rule: relative, at most 2048 bytes, components 1..255 bytes,
// none "." or "..", no NUL.
bool model_relative(std::string_view path) {
    if (path.empty() || path.size() > 2048 || path.front() == '/' || path.find('\0') != std::string_view::npos)
        return false;
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = path.find('/', start);
        const std::string_view part = path.substr(start, end == std::string_view::npos ? end : end - start);
        if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
        if (end == std::string_view::npos) return true;
        start = end + 1;
    }
}

bool model_cwd(std::string_view cwd) {
    if (cwd.empty() || cwd.front() != '/' || cwd.size() > 2048 || cwd.find('\0') != std::string_view::npos)
        return false;
    return cwd == "/" || model_relative(cwd.substr(1));
}

struct Node {
    ino_t ino;
    dev_t dev;
    off_t size;
    timespec mtime, ctime;
};

bool operator==(const timespec& a, const timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

class Scratch {
public:
    Scratch() {
        // tmpfs is four times faster than a disk here; FUZZ_PATH_SCRATCH chooses another parent directory.
        const char* base = std::getenv("FUZZ_PATH_SCRATCH");
        if (!base || !*base) base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        std::string pattern = std::string(base) + "/jaild-fuzz-path-XXXXXX";
        FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr);
        root_ = pattern;
        std::random_device random;
        // The fuzzer learns the secret from the comparisons that look for it (libFuzzer traces them), and then
        // writes it into the workspace itself. A newline in the middle is what no written content can hold
        // (the content ends at the line's end), so finding the secret means it came from outside.
        secret_ = "secret-" + std::to_string(random()) + "\n" + std::to_string(random());
        FUZZ_CHECK(::mkdir((root_ + "/outside").c_str(), 0755) == 0);
        FUZZ_CHECK(::mkdir((root_ + "/outside/sub").c_str(), 0755) == 0);
        FUZZ_CHECK(::mkdir((root_ + "/box").c_str(), 0755) == 0);
        FUZZ_CHECK(::mkdir((root_ + "/box/ws").c_str(), 0755) == 0);
        FUZZ_CHECK(::mkdir((root_ + "/copy").c_str(), 0755) == 0);
        write(root_ + "/outside/canary", secret_);
        write(root_ + "/box/sibling", secret_);
        // Everything outside the workspaces whose change would be an escape. The parent of ws (box) and the
        // root must keep their entries; the workspaces themselves are compared by inode only.
        for (const char* name : {"", "/outside", "/outside/canary", "/outside/sub", "/box", "/box/sibling"})
            outside_[root_ + name] = stat_of(root_ + name);
        ws_ = ::open((root_ + "/box/ws").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        copy_ = ::open((root_ + "/copy").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_CHECK(ws_ >= 0 && copy_ >= 0);
        ws_ino_ = stat_of(root_ + "/box/ws").ino;
    }
    ~Scratch() {
        std::error_code ec;
        std::filesystem::remove_all(root_, ec);  // does not follow symlinks
    }

    // The workspace as each input starts with it.
    void reset() {
        remove_below(ws_);
        remove_below(copy_);
        FUZZ_CHECK(::mkdirat(ws_, "dir", 0755) == 0);
        write_at(ws_, "file", "inside");
        write_at(ws_, "dir/nested", "nested");
        FUZZ_CHECK(::symlinkat("../../outside", ws_, "out") == 0);
        FUZZ_CHECK(::symlinkat((root_ + "/outside/canary").c_str(), ws_, "abs") == 0);
        FUZZ_CHECK(::symlinkat("../sibling", ws_, "sib") == 0);
        FUZZ_CHECK(::symlinkat("../../../outside/sub", ws_, "dir/up") == 0);
        FUZZ_CHECK(::symlinkat("../../outside/created", ws_, "dangling") == 0);
        FUZZ_CHECK(::symlinkat("loop", ws_, "loop") == 0);
        FUZZ_CHECK(::mkfifoat(ws_, "fifo", 0644) == 0);
    }

    // The escape check, after every operation.
    void check_outside() const {
        for (const auto& [path, before] : outside_) {
            const Node now = stat_of(path);
            const bool same = now.ino == before.ino && now.dev == before.dev && now.size == before.size &&
                              now.mtime == before.mtime && now.ctime == before.ctime;
            if (!same) std::fprintf(stderr, "escape: %s changed\n", path.c_str());
            FUZZ_CHECK(same);
        }
        FUZZ_CHECK(stat_of(root_ + "/box/ws").ino == ws_ino_);
        FUZZ_CHECK(::faccessat(AT_FDCWD, (root_ + "/outside/created").c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0);
    }

    // A descriptor the operations handed out: never one of the outside inodes.
    void check_fd(int fd) const {
        struct stat st {};
        FUZZ_CHECK(::fstat(fd, &st) == 0);
        for (const auto& [path, node] : outside_) {
            const bool outside = st.st_ino == node.ino && st.st_dev == node.dev;
            if (outside) std::fprintf(stderr, "escape: opened %s\n", path.c_str());
            FUZZ_CHECK(!outside);
        }
    }

    void check_content(const std::string& content) const { FUZZ_CHECK(content.find(secret_) == std::string::npos); }

    int ws() const { return ws_; }
    int copy() const { return copy_; }

private:
    static Node stat_of(const std::string& path) {
        struct stat st {};
        FUZZ_CHECK(::lstat(path.c_str(), &st) == 0);
        return {st.st_ino, st.st_dev, st.st_size, st.st_mtim, st.st_ctim};
    }
    static void write(const std::string& path, const std::string& content) {
        write_at(AT_FDCWD, path.c_str(), content);
    }
    static void write_at(int dir, const char* name, const std::string& content) {
        const int fd = ::openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
        ::close(fd);
    }
    // rm -rf of a directory's content, never following a symlink (the test's own, not the code under test).
    static void remove_below(int dir) {
        const int copy = ::fcntl(dir, F_DUPFD_CLOEXEC, 3);
        DIR* stream = ::fdopendir(copy);
        FUZZ_CHECK(stream != nullptr);
        ::rewinddir(stream);
        std::vector<std::string> names;
        while (dirent* entry = ::readdir(stream))
            if (std::string_view(entry->d_name) != "." && std::string_view(entry->d_name) != "..")
                names.push_back(entry->d_name);
        ::closedir(stream);
        for (const std::string& name : names) {
            if (::unlinkat(dir, name.c_str(), 0) == 0) continue;
            const int child = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            FUZZ_CHECK(child >= 0);
            remove_below(child);
            ::close(child);
            FUZZ_CHECK(::unlinkat(dir, name.c_str(), AT_REMOVEDIR) == 0);
        }
    }

    std::string root_, secret_;
    std::map<std::string, Node> outside_;
    int ws_ = -1, copy_ = -1;
    ino_t ws_ino_ = 0;
};

Scratch& scratch() {
    static Scratch* s = [] {
        static Scratch instance;  // destroyed at exit: the scratch tree is removed
        return &instance;
    }();
    return *s;
}

void run_op(Scratch& s, char op, const std::string& path, const std::string& content) {
    const uid_t uid = ::getuid();
    const gid_t gid = ::getgid();
    std::error_code ec;
    switch (op) {
        case 'W': session_files::write_file(s.ws(), path, content, uid, gid); break;
        case 'R': {
            std::string out;
            if (!session_files::read_file(s.ws(), path, 1 << 20, out)) s.check_content(out);
            break;
        }
        case 'D': session_files::remove(s.ws(), path); break;
        case 'O':
        case 'C':
        case 'P':
        case 'K': {
            const int flags = op == 'O'   ? O_RDONLY | O_NONBLOCK
                              : op == 'C' ? O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK
                              : op == 'P' ? O_PATH | O_NOFOLLOW
                                          : O_RDONLY | O_DIRECTORY;
            if (unique_fd fd = session_files::open_beneath(s.ws(), path, flags, 0644, ec)) s.check_fd(fd.get());
            break;
        }
        case 'L': {
            const auto entries = session_files::list(s.ws());
            const session_files::Usage usage = session_files::usage_of(s.ws());
            FUZZ_CHECK(usage.files == entries.size());
            for (const auto& entry : entries) FUZZ_CHECK(model_relative(entry.path));
            break;
        }
        case 'S': {
            session_files::Usage usage;
            session_files::copy_tree(s.ws(), s.copy(), uid, gid, usage);
            // Symlinks are copied as links: a copied regular file never holds what a link pointed at.
            for (const auto& entry : session_files::list(s.copy())) {
                std::string out;
                if (entry.type == "file" && !session_files::read_file(s.copy(), entry.path, 1 << 20, out))
                    s.check_content(out);
            }
            break;
        }
        case 'X': session_files::clear(s.ws()); break;
        default: break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    Scratch& s = scratch();
    s.reset();
    bool gated = true;
    std::size_t start = 0;
    for (int ops = 0; start < input.size() && ops < 32; ++ops) {
        std::size_t end = input.find('\n', start);
        if (end == std::string_view::npos) end = input.size();
        const std::string_view line = input.substr(start, end - start);
        start = end + 1;
        if (line == "!") {
            gated = false;
            continue;
        }
        if (line.empty()) continue;
        const char op = line.front();
        std::string_view rest = line.substr(1);
        const std::size_t tab = rest.find('\t');
        const std::string path(rest.substr(0, tab));
        const std::string content(tab == std::string_view::npos ? std::string_view() : rest.substr(tab + 1));

        const bool accepted = check_relative_path(path).empty();
        FUZZ_CHECK(accepted == model_relative(path));
        FUZZ_CHECK(check_cwd_path(path).empty() == model_cwd(path));
        if (gated && !accepted) continue;
        run_op(s, op, path, content);
        s.check_outside();
    }
    return 0;
}
