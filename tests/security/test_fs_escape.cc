// Filesystem escapes: symlinks, hard links, `..`, /proc/*/root and cwd, inherited fds, mount tricks, chroot,
// writes to the read-only binds, device nodes, host files (/etc/shadow, the canary) and jaild's socket.
// Every program prints a marker for each outcome; the test asserts the blocked marker and the run's status.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "tests/support/fortress.h"

namespace jaild::test {

namespace {

// A C string literal of `text` (paths only: no quotes or backslashes in them).
std::string lit(const std::string& text) { return "\"" + text + "\""; }

}  // namespace

TEST_CASE("fs: a symlink to the host's canary file reads nothing", "[security][fs]") {
    Fortress fortress;
    const std::string canary = fortress.canary_file();
    const Attack attack =
        fortress.sh("ln -s " + canary +
                    " /tmp/link && echo LINKED; "
                    "if cat /tmp/link 2>/dev/null; then echo ESCAPED; else echo BLOCKED-link; fi; "
                    "if cat " +
                    canary +
                    " 2>/dev/null; then echo ESCAPED; else echo BLOCKED-direct; fi; "
                    "ln -s " +
                    fortress.canary_dir() +
                    " /workspace/dir; "
                    "if ls /workspace/dir/ 2>/dev/null; then echo ESCAPED; else echo BLOCKED-dir; fi");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "LINKED"));  // creating the link is allowed; following it leads nowhere
    CHECK(has(attack.out, "BLOCKED-link"));
    CHECK(has(attack.out, "BLOCKED-direct"));
    CHECK(has(attack.out, "BLOCKED-dir"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("fs: the canary is reachable by no path: .., /proc/self/root, /proc/1/root, /proc/<pid>/cwd",
          "[security][fs]") {
    Fortress fortress;
    const std::string canary = fortress.canary_file();
    const std::string code =
        "import os, glob\n"
        "canary = " +
        lit(canary) +
        "\n"
        "paths = [canary, '/../../..' + canary, '/workspace/../../..' + canary,\n"
        "         '/proc/self/root' + canary, '/proc/1/root' + canary,\n"
        "         '/proc/self/root/../../..' + canary, '/proc/1/cwd/../../..' + canary]\n"
        "paths += [p + '/../../..' + canary for p in glob.glob('/proc/[0-9]*/cwd')]\n"
        "paths += [p + canary for p in glob.glob('/proc/[0-9]*/root')]\n"
        "for p in paths:\n"
        "    try:\n"
        "        open(p).read(); print('ESCAPED', p)\n"
        "    except OSError as e:\n"
        "        print('PATH-BLOCKED', e.errno)\n"
        "print('TRIED', len(paths))\n"
        "print('ROOTS-SAME', sorted(os.listdir('/proc/self/root')) == sorted(os.listdir('/')))\n"
        "try:\n"
        "    print('PID1-ROOT', sorted(os.listdir('/proc/1/root')) == sorted(os.listdir('/')))\n"
        "except OSError as e:\n"
        "    print('PID1-ROOT BLOCKED', e.errno)\n"
        "print('HOST-DIRS', [d for d in ('home', 'root', 'var', 'run', 'sys') "
        "if os.path.exists('/' + d)])\n";
    const Attack attack = fortress.python(code);
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "TRIED"));
    // ENOENT (the host's directories do not exist here) or EACCES (the reaper, PID 1, is not ours to look into)
    CHECK(count(attack.out, "PATH-BLOCKED 2\n") + count(attack.out, "PATH-BLOCKED 13\n") == 11);
    CHECK(has(attack.out, "TRIED 11"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK(has(attack.out, "ROOTS-SAME True"));
    CHECK(has(attack.out, "HOST-DIRS []"));
    CHECK((has(attack.out, "PID1-ROOT True") || has(attack.out, "PID1-ROOT BLOCKED 13")));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("fs: hard links to files outside the workspace fail", "[security][fs]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
static void try_link(const char* from, const char* to) {
    if (link(from, to) == 0) printf("LINKED %s\n", from);
    else printf("BLOCKED %s errno=%d\n", from, errno);
}
int main(void) {
    try_link("/etc/passwd", "/workspace/passwd");
    try_link("/usr/bin/su", "/tmp/su");
    try_link("/usr/bin/sh", "/tmp/sh");
    try_link("/etc/ld.so.cache", "/dev/shm/cache");
    try_link("/proc/self/exe", "/tmp/exe");
    int fd = open("/etc/passwd", O_RDONLY);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, path, AT_FDCWD, "/tmp/viafd", AT_SYMLINK_FOLLOW) == 0) puts("LINKED viafd");
    else printf("BLOCKED viafd errno=%d\n", errno);
    puts("DONE");
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "DONE"));
    CHECK(count(attack.out, "BLOCKED") == 6);  // EXDEV: every target is on another mount
    CHECK(count(attack.out, "errno=18") == 6);
    CHECK_FALSE(has(attack.out, "LINKED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("fs: .. above the root stays in the sandbox's root", "[security][fs]") {
    Fortress fortress;
    const Jailctl ctl =
        fortress.jailctl({"run", "--", "/bin/sh", "-c",
                          "cd /workspace/../../../../../..; echo PWD=$(pwd); ls -a; "
                          "if [ -e home ] || [ -e root ] || [ -e var ] || [ -e " +
                              fortress.canary_dir().substr(1) + " ]; then echo ESCAPED; else echo CONFINED; fi"});
    INFO(ctl.out << ctl.err);
    CHECK(ctl.exit_code == 0);
    CHECK(has(ctl.out, "PWD=/\n"));
    CHECK(has(ctl.out, "workspace"));
    CHECK(has(ctl.out, "CONFINED"));
    CHECK_FALSE(has(ctl.out, "ESCAPED"));
    check_host_unharmed(fortress, ctl.out + ctl.err);
}

TEST_CASE("fs: no inherited file descriptor beyond 0-2 leads out of the sandbox", "[security][fs]") {
    Fortress fortress;
    const std::string canary = fortress.canary_file();
    const Attack attack = fortress.c("#define CANARY " + lit(canary) + "\n" + c_program(R"(
#include <dirent.h>
int main(void) {
    int extra = 0, escaped = 0;
    for (int fd = 3; fd < 1024; ++fd) {
        if (fcntl(fd, F_GETFD) < 0) continue;
        char path[64], target[512] = "";
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (readlink(path, target, sizeof target - 1) < 0) strcpy(target, "?");
        ++extra;
        printf("FD %d -> %s\n", fd, target);
        int c = openat(fd, "../../../../../../.." CANARY, O_RDONLY);
        if (c >= 0) { puts("ESCAPED openat"); ++escaped; close(c); }
        if (fchdir(fd) == 0) {
            int d = open("../../../../../../.." CANARY, O_RDONLY);
            if (d >= 0) { puts("ESCAPED fchdir"); ++escaped; close(d); }
        }
    }
    /* what /proc/self/fd lists must agree */
    DIR* dir = opendir("/proc/self/fd");
    int listed = 0;
    for (struct dirent* e; dir && (e = readdir(dir));) if (e->d_name[0] != '.') ++listed;
    printf("EXTRA %d LISTED %d\n", extra, listed);
    if (!escaped) puts("BLOCKED");
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED"));
    CHECK(has(attack.out, "EXTRA 0 LISTED 4"));  // 0, 1, 2 and the directory being read
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("fs: main() mode's result fd leads nowhere either", "[security][fs]") {
    Fortress fortress;
    const std::string canary = fortress.canary_file();
    const std::string script =
        "import os\n"
        "def main():\n"
        "    seen = []\n"
        "    for fd in range(3, 256):\n"
        "        try:\n"
        "            target = os.readlink('/proc/self/fd/%d' % fd)\n"
        "        except OSError:\n"
        "            continue\n"
        "        seen.append(target)\n"
        "        try:\n"
        "            os.open('../../../../../..' + " +
        lit(canary) +
        ", os.O_RDONLY, dir_fd=fd)\n"
        "            return 'ESCAPED'\n"
        "        except OSError as e:\n"
        "            seen.append('errno %d' % e.errno)\n"
        "    return {'outcome': 'BLOCKED', 'fds': seen}\n";
    boost::json::object body;
    body["script"] = script;
    const Attack attack = parse_attack(post_json(fortress.port(), "/execute", boost::json::serialize(body)));
    INFO(attack.response.body);
    CHECK(attack.status == "ok");
    CHECK(has(attack.response.body, "\"outcome\": \"BLOCKED\""));
    CHECK_FALSE(has(attack.response.body, "ESCAPED"));
    CHECK_FALSE(has(attack.response.body, fortress.canary_dir()));
    check_host_unharmed(fortress, attack.response.body);
}

TEST_CASE("fs: mount, bind mounts, remounting binds read-write and unmounting /proc masks are refused",
          "[security][fs]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
static void report(const char* what, int rc) {
    if (rc == 0) printf("ESCAPED %s\n", what);
    else printf("BLOCKED %s errno=%d\n", what, errno);
}
int main(void) {
    mkdir("/tmp/m", 0755);
    report("tmpfs", mount("none", "/tmp/m", "tmpfs", 0, NULL));
    report("proc", mount("proc", "/tmp/m", "proc", 0, NULL));
    report("bind", mount("/usr", "/tmp/m", NULL, MS_BIND | MS_REC, NULL));
    report("remount-usr-rw", mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL));
    report("remount-root-rw", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
    report("umount-kcore", umount2("/proc/kcore", MNT_DETACH));
    report("umount-sysrq", umount2("/proc/sysrq-trigger", 0));
    report("umount-proc", umount2("/proc", MNT_DETACH));
    report("fsopen", (int)syscall(SYS_fsopen, "tmpfs", 0) < 0 ? -1 : 0);
    report("open_tree", (int)syscall(SYS_open_tree, AT_FDCWD, "/usr", 1 /* OPEN_TREE_CLONE */) < 0 ? -1 : 0);
    puts("DONE");
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "DONE"));
    CHECK(count(attack.out, "BLOCKED") == 10);
    CHECK(count(attack.out, "errno=1\n") == 10);  // seccomp: EPERM for the whole mount family
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("fs: pivot_root, chroot and the classic double-chroot escape are refused", "[security][fs]") {
    Fortress fortress;
    const std::string canary = fortress.canary_file();
    const Attack attack = fortress.c("#define CANARY " + lit(canary) + "\n" + c_program(R"(
int main(void) {
    mkdir("/tmp/new", 0755);
    mkdir("/tmp/new/old", 0755);
    if (syscall(SYS_pivot_root, "/tmp/new", "/tmp/new/old") == 0) puts("ESCAPED pivot_root");
    else printf("BLOCKED pivot_root errno=%d\n", errno);
    int outside = open("/", O_RDONLY | O_DIRECTORY);
    mkdir("/tmp/jail", 0755);
    if (chroot("/tmp/jail") == 0) {
        puts("CHROOTED");
        fchdir(outside);
        for (int i = 0; i < 64; ++i) chdir("..");
        chroot(".");
    } else {
        printf("BLOCKED chroot errno=%d\n", errno);
    }
    int fd = open(CANARY, O_RDONLY);
    if (fd >= 0) puts("ESCAPED canary");
    else printf("BLOCKED canary errno=%d\n", errno);
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED pivot_root errno=1\n"));
    CHECK(has(attack.out, "BLOCKED chroot errno=1\n"));
    CHECK(has(attack.out, "BLOCKED canary errno=2\n"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK_FALSE(has(attack.out, "CHROOTED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("fs: /usr, /etc, /, /dev and /opt/jaild are read-only", "[security][fs]") {
    Fortress fortress;
    const Attack attack = fortress.sh(
        "for p in /usr/x /usr/bin/x /etc/x /x /dev/x /opt/jaild/x /bin/x /lib/x; do "
        "  if (echo pwned > $p) 2>/dev/null; then echo WROTE $p; else echo BLOCKED $p; fi; done; "
        "for p in /etc/passwd /etc/hosts /usr/bin/sh /etc/ld.so.cache; do "
        "  if (echo pwned >> $p) 2>/dev/null; then echo WROTE $p; else echo BLOCKED $p; fi; done; "
        "if mkdir /etc/cron.d 2>/dev/null; then echo WROTE mkdir; else echo BLOCKED mkdir; fi; "
        "if (echo ok > /tmp/x && echo ok > /workspace/x && echo ok > /dev/shm/x); then echo WRITABLE-OK; fi; "
        "for p in /x /dev/x /usr/x /etc/x; do touch $p 2>&1 | grep -q 'Read-only file system' && echo EROFS $p; done");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "BLOCKED") == 13);
    CHECK(has(attack.out, "WRITABLE-OK"));  // the three writable places are writable: the program did run
    // read-only mounts, not merely permissions (docs/security.md: the root and /dev are remounted read-only)
    for (const char* path : {"/x", "/dev/x", "/usr/x", "/etc/x"})
        CHECK(has(attack.out, std::string("EROFS ") + path + "\n"));
    CHECK_FALSE(has(attack.out, "WROTE"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("fs: device nodes cannot be created anywhere", "[security][fs]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
#include <sys/sysmacros.h>
static void try_node(const char* path, mode_t mode, dev_t dev) {
    if (mknod(path, mode, dev) == 0) printf("CREATED %s\n", path);
    else printf("BLOCKED %s errno=%d\n", path, errno);
}
int main(void) {
    try_node("/tmp/mem", S_IFCHR | 0666, makedev(1, 1));
    try_node("/workspace/kmsg", S_IFCHR | 0666, makedev(1, 11));
    try_node("/dev/shm/sda", S_IFBLK | 0666, makedev(8, 0));
    try_node("/dev/port", S_IFCHR | 0666, makedev(1, 4));
    int fd = open("/tmp/mem", O_RDONLY);
    if (fd >= 0) puts("ESCAPED open");
    if (mkfifo("/tmp/fifo", 0600) == 0) puts("FIFO-OK");
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "BLOCKED") == 4);
    CHECK(count(attack.out, "errno=1\n") == 3);  // EPERM: no CAP_MKNOD
    CHECK(has(attack.out, "BLOCKED /dev/port errno="));
    CHECK(has(attack.out, "FIFO-OK"));  // ordinary files still work: the program ran to the end
    CHECK_FALSE(has(attack.out, "CREATED"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("fs: /etc/shadow and the host's accounts are not in the sandbox", "[security][fs]") {
    Fortress fortress;
    const Jailctl ctl = fortress.jailctl(
        {"run", "--", "/bin/sh", "-c",
         "for f in /etc/shadow /etc/gshadow /etc/sudoers /etc/ssh/ssh_host_rsa_key /root/.bash_history "
         "/etc/machine-id; do if cat $f >/dev/null 2>&1; then echo READ $f; else echo BLOCKED $f; fi; done; "
         "echo USERS $(cut -d: -f1 /etc/passwd | tr '\\n' ' '); echo ETC $(ls /etc | tr '\\n' ' ')"});
    INFO(ctl.out << ctl.err);
    CHECK(ctl.exit_code == 0);
    CHECK(count(ctl.out, "BLOCKED") == 6);
    CHECK_FALSE(has(ctl.out, "READ"));
    CHECK(has(ctl.out, "USERS "));
    CHECK_FALSE(has(ctl.out, " daemon "));  // the host's system accounts are not listed
    CHECK(has(ctl.out, "ETC "));
    CHECK_FALSE(has(ctl.out, " shadow "));
    CHECK_FALSE(has(ctl.out, " sudoers "));
    check_host_unharmed(fortress, ctl.out + ctl.err);
}

TEST_CASE("fs: a search of the whole sandbox finds neither the canary nor jaild's files", "[security][fs]") {
    Fortress fortress;
    const std::string dir_name = fortress.canary_dir().substr(fortress.canary_dir().rfind('/') + 1);
    const std::string socket_name = "jaild.sock";
    const Jailctl ctl = fortress.jailctl(
        {"run", "--wall", "8000", "--", "/bin/sh", "-c",
         "find / -path /proc -prune -o -path /usr -prune -o \\( -name " + dir_name + " -o -name " + socket_name +
             " -o -name secret -o -name writable -o -name 'jaild.toml' \\) -print 2>/dev/null | sed 's/^/FOUND /'; "
             "echo SEARCHED $(find / -path /proc -prune -o -path /usr -prune -o -print 2>/dev/null | wc -l)"});
    INFO(ctl.out << ctl.err);
    CHECK(ctl.exit_code == 0);
    CHECK(has(ctl.out, "SEARCHED "));
    CHECK_FALSE(has(ctl.out, "FOUND"));
    check_host_unharmed(fortress, ctl.out + ctl.err);
}

TEST_CASE("fs: jaild's socket path does not exist in the sandbox", "[security][fs]") {
    Fortress fortress;
    const Attack attack = fortress.c("#define SOCK " + lit(fortress.socket()) + "\n" + c_program(R"(
#include <sys/un.h>
int main(void) {
    struct stat st;
    if (stat(SOCK, &st) == 0) puts("ESCAPED stat");
    else printf("BLOCKED stat errno=%d\n", errno);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, SOCK, sizeof addr.sun_path - 1);
    if (connect(s, (struct sockaddr*)&addr, sizeof addr) == 0) puts("ESCAPED connect");
    else printf("BLOCKED connect errno=%d\n", errno);
    strncpy(addr.sun_path, "/run/jaild/jaild.sock", sizeof addr.sun_path - 1);
    int t = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(t, (struct sockaddr*)&addr, sizeof addr) == 0) puts("ESCAPED default");
    else printf("BLOCKED default errno=%d\n", errno);
    return 0;
}
)"));
    check_blocked(fortress, attack,
                  {"BLOCKED stat errno=2\n", "BLOCKED connect errno=2\n", "BLOCKED default errno=2\n"});
}

TEST_CASE("fs: open_by_handle_at (the shocker escape) is refused", "[security][fs]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
int main(void) {
    struct { struct file_handle h; unsigned char bytes[128]; } handle;
    handle.h.handle_bytes = 128;
    int mount_id = 0;
    if (name_to_handle_at(AT_FDCWD, "/etc/passwd", &handle.h, &mount_id, 0) == 0) puts("GOT-HANDLE");
    else printf("BLOCKED name_to_handle_at errno=%d\n", errno);
    /* a forged handle of the host root directory's inode (ext4 root is inode 2) */
    struct { struct file_handle h; unsigned int ino[2]; } forged = {{8, 1}, {2, 0}};
    int fd = open_by_handle_at(open("/", O_RDONLY), &forged.h, O_RDONLY);
    if (fd >= 0) puts("ESCAPED open_by_handle_at");
    else printf("BLOCKED open_by_handle_at errno=%d\n", errno);
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED name_to_handle_at errno=1\n"));
    CHECK(has(attack.out, "BLOCKED open_by_handle_at errno=1\n"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK_FALSE(has(attack.out, "GOT-HANDLE"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

}  // namespace jaild::test

namespace jaild::test {

TEST_CASE("fs: /proc/self/mountinfo names neither the canary, jaild's scratch directory nor its socket",
          "[security][fs]") {
    Fortress fortress;
    const std::string scratch = fortress.socket().substr(0, fortress.socket().rfind('/'));
    const Attack attack = fortress.sh("cat /proc/self/mountinfo; echo MOUNTS $(wc -l < /proc/self/mountinfo)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(attack.out.find("MOUNTS ") != std::string::npos);
    CHECK(attack.out.find(fortress.canary_dir()) == std::string::npos);
    CHECK(attack.out.find(scratch) == std::string::npos);
    CHECK(attack.out.find(fortress.socket()) == std::string::npos);
    check_host_unharmed(fortress, attack.out + attack.err);
}

}  // namespace jaild::test
