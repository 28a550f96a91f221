// The key escape attempts as Python programs: with the zygote on (JAILD_TEST_ZYGOTE=1, the "zygote:" copy of
// this suite) they run in a warm interpreter forked by jaild-zygote, otherwise in a cold one. Either way the
// sandbox is the same: its own fd table and processes, a pool uid without capabilities, no_new_privs, seccomp,
// and nothing of the host or of the zygote in reach. Each test asserts that its runs really were warm (or cold).
#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <string>

#include "tests/support/fortress.h"

namespace jaild::test {

namespace {

// Python helpers every attack shares: report(name, rc) for a libc call through ctypes, attempt(name, f) for
// an os call; each prints "BLOCKED name errno=N" or "ESCAPED name".
const char* const kReport = R"(import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def report(name, rc):
    if rc >= 0:
        print('ESCAPED', name, 'rc=%d' % rc)
    else:
        print('BLOCKED', name, 'errno=%d' % ctypes.get_errno())
def attempt(name, f):
    try:
        f()
        print('ESCAPED', name)
    except OSError as e:
        print('BLOCKED', name, 'errno=%d' % e.errno)
)";

// Runs `code` (after kReport) with /execute python and checks that it started in the zygote when the suite
// runs with it on, and cold when off (jaild's zygote_runs counter).
Attack python_attack(Fortress& fortress, const std::string& code) {
    const std::uint64_t before = stats(fortress.socket()).zygote_runs();
    const Attack attack = fortress.python(kReport + code);
    const std::uint64_t after = stats(fortress.socket()).zygote_runs();
    INFO("zygote runs " << before << " -> " << after << (zygote_on() ? " (zygote on)" : " (zygote off)"));
    if (zygote_on())
        CHECK(after == before + 1);
    else
        CHECK(after == before);
    return attack;
}

// The value of "KEY value..." lines the program printed.
std::string field(const std::string& out, const std::string& key) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(key + " ", 0) == 0) return line.substr(key.size() + 1);
    return "<missing " + key + ">";
}

}  // namespace

