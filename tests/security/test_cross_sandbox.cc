// Attacks of one run on another: processes, signals, files in /tmp, /workspace and /dev/shm, SysV IPC, uids;
// and of one session on another: files of another session, traversal in session file paths, planted
// symlinks, another principal's sessions.
// Every program prints a marker for each outcome; the test asserts the blocked marker and the run's status.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "tests/support/fortress.h"

namespace jaild::test {

namespace {

using namespace std::chrono_literals;

// The number after `label` in `text` (a timestamp a program printed), or -1.
long long number_after(const std::string& text, const std::string& label) {
    const std::size_t at = text.find(label);
    return at == std::string::npos ? -1 : std::stoll(text.substr(at + label.size()));
}

// C: milliseconds of the real-time clock, which every namespace shares (to prove two runs overlapped).
const char* const kNowMs = R"(
#include <time.h>
static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}
)";

// POST /sessions; returns the new session's id (empty on failure, which the CHECK reports).
std::string create_session(Fortress& fortress) {
    const HttpResponse created = post_json(fortress.port(), "/sessions", "{}");
    CHECK(created.status == 201);
    if (created.status != 201) return "";
    return created.json().as_object().at("session_id").as_string().c_str();
}

Attack session_sh(Fortress& fortress, const std::string& id, const std::string& script) {
    boost::json::object body;
    body["command"] = boost::json::array{"/bin/sh", "-c", script};
    return parse_attack(post_json(fortress.port(), "/sessions/" + id + "/run", boost::json::serialize(body)));
}

}  // namespace

TEST_CASE("cross: a run sees none of a concurrent run's processes", "[security][cross]") {
    Fortress fortress;
    Attack victim;
    std::thread first([&] { victim = fortress.run({"/bin/sleep", "1.2314159"}); });
    std::this_thread::sleep_for(400ms);
    const Attack attack = fortress.python(R"(
import glob, os
marker = '1.23' + '14159'
pids = glob.glob('/proc/[0-9]*')
found = 0
for p in pids:
    try:
        if marker in open(p + '/cmdline').read().replace('\0', ' '):
            found += 1
    except OSError:
        pass
print('PIDS', len(pids), 'FOUND', found)
print('PS', os.popen('ps -e -o pid=,comm=').read().split())
)");
    first.join();
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "FOUND 0\n"));
    CHECK_FALSE(has(attack.out, "sleep"));
    CHECK(victim.status == "ok");  // the victim was running the whole time, and ended normally
    CHECK(victim.json.as_object().at("wall_ms").as_int64() >= 1200);
    check_host_unharmed(fortress, attack.out + attack.err + victim.out);
}

