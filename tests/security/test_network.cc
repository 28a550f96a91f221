// Network: the sandbox's network namespace holds only its own `lo`. Host listeners (TCP, UDP, abstract Unix
// sockets) started by the test, the gateway's port, DNS, raw sockets, other runs' abstract sockets and netlink.
// Every program prints a marker for each outcome; the test asserts the blocked marker and the run's status.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>

#include "tests/support/fortress.h"

namespace jaild::test {

namespace {

using namespace std::chrono_literals;

// A socket on the host's loopback, closed at destruction.
class HostSocket {
public:
    HostSocket(int type) : fd_(::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(fd_ >= 0);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        if (type == SOCK_STREAM) REQUIRE(::listen(fd_, 16) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    // An abstract Unix socket named `name` (without the leading NUL).
    explicit HostSocket(const std::string& name)
        : fd_(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path + 1, name.data(), name.size());
        REQUIRE(fd_ >= 0);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr),
                       static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())) == 0);
        REQUIRE(::listen(fd_, 16) == 0);
    }
    ~HostSocket() { ::close(fd_); }
    HostSocket(const HostSocket&) = delete;
    int port() const { return port_; }
    // Did anything arrive: a connection to accept or a datagram to read? (waits up to `wait`)
    bool reached(std::chrono::milliseconds wait = 200ms) const {
        pollfd p{fd_, POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
    }

private:
    int fd_;
    int port_ = 0;
};

std::string random_name() {
    unsigned char raw[8];
    REQUIRE(::getrandom(raw, sizeof raw, 0) == sizeof raw);
    std::string name = "jaild-fortress-";
    for (unsigned char c : raw) name += "0123456789abcdef"[c & 15];
    return name;
}

// A C program that connects (TCP) to 127.0.0.1:port and prints "BLOCKED errno=N" or "ESCAPED".
std::string tcp_connect_program(int port) {
    return c_program("#include <arpa/inet.h>\n#include <netinet/in.h>\n#define PORT " + std::to_string(port) + R"(
int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr*)&addr, sizeof addr) == 0) puts("ESCAPED connected");
    else printf("BLOCKED errno=%d\n", errno);
    return 0;
}
)");
}

}  // namespace