TEST_CASE("warm python: the fd table is 0-2, /proc shows only the sandbox's processes, no zygote",
          "[security][warm_python]") {
    Fortress fortress;
    const Attack attack = python_attack(fortress, R"(import fcntl, signal, time
open_fds = []
for fd in range(4096):
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
        open_fds.append(fd)
    except OSError:
        pass
print('FDS', open_fds)
child = os.fork()
if child == 0:
    time.sleep(20)
    os._exit(0)
for pid in sorted(int(d) for d in os.listdir('/proc') if d.isdigit()):
    try:
        comm = open('/proc/%d/comm' % pid).read().strip()
        cmdline = open('/proc/%d/cmdline' % pid, 'rb').read().replace(b'\0', b' ').decode('ascii', 'replace')
    except OSError as e:
        comm, cmdline = 'unreadable', str(e.errno)
    print('PROC', pid, comm, '[%s]' % cmdline.strip())
print('PIDS', sorted(int(d) for d in os.listdir('/proc') if d.isdigit()))
print('ME', os.getpid(), 'CHILD', child)
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
print('DONE')
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(field(attack.out, "FDS") == "[0, 1, 2]");
    CHECK(field(attack.out, "PIDS") == "[1, 2, 3]");
    CHECK(field(attack.out, "ME") == "2 CHILD 3");
    CHECK(has(attack.out, "PROC 1 jaild-reaper "));
    // The run's own process is a Python interpreter by every name /proc gives it, never the zygote.
    CHECK_FALSE(has(attack.out, "zygote"));
    CHECK_FALSE(has(attack.out, "--cgroup-fds"));
    CHECK(has(attack.out, "DONE"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("warm python: a pool uid without capabilities, no_new_privs and seccomp", "[security][warm_python]") {
    Fortress fortress;
    const Attack attack = python_attack(fortress, R"(
status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
for key in ('Uid', 'Gid', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'):
    print(key.upper(), ' '.join(status[key].split()))
print('IDS', os.getuid(), os.geteuid(), os.getgid(), os.getgroups())
attempt('setuid-0', lambda: os.setuid(0))
attempt('setgid-0', lambda: os.setgid(0))
attempt('setgroups', lambda: os.setgroups([0]))
report('prctl-cap-raise', libc.prctl(47, 2, 21, 0, 0))  # PR_CAP_AMBIENT, RAISE, CAP_SYS_ADMIN
report('clear-nnp', libc.prctl(38, 0, 0, 0, 0))  # PR_SET_NO_NEW_PRIVS 0 is EINVAL once set
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    std::istringstream uids(field(attack.out, "UID"));
    std::set<long> distinct;
    for (long uid = 0; uids >> uid;) distinct.insert(uid);
    REQUIRE(distinct.size() == 1);
    const long uid = *distinct.begin();
    CHECK(uid >= kUidBase);
    CHECK(uid < static_cast<long>(kUidBase + kUidCount));
    for (const char* cap : {"CAPINH", "CAPPRM", "CAPEFF", "CAPBND", "CAPAMB"}) {
        INFO(cap);
        CHECK(field(attack.out, cap) == "0000000000000000");
    }
    CHECK(field(attack.out, "NONEWPRIVS") == "1");
    CHECK(field(attack.out, "SECCOMP") == "2");
    CHECK_FALSE(has(attack.out, "IDS 0 "));
    check_blocked(
        fortress, attack,
        {"BLOCKED setuid-0", "BLOCKED setgid-0", "BLOCKED setgroups", "BLOCKED prctl-cap-raise", "BLOCKED clear-nnp"});
}

TEST_CASE("warm python: /proc/1/mem, ptrace, process_vm_readv, setns, unshare and mount are refused",
          "[security][warm_python]") {
    Fortress fortress;
    const Attack attack = python_attack(fortress, R"(
attempt('proc1-mem', lambda: open('/proc/1/mem', 'rb').read(16))
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
report('ptrace-attach-1', libc.ptrace(16, 1, None, None))
report('ptrace-seize-1', libc.ptrace(0x4206, 1, None, None))
class Iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
buf = ctypes.create_string_buffer(64)
local = Iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
remote = Iovec(ctypes.cast(buf, ctypes.c_void_p), 64)
libc.process_vm_readv.restype = ctypes.c_ssize_t
report('process_vm_readv-1', libc.process_vm_readv(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0))
for ns in ('mnt', 'pid', 'net', 'ipc', 'uts', 'cgroup', 'user', 'time'):
    try:
        fd = os.open('/proc/1/ns/' + ns, os.O_RDONLY)
    except OSError as e:
        print('BLOCKED setns-%s errno=%d' % (ns, e.errno))
        continue
    report('setns-' + ns, libc.setns(fd, 0))
    os.close(fd)
for name, flag in (('mnt', 0x20000), ('user', 0x10000000), ('net', 0x40000000), ('pid', 0x20000000),
                   ('uts', 0x4000000), ('ipc', 0x8000000), ('cgroup', 0x2000000)):
    report('unshare-' + name, libc.unshare(flag))
report('mount-tmpfs', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))
report('mount-proc', libc.mount(b'proc', b'/workspace', b'proc', 0, None))
report('remount-root-rw', libc.mount(None, b'/', None, 32 | 0x20, None))  # MS_REMOUNT
report('umount-proc', libc.umount2(b'/proc', 2))
report('chroot', libc.chroot(b'/tmp'))
)");
    check_blocked(
        fortress, attack,
        {"BLOCKED proc1-mem", "BLOCKED ptrace-attach-1", "BLOCKED ptrace-seize-1", "BLOCKED process_vm_readv-1",
         "BLOCKED setns-mnt", "BLOCKED setns-pid", "BLOCKED setns-net", "BLOCKED setns-user", "BLOCKED unshare-mnt",
         "BLOCKED unshare-user", "BLOCKED unshare-net", "BLOCKED unshare-pid", "BLOCKED mount-tmpfs",
         "BLOCKED mount-proc", "BLOCKED remount-root-rw", "BLOCKED umount-proc", "BLOCKED chroot"});
}

TEST_CASE("warm python: no write outside /workspace and /tmp, no host canary, no signal outside",
          "[security][warm_python]") {
    Fortress fortress;
    const Attack attack = python_attack(fortress, "canary = '" + fortress.canary_file() + "'\n" + R"(
for path in ('/etc/passwd', '/usr/bin/python3', '/opt/jaild/runner.py', '/root/x', '/x', '/proc/sys/kernel/hostname',
             '/sys/fs/cgroup/cgroup.procs'):
    attempt('write-' + path, lambda: open(path, 'a').write('x'))
open('/workspace/mine', 'w').write('ok')
open('/tmp/mine', 'w').write('ok')
print('WROTE-OWN', open('/workspace/mine').read(), open('/tmp/mine').read())
attempt('canary-read', lambda: print(open(canary).read()))
attempt('canary-write', lambda: open(canary, 'w').write('x'))
attempt('canary-stat', lambda: os.stat(os.path.dirname(canary)))
for pid in (1, 0, -1, 4242, 65000, 999999):
    try:
        os.kill(pid, 0 if pid in (1, 0, -1) else 9)
        print('SIGNALLED', pid)
    except OSError as e:
        print('NOSIGNAL', pid, errno.errorcode.get(e.errno, e.errno))
)");
    INFO(attack.out << attack.err);
    CHECK(has(attack.out, "WROTE-OWN ok ok"));
    // Pids outside the sandbox do not exist in its PID namespace; PID 1 (its reaper) and -1 (every process
    // it may signal, the reaper not among them) are the only ones a probe may reach.
    for (const char* pid : {"4242", "65000", "999999"})
        CHECK(has(attack.out, std::string("NOSIGNAL ") + pid + " ESRCH"));
    check_blocked(fortress, attack,
                  {"BLOCKED write-/etc/passwd", "BLOCKED write-/usr/bin/python3", "BLOCKED write-/opt/jaild/runner.py",
                   "BLOCKED write-/root/x", "BLOCKED write-/x", "BLOCKED write-/proc/sys/kernel/hostname",
                   "BLOCKED write-/sys/fs/cgroup/cgroup.procs", "BLOCKED canary-read", "BLOCKED canary-write",
                   "BLOCKED canary-stat"});
}

}  // namespace jaild::test