TEST_CASE("cross: kill -9 -1 and pid guessing do not reach a concurrent run", "[security][cross]") {
    Fortress fortress;
    Attack victim;
    std::thread first(
        [&] { victim = fortress.sh("echo T0 $(date +%s%3N); sleep 1.8; echo SURVIVED T1 $(date +%s%3N)"); });
    std::this_thread::sleep_for(200ms);
    const Attack attack = fortress.c(c_program(kNowMs + std::string(R"(
int main(void) {
    printf("TC %lld\n", now_ms());
    int all = kill(-1, SIGKILL);
    int all_errno = errno;
    int hit = 0, self = getpid();
    for (int pid = 2; pid < 65536; ++pid)
        if (pid != self && kill(pid, SIGKILL) == 0) ++hit;
    printf("KILL-ALL rc=%d errno=%d HIT %d\n", all, all == 0 ? 0 : all_errno, hit);
    return 0;
}
)")));
    first.join();
    INFO(attack.out << attack.err << "\nvictim: " << victim.out << victim.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "HIT 0\n"));  // no process outside its own PID namespace can be named
    CHECK(victim.status == "ok");
    CHECK(has(victim.out, "SURVIVED T1 "));
    // the attack ran while the victim was alive (the real-time clock is the same in every namespace)
    CHECK(number_after(victim.out, "T0 ") < number_after(attack.out, "TC "));
    CHECK(number_after(attack.out, "TC ") < number_after(victim.out, "T1 "));
    check_host_unharmed(fortress, attack.out + attack.err + victim.out);
}

TEST_CASE("cross: a concurrent run's /tmp, /workspace and /dev/shm are invisible", "[security][cross]") {
    Fortress fortress;
    Attack victim;
    std::thread first([&] {
        victim = fortress.sh(
            "echo victim-data > /tmp/victim-tmp; echo victim-data > /workspace/victim-ws; "
            "echo victim-data > /dev/shm/victim-shm; sleep 1.2; cat /tmp/victim-tmp /workspace/victim-ws "
            "/dev/shm/victim-shm");
    });
    std::this_thread::sleep_for(300ms);
    const Jailctl ctl = fortress.jailctl(
        {"run", "--", "/bin/sh", "-c",
         "echo LISTED $(ls -A /tmp /workspace /dev/shm); "
         "find / -path /proc -prune -o -path /usr -prune -o -name 'victim-*' -print 2>/dev/null | sed 's/^/FOUND /'; "
         "cat /proc/[0-9]*/root/tmp/victim-tmp 2>/dev/null && echo READ; echo SEARCHED"});
    first.join();
    INFO(ctl.out << ctl.err << "\nvictim: " << victim.out << victim.err);
    CHECK(ctl.exit_code == 0);
    CHECK(has(ctl.out, "SEARCHED"));
    CHECK_FALSE(has(ctl.out, "FOUND"));
    CHECK_FALSE(has(ctl.out, "victim"));
    CHECK(victim.status == "ok");
    CHECK(victim.out == "victim-data\nvictim-data\nvictim-data\n");
    check_host_unharmed(fortress, ctl.out + ctl.err + victim.out);
}

TEST_CASE("cross: SysV shared memory, message queues and semaphores of a concurrent run are invisible",
          "[security][cross]") {
    Fortress fortress;
    const std::string ipc_header =
        "#include <sys/ipc.h>\n#include <sys/shm.h>\n#include <sys/msg.h>\n"
        "#include <sys/sem.h>\n#define KEY 0x4a41494c\n";
    Attack victim;
    std::thread first([&] {
        victim = fortress.c(c_program(ipc_header + kNowMs + R"(
int main(void) {
    int shm = shmget(KEY, 4096, IPC_CREAT | 0666);
    int msg = msgget(KEY, IPC_CREAT | 0666);
    int sem = semget(KEY, 1, IPC_CREAT | 0666);
    char* memory = shm >= 0 ? shmat(shm, NULL, 0) : NULL;
    if (memory && memory != (void*)-1) strcpy(memory, "victim-shm-data");
    int fd = shm_open("/victim-posix", O_CREAT | O_RDWR, 0666);
    printf("CREATED %d %d %d %d T0 %lld\n", shm >= 0, msg >= 0, sem >= 0, fd >= 0, now_ms());
    fflush(stdout);
    usleep(1600000);
    printf("STILL %s T1 %lld\n", memory && memory != (void*)-1 ? memory : "none", now_ms());
    return 0;
}
)"));
    });
    std::this_thread::sleep_for(700ms);  // the victim compiles, then holds its objects for 1.6 s
    const Attack attack = fortress.c(c_program(ipc_header + kNowMs + R"(
int main(void) {
    int shm = shmget(KEY, 0, 0), shm_errno = errno;
    int msg = msgget(KEY, 0), msg_errno = errno;
    int sem = semget(KEY, 0, 0), sem_errno = errno;
    struct shm_info info;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds*)&info);
    int fd = shm_open("/victim-posix", O_RDONLY, 0);
    printf("SHM %d/%d MSG %d/%d SEM %d/%d USED %d POSIX %d\n", shm, shm_errno, msg, msg_errno, sem, sem_errno,
           max >= 0 ? info.used_ids : -1, fd);
    for (int id = 0; id < 4096; ++id) {
        void* p = shmat(id, NULL, SHM_RDONLY);
        if (p != (void*)-1) printf("ATTACHED %d %.20s\n", id, (char*)p);
    }
    printf("DONE TC %lld\n", now_ms());
    return 0;
}
)"));
    first.join();
    INFO(attack.out << attack.err << "\nvictim: " << victim.out << victim.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "DONE"));
    CHECK(has(attack.out, "SHM -1/2 MSG -1/2 SEM -1/2 USED 0 POSIX -1\n"));  // ENOENT: its own IPC namespace
    CHECK_FALSE(has(attack.out, "ATTACHED"));
    CHECK_FALSE(has(attack.out, "victim-shm-data"));
    CHECK(victim.status == "ok");
    CHECK(has(victim.out, "CREATED 1 1 1 1 T0 "));
    CHECK(has(victim.out, "STILL victim-shm-data T1 "));
    // the attacker looked while the victim's objects existed
    CHECK(number_after(victim.out, " T0 ") < number_after(attack.out, "DONE TC "));
    CHECK(number_after(attack.out, "DONE TC ") < number_after(victim.out, " T1 "));
    check_host_unharmed(fortress, attack.out + attack.err + victim.out);
}