TEST_CASE("network: a TCP listener on the host's 127.0.0.1 is unreachable", "[security][network]") {
    Fortress fortress;
    HostSocket listener(SOCK_STREAM);
    const Attack attack = fortress.c(tcp_connect_program(listener.port()));
    INFO(attack.out << attack.err << " port " << listener.port());
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED errno=111\n"));  // ECONNREFUSED: the sandbox's own lo has no listener there
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK_FALSE(listener.reached(0ms));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("network: the gateway's port cannot be reached from a run", "[security][network]") {
    Fortress fortress;
    const std::string code =
        "import socket, urllib.request\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', " +
        std::to_string(fortress.port()) +
        "), timeout=1); print('ESCAPED tcp')\n"
        "except OSError as e:\n"
        "    print('BLOCKED tcp', e.errno)\n"
        "try:\n"
        "    urllib.request.urlopen('http://localhost:" +
        std::to_string(fortress.port()) +
        "/health', timeout=1); print('ESCAPED http')\n"
        "except Exception as e:\n"
        "    print('BLOCKED http', type(e).__name__)\n";
    const Jailctl ctl = fortress.jailctl({"execute", "-l", "python", "--code", code});
    INFO(ctl.out << ctl.err);
    CHECK(ctl.exit_code == 0);
    CHECK(has(ctl.out, "BLOCKED tcp 111\n"));
    CHECK(has(ctl.out, "BLOCKED http URLError\n"));
    CHECK_FALSE(has(ctl.out, "ESCAPED"));
    check_host_unharmed(fortress, ctl.out + ctl.err);
}

TEST_CASE("network: UDP datagrams to a host listener never arrive", "[security][network]") {
    Fortress fortress;
    HostSocket listener(SOCK_DGRAM);
    const Attack attack = fortress.c(c_program("#include <arpa/inet.h>\n#include <netinet/in.h>\n#define PORT " +
                                               std::to_string(listener.port()) + R"(
int main(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int sent = 0;
    for (int i = 0; i < 20; ++i)
        if (sendto(s, "leak", 4, 0, (struct sockaddr*)&addr, sizeof addr) == 4) ++sent;
    printf("SENT %d\n", sent);
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "SENT "));  // sendto may succeed: the datagrams go to the sandbox's own lo
    CHECK_FALSE(listener.reached(300ms));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("network: DNS lookups of external names fail", "[security][network]") {
    Fortress fortress;
    const Attack attack = fortress.python(R"(
import socket
for name in ('example.com', 'deb.debian.org', 'metadata.google.internal'):
    try:
        print('RESOLVED', name, socket.getaddrinfo(name, 80)[0][4])
    except socket.gaierror as e:
        print('BLOCKED', name)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00', ('8.8.8.8', 53))
    print('ESCAPED udp53')
except OSError as e:
    print('BLOCKED udp53', e.errno)
)");
    const Jailctl ctl =
        fortress.jailctl({"run", "--", "/bin/sh", "-c", "getent hosts example.com || echo BLOCKED-getent $?"});
    INFO(attack.out << attack.err << ctl.out << ctl.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "BLOCKED ") == 4);
    CHECK(has(attack.out, "BLOCKED udp53 101\n"));  // ENETUNREACH: no route but lo
    CHECK_FALSE(has(attack.out, "RESOLVED"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK(ctl.exit_code == 0);
    CHECK(has(ctl.out, "BLOCKED-getent 2"));
    check_host_unharmed(fortress, attack.out + attack.err + ctl.out);
}

TEST_CASE("network: only lo exists and no address outside it is routable", "[security][network]") {
    Fortress fortress;
    const Attack attack = fortress.python(R"(
import socket
print('IFACES', sorted(name for _, name in socket.if_nameindex()))
for host in ('1.1.1.1', '10.0.0.1', '169.254.169.254', '192.168.1.1'):
    try:
        socket.create_connection((host, 80), timeout=1)
        print('ESCAPED', host)
    except OSError as e:
        print('BLOCKED', host, e.errno)
try:
    socket.create_connection(('::ffff:1.1.1.1', 80), timeout=1)
    print('ESCAPED v6')
except OSError as e:
    print('BLOCKED v6', e.errno)
)");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "IFACES ['lo']\n"));
    CHECK(count(attack.out, " 101\n") == 5);  // ENETUNREACH
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("network: raw and packet sockets are refused", "[security][network]") {
    Fortress fortress;
    const Attack attack = fortress.c(c_program(R"(
#include <netinet/in.h>
#include <linux/if_ether.h>
static void try_socket(const char* what, int domain, int type, int protocol) {
    int s = socket(domain, type, protocol);
    if (s >= 0) printf("ESCAPED %s\n", what);
    else printf("BLOCKED %s errno=%d\n", what, errno);
}
int main(void) {
    try_socket("raw-icmp", AF_INET, SOCK_RAW, IPPROTO_ICMP);
    try_socket("raw-tcp", AF_INET, SOCK_RAW, IPPROTO_TCP);
    try_socket("raw-ip", AF_INET, SOCK_RAW, IPPROTO_RAW);
    try_socket("raw-icmp6", AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    try_socket("packet-raw", AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    try_socket("packet-dgram", AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(count(attack.out, "errno=1\n") == 6);  // EPERM: no CAP_NET_RAW
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("network: an abstract Unix socket on the host is unreachable", "[security][network]") {
    Fortress fortress;
    const std::string name = random_name();
    HostSocket listener(name);
    const Attack attack = fortress.c(c_program("#include <sys/un.h>\n#define NAME \"" + name + "\"\n" + R"(
int main(void) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path + 1, NAME, strlen(NAME));
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(NAME);
    if (connect(s, (struct sockaddr*)&addr, len) == 0) puts("ESCAPED connected");
    else printf("BLOCKED errno=%d\n", errno);
    return 0;
}
)"));
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED errno=111\n"));  // the abstract namespace belongs to the network namespace
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK_FALSE(listener.reached(0ms));
    check_host_unharmed(fortress, attack.out + attack.err);
}

TEST_CASE("network: a run's abstract socket is unreachable from a concurrent run", "[security][network]") {
    Fortress fortress;
    const std::string name = random_name();
    const std::string address = "'\\0" + name + "'";
    Attack listener;
    std::thread first([&] {
        listener = fortress.python(
            "import socket, time\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.bind(" +
            address +
            ")\n"
            "s.listen(4)\n"
            "s.settimeout(1.5)\n"
            "print('LISTENING', flush=True)\n"
            "try:\n"
            "    s.accept(); print('ACCEPTED')\n"
            "except socket.timeout:\n"
            "    print('NOBODY-CAME')\n");
    });
    std::this_thread::sleep_for(700ms);
    const Attack attack = fortress.python(
        "import socket, time\n"
        "refused = 0\n"
        "for i in range(10):\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n"
        "        s.connect(" +
        address +
        "); print('ESCAPED'); break\n"
        "    except OSError as e:\n"
        "        refused += e.errno == 111\n"
        "    time.sleep(0.05)\n"
        "print('BLOCKED', refused)\n");
    first.join();
    INFO(attack.out << attack.err << "\nlistener: " << listener.out << listener.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED 10\n"));
    CHECK_FALSE(has(attack.out, "ESCAPED"));
    CHECK(listener.status == "ok");
    CHECK(has(listener.out, "LISTENING"));  // the socket existed while the second run knocked
    CHECK(has(listener.out, "NOBODY-CAME"));
    CHECK_FALSE(has(listener.out, "ACCEPTED"));
    check_host_unharmed(fortress, attack.out + attack.err + listener.out);
}

TEST_CASE("network: a port a run listens on does not appear on the host", "[security][network]") {
    Fortress fortress;
    int port = 0;
    {
        HostSocket probe(SOCK_STREAM);  // a port free on the host right now
        port = probe.port();
    }
    Attack server;
    std::thread run([&] {
        server = fortress.python(
            "import socket\n"
            "s = socket.socket()\n"
            "s.bind(('127.0.0.1', " +
            std::to_string(port) +
            "))\n"
            "s.listen(4)\n"
            "s.settimeout(1.3)\n"
            "print('BOUND', flush=True)\n"
            "try:\n"
            "    s.accept(); print('ACCEPTED')\n"
            "except socket.timeout:\n"
            "    print('NOBODY-CAME')\n");
    });
    std::this_thread::sleep_for(500ms);
    int refused = 0, connected = 0;
    for (int i = 0; i < 10; ++i) {
        const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
            ++connected;
        else if (errno == ECONNREFUSED)
            ++refused;
        ::close(s);
        std::this_thread::sleep_for(50ms);
    }
    run.join();
    INFO(server.out << server.err);
    CHECK(server.status == "ok");
    CHECK(has(server.out, "BOUND"));
    CHECK(has(server.out, "NOBODY-CAME"));
    CHECK(refused == 10);
    CHECK(connected == 0);
    check_host_unharmed(fortress, server.out + server.err);
}

TEST_CASE("network: netlink cannot bring lo down, add addresses, routes or interfaces", "[security][network]") {
    Fortress fortress;
    const Attack attack = fortress.sh(
        "IP=/usr/sbin/ip; [ -x $IP ] || IP=/usr/bin/ip; "
        "$IP link set lo down 2>&1 | grep -q 'Operation not permitted' && echo BLOCKED-down; "
        "$IP addr add 10.9.9.9/24 dev lo 2>&1 | grep -q 'Operation not permitted' && echo BLOCKED-addr; "
        "$IP route add 10.1.0.0/16 dev lo 2>&1 | grep -q 'Operation not permitted' && echo BLOCKED-route; "
        "$IP link add jaild0 type dummy 2>&1 | grep -q 'Operation not permitted' && echo BLOCKED-link; "
        "$IP -o link show | cut -d: -f2 | tr -d ' ' | sed 's/^/IFACE /'; "
        "$IP -o link show lo | grep -q 'UP' && echo LO-STILL-UP");
    INFO(attack.out << attack.err);
    CHECK(attack.status == "ok");
    CHECK(has(attack.out, "BLOCKED-down"));
    CHECK(has(attack.out, "BLOCKED-addr"));
    CHECK(has(attack.out, "BLOCKED-route"));
    CHECK(has(attack.out, "BLOCKED-link"));
    CHECK(has(attack.out, "IFACE lo\n"));
    CHECK(count(attack.out, "IFACE ") == 1);
    CHECK(has(attack.out, "LO-STILL-UP"));
    check_host_unharmed(fortress, attack.out + attack.err);
}

}  // namespace jaild::test
