// The TLS options of the gateway: [gateway] tls_cert and tls_key come both or not at all, and a file that is
// missing or not PEM is refused at start with its name and OpenSSL's reason (gateway/tls_context). No sockets;
// tests/gateway/test_gateway_tls.cc has the real clients and certificates.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "common/config.h"
#include "gateway/options.h"
#include "gateway/tls_context.h"
#include "tests/support/harness.h"

using namespace jaild::gateway;
using jaild::test::TempDir;

namespace {

std::string config_error(const GatewayOptions& options) {
    try {
        check_tls_options(options);
    } catch (const jaild::ConfigError& error) {
        return error.what();
    }
    return "";
}

std::string load_error(const std::string& cert, const std::string& key) {
    try {
        TlsContext context(cert, key);
    } catch (const jaild::ConfigError& error) {
        return error.what();
    }
    return "";
}

}  // namespace

TEST_CASE("gateway tls options: tls_cert and tls_key come both or not at all", "[unit][gateway][tls]") {
    TempDir dir;
    const std::string path = dir.path() + "/gateway.toml";
    std::ofstream(path) << "[gateway]\ntls_cert = \"/etc/jaild/tls/cert.pem\"\ntls_key = \"/etc/jaild/tls/key.pem\"\n";
    GatewayOptions options;
    load_options_file(path, options);
    CHECK(options.tls_cert == "/etc/jaild/tls/cert.pem");
    CHECK(options.tls_key == "/etc/jaild/tls/key.pem");
    CHECK(config_error(options).empty());

    CHECK(config_error(GatewayOptions{}).empty());  // neither: plain HTTP

    GatewayOptions only_cert;
    only_cert.tls_cert = "/etc/jaild/tls/cert.pem";
    CHECK(config_error(only_cert) ==
          "gateway.tls_key (--tls-key) is missing: gateway.tls_cert is set, and TLS needs its key too");
    GatewayOptions only_key;
    only_key.tls_key = "/etc/jaild/tls/key.pem";
    CHECK(config_error(only_key) ==
          "gateway.tls_cert (--tls-cert) is missing: gateway.tls_key is set, and TLS needs the certificate too");

    std::ofstream(path) << "[gateway]\ntls_cert = 5\n";
    CHECK_THROWS_AS(load_options_file(path, options), jaild::ConfigError);
}

TEST_CASE("gateway tls options: a missing or broken file is named with OpenSSL's reason", "[unit][gateway][tls]") {
    TempDir dir;
    const std::string garbage = dir.path() + "/garbage.pem";
    std::ofstream(garbage) << "not a certificate\n";
    REQUIRE(::chmod(garbage.c_str(), 0640) == 0);
    const std::string missing = dir.path() + "/missing.pem";
    CHECK(load_error(missing, garbage) == "gateway.tls_cert " + missing + ": No such file or directory");
    CHECK(load_error(garbage, garbage) == "gateway.tls_cert " + garbage + ": no start line (PEM routines)");
    // A key every user may read is refused before anything is loaded.
    REQUIRE(::chmod(garbage.c_str(), 0644) == 0);
    CHECK(load_error(missing, garbage) == "gateway.tls_key " + garbage +
                                              ": mode 0644 lets every user read the private key (chmod o-rwx " +
                                              garbage + "; readable by the gateway's user or group only)");
}