TEST_CASE("cross: concurrent runs get distinct, unprivileged uids and gids", "[security][cross]") {
    Fortress fortress;
    Attack first_run;
    std::thread first([&] { first_run = fortress.sh("echo ID $(id -u) $(id -g); sleep 1"); });
    std::this_thread::sleep_for(300ms);
    const Jailctl second = fortress.jailctl({"run", "--", "/bin/sh", "-c", "echo ID $(id -u) $(id -g)"});
    first.join();
    INFO(first_run.out << first_run.err << "\nsecond: " << second.out << second.err);
    REQUIRE(first_run.status == "ok");
    REQUIRE(second.exit_code == 0);
    REQUIRE(has(first_run.out, "ID "));
    REQUIRE(has(second.out, "ID "));
    const long uid_a = std::stol(first_run.out.substr(3)), uid_b = std::stol(second.out.substr(3));
    CHECK(uid_a != uid_b);
    for (long uid : {uid_a, uid_b}) {
        CHECK(uid >= static_cast<long>(kUidBase));
        CHECK(uid < static_cast<long>(kUidBase + kUidCount));
    }
    CHECK(first_run.out != second.out);  // gids differ too
    check_host_unharmed(fortress, first_run.out + second.out);
}

TEST_CASE("cross: a run in session B cannot find session A's files", "[security][cross]") {
    Fortress fortress;
    const std::string a = create_session(fortress), b = create_session(fortress);
    REQUIRE_FALSE(a.empty());
    REQUIRE_FALSE(b.empty());
    const Attack wrote = session_sh(fortress, a,
                                    "echo session-a-data > /workspace/a-secret.txt; echo session-a-data > /tmp/a-tmp; "
                                    "echo WROTE");
    REQUIRE(has(wrote.out, "WROTE"));
    const Attack attack = session_sh(
        fortress, b,
        "echo LISTED $(ls -A /workspace /tmp); "
        "find / -path /proc -prune -o -path /usr -prune -o -name 'a-*' -print 2>/dev/null | sed 's/^/FOUND /'; "
        "grep -rs session-a-data /workspace /tmp /dev/shm /opt && echo READ; echo SEARCHED");
    const HttpResponse download = http_request(fortress.port(), "GET", "/sessions/" + b + "/files/a-secret.txt");
    INFO(attack.out << attack.err << "\ndownload: " << download.status << " " << download.body);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "SEARCHED"));
    CHECK_FALSE(has(attack.out, "FOUND"));
    CHECK_FALSE(has(attack.out, "READ"));
    CHECK_FALSE(has(attack.out, "session-a-data"));
    CHECK(download.status == 404);
    CHECK_FALSE(has(download.body, "session-a-data"));
    // and A still has it
    const HttpResponse own = http_request(fortress.port(), "GET", "/sessions/" + a + "/files/a-secret.txt");
    CHECK(own.status == 200);
    CHECK(own.body == "session-a-data\n");
    check_host_unharmed(fortress, attack.out + attack.err + download.body);
}

TEST_CASE("cross: session file paths with traversal are refused", "[security][cross]") {
    Fortress fortress;
    const std::string a = create_session(fortress), b = create_session(fortress);
    REQUIRE_FALSE(a.empty());
    REQUIRE_FALSE(b.empty());
    REQUIRE(http_request(fortress.port(), "PUT", "/sessions/" + a + "/files/a.txt", "session-a-data").status == 201);
    std::string canary_encoded;
    for (char c : fortress.canary_file()) canary_encoded += c == '/' ? std::string("%2F") : std::string(1, c);
    const std::string prefix = "/sessions/" + b + "/files/";
    std::string seen;
    int refused = 0;
    const std::vector<std::string> paths = {
        "..%2F" + a + "%2Fdata%2Fworkspace%2Fa.txt",
        "..%2F..%2F..%2F" + a + "%2Fdata%2Fworkspace%2Fa.txt",
        "%2e%2e%2f%2e%2e%2f" + a + "%2fdata%2fworkspace%2fa.txt",
        "..%2Fmeta.json",
        "..%2F..%2Fmeta.json",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fshadow",
        "..%2F..%2F..%2F..%2F..%2F..%2F..%2F.." + canary_encoded,
        canary_encoded,
        "sub%2F..%2F..%2Fmeta.json",
        "..",
        ".",
    };
    for (const std::string& path : paths) {
        const HttpResponse got = http_request(fortress.port(), "GET", prefix + path);
        INFO("GET " << path << " -> " << got.status << " " << got.body);
        CHECK((got.status == 400 || got.status == 404));
        refused += got.status == 400 || got.status == 404;
        seen += got.body;
    }
    for (const std::string& path : {std::string("..%2Fescape"), "..%2F" + a + "%2Fdata%2Fworkspace%2Fa.txt",
                                    "..%2F..%2F..%2F..%2F..%2F..%2F..%2F.." + canary_encoded}) {
        const HttpResponse put = http_request(fortress.port(), "PUT", prefix + path, "overwritten");
        INFO("PUT " << path << " -> " << put.status << " " << put.body);
        CHECK(put.status == 400);
        refused += put.status == 400;
    }
    const HttpResponse deleted = http_request(fortress.port(), "DELETE", prefix + "..%2F" + a);
    CHECK((deleted.status == 400 || deleted.status == 404));
    CHECK(refused == static_cast<int>(paths.size()) + 3);
    CHECK_FALSE(has(seen, "session-a-data"));
    CHECK_FALSE(has(seen, "root:"));
    CHECK_FALSE(has(seen, "\"session_id\""));
    const HttpResponse own = http_request(fortress.port(), "GET", "/sessions/" + a + "/files/a.txt");
    CHECK(own.status == 200);
    CHECK(own.body == "session-a-data");  // not overwritten, not deleted
    check_host_unharmed(fortress, seen);
}

TEST_CASE("cross: symlinks a session run plants are not followed by downloads or uploads", "[security][cross]") {
    Fortress fortress;
    const std::string id = create_session(fortress);
    REQUIRE_FALSE(id.empty());
    const Attack planted =
        session_sh(fortress, id,
                   "ln -s " + fortress.canary_file() + " /workspace/link && ln -s " + fortress.canary_dir() +
                       " /workspace/dir && ln -s /etc/passwd /workspace/pw "
                       "&& ln -s / /workspace/root && mkfifo /workspace/fifo; echo PLANTED");
    REQUIRE(has(planted.out, "PLANTED"));
    const std::string prefix = "/sessions/" + id + "/files/";
    std::string seen;
    for (const char* path : {"link", "dir/secret", "pw", "root/etc/passwd", "fifo"}) {
        const HttpResponse got = http_request(fortress.port(), "GET", prefix + path, "", {}, std::chrono::seconds(5));
        INFO("GET " << path << " -> " << got.status << " " << got.body);
        CHECK((got.status == 400 || got.status == 404));
        seen += got.body;
    }
    for (const char* path : {"dir/new-file", "root/tmp/new-file", "link"}) {
        const HttpResponse put = http_request(fortress.port(), "PUT", prefix + path, "planted");
        INFO("PUT " << path << " -> " << put.status << " " << put.body);
        if (std::string(path) == "link") {
            // an upload at a symlink's name replaces the link, never writes through it
            CHECK(put.status == 201);
        } else {
            CHECK(put.status == 400);
        }
    }
    const Attack after = session_sh(fortress, id, "cat /workspace/link; echo; ls -l /workspace | grep -c '^l'");
    INFO(after.out << after.err);
    CHECK(has(after.out, "planted\n"));
    check_host_unharmed(fortress, seen + after.out);  // the canary file is unchanged, nothing new in its dir
}

TEST_CASE("cross: a gateway caller's session is invisible to a jailctl user and the reverse", "[security][cross]") {
    Fortress fortress;
    const std::string http_id = create_session(fortress);
    REQUIRE_FALSE(http_id.empty());
    REQUIRE(http_request(fortress.port(), "PUT", "/sessions/" + http_id + "/files/mine.txt", "gateway-data").status ==
            201);
    const Jailctl info = fortress.jailctl({"sessions", "info", http_id});
    const Jailctl get = fortress.jailctl({"sessions", "get", http_id, "mine.txt"});
    const Jailctl run = fortress.jailctl({"sessions", "run", http_id, "--", "/bin/cat", "/workspace/mine.txt"});
    const Jailctl list = fortress.jailctl({"sessions", "list"});
    const Jailctl created = fortress.jailctl({"sessions", "create"});
    INFO(info.err << get.err << run.err << list.out << created.out << created.err);
    CHECK(info.exit_code != 0);
    CHECK(get.exit_code != 0);
    CHECK(run.exit_code != 0);
    CHECK(list.exit_code == 0);
    CHECK_FALSE(has(list.out, http_id));
    CHECK_FALSE(has(get.out + run.out, "gateway-data"));
    REQUIRE(created.exit_code == 0);
    std::string ctl_id = created.out;
    while (!ctl_id.empty() && (ctl_id.back() == '\n' || ctl_id.back() == ' ')) ctl_id.pop_back();
    REQUIRE(ctl_id.size() >= 16);
    const HttpResponse foreign = http_request(fortress.port(), "GET", "/sessions/" + ctl_id);
    const Attack foreign_run = session_sh(fortress, ctl_id, "echo RAN");
    CHECK(foreign.status == 404);
    CHECK(foreign_run.response.status == 404);
    CHECK_FALSE(has(foreign_run.out, "RAN"));
    check_host_unharmed(fortress, get.out + run.out + foreign.body);
}

}  // namespace jaild::test
