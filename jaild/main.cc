// jaild: the privileged daemon. Parses its command line, loads the config, probes the host, cleans what a
// crashed predecessor left, and serves the socket until SIGTERM.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "common/check_report_text.h"
#include "common/config.h"
#include "common/linux_compat.h"
#include "common/log.h"
#include "jaild.pb.h"
#include "jaild/cgroup_choice.h"
#include "jaild/language_dirs.h"
#include "jaild/language_versions.h"
#include "jaild/languages.h"
#include "jaild/live/live_service.h"
#include "jaild/probe.h"
#include "jaild/sandbox/uid_kill.h"
#include "jaild/sandbox/uid_pool.h"
#include "jaild/sandbox/workspace.h"
#include "jaild/server.h"
#include "jaild/socket_claim.h"
#include "jaild/supervisor.h"
#include "jaild/uid_range_lock.h"

namespace asio = boost::asio;

namespace {

constexpr const char* kDefaultConfig = "/etc/jaild/jaild.toml";

// Pipes and sockets jaild creates must never land on 0-2: the child's dup2 onto stdio relies on it.
void ensure_stdio_open() {
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) < 0 && ::open("/dev/null", O_RDWR) < 0) std::exit(1);
    }
}

// The host's name, for the default node id; empty when it cannot be had (resolve_node_id then refuses).
std::string host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0) return {};
    return name;
}

struct Options {
    std::string config_path = kDefaultConfig;
    std::string socket;
    std::string languages_dir;
    std::string support_dir;
    std::string state_dir;
    std::uint32_t session_ttl = 0;
    bool check = false;
};

// Stops accepting, kills running jobs, waits (bounded) for their cleanup, then stops the loop.
asio::awaitable<void> shut_down(asio::io_context& io, jaild::Server& server, jaild::Supervisor& supervisor) {
    spdlog::info("shutting down: {} running job(s)", supervisor.active());
    server.stop();
    supervisor.shutdown();
    asio::steady_timer tick(io);
    const auto busy = [&] {
        return supervisor.active() > 0 || supervisor.uids().in_use() > 0 || supervisor.connections() > 0;
    };
    for (int i = 0; i < 1000 && busy(); ++i) {
        tick.expires_after(std::chrono::milliseconds(10));
        co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    io.stop();
}

int serve(const jaild::Config& config, jaild::SocketClaim& claim, std::unique_ptr<jaild::cgroup::Manager> cgroups,
          std::unique_ptr<jaild::Spawner> spawner, jaild::LanguageRegistry languages) {
    // One thread: every connection and job lives on this loop, so they share state without locks. The
    // heavy part of a run (building the sandbox) happens in the cloned child, not here.
    auto io = std::make_unique<asio::io_context>(1);
    jaild::Supervisor supervisor(io->get_executor(), config, std::move(cgroups), std::move(spawner),
                                 std::move(languages));
    supervisor.sessions().load();
    {
        jaild::Server server(*io, supervisor, claim);
        server.start();
        asio::signal_set signals(*io, SIGTERM, SIGINT);
        signals.async_wait([&](boost::system::error_code ec, int sig) {
            if (ec) return;
            spdlog::info("received signal {}", sig);
            asio::co_spawn(*io, shut_down(*io, server, supervisor), asio::detached);
        });
        io->run();
    }
    supervisor.sessions().stop();  // its timer belongs to the io_context destroyed next
    supervisor.live().clear();     // so do its deadline timers, and its sandboxes' sockets
    // Coroutine frames still pending hold Jobs, whose destructors talk to the supervisor: destroy them
    // while it exists.
    io.reset();
    spdlog::info("stopped");
    return 0;
}

// The build tree this jaild was built in (CMake defines both for the jaild executable only).
#if defined(JAILD_BUILD_BIN_DIR) && defined(JAILD_SOURCE_DIR)
const jaild::BuildTree kBuildTree{JAILD_BUILD_BIN_DIR, JAILD_SOURCE_DIR};
#else
const jaild::BuildTree kBuildTree{};
#endif

// Where the languages come from; a build tree's jaild falls back to its source tree (language_dirs.h).
void choose_languages(jaild::LanguagesConfig& languages) {
    std::error_code ec;
    const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    const jaild::LanguageDirs chosen = jaild::choose_language_dirs(languages, kBuildTree, self);
    if (chosen.from_source_tree)
        spdlog::info(
            "{} and {} do not exist; this jaild runs from its build tree, so it uses the source tree's {} "
            "and {}",
            languages.dir, languages.support_dir, chosen.dirs.dir, chosen.dirs.support_dir);
    languages = chosen.dirs;
}

// The check's line for the languages: none enabled is a warning (jaild still serves commands).
jaild::ProbeItem languages_item(const std::vector<jaild::Language>& enabled, std::size_t defined,
                                const jaild::LanguagesConfig& dirs) {
    std::string names;
    for (const jaild::Language& language : enabled) names += (names.empty() ? "" : ", ") + language.name;
    return {"languages", !enabled.empty(), false,
            fmt::format("{} of {} enabled from {}{}", enabled.size(), defined, dirs.dir,
                        names.empty() ? "" : " (" + names + ")"),
            "install the runtimes the files in " + dirs.dir +
                " name (scripts/bootstrap does), or point languages.dir at a directory of language files"};
}

void log_languages(const std::vector<jaild::Language>& enabled, std::size_t defined,
                   const jaild::LanguagesConfig& dirs) {
    if (enabled.empty())
        spdlog::warn("no language enabled ({} defined in {}): execute requests will be refused; run requests work",
                     defined, dirs.dir);
    else
        spdlog::info("{} of {} languages enabled from {} (runners: {})", enabled.size(), defined, dirs.dir,
                     dirs.support_dir);
}

// Chroot mode (sandbox.isolation = "chroot"): no warm sandboxes or zygotes (both live in namespaces), the
// program's orphans left to the host's init rather than to jaild (jaild is a child subreaper only for the
// zygotes' runs), and every process a jaild that died left running under the uid range killed (each pair of
// uids, whether or not /proc shows its processes to jaild: ProtectProc=invisible hides them).
void prepare_chroot_mode(jaild::Config& config, bool check) {
    // What a run leaves behind is killed by uid after its PID 1 has ended; as PID 1 jaild would inherit it
    // and never reap it, and the zombies would count against the uid's process limit.
    if (::getpid() == 1)
        throw std::runtime_error(
            "chroot mode ([sandbox] isolation = \"chroot\") needs an init as PID 1 to reap what runs leave behind: "
            "start jaild under one (docker run --init, tini, or its systemd unit)");
    spdlog::warn(
        "chroot mode ([sandbox] isolation = \"chroot\"): runs get no namespaces; each can see the host's other "
        "processes (not their /proc entries) and, if the host has one, its network; no warm sandboxes or zygotes");
    config.sandbox.warm_sandboxes = 0;
    config.zygote.enabled = false;
    ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    if (check) return;
    const std::uint32_t end = config.sandbox.uid_base + config.sandbox.uid_count;
    for (std::uint32_t uid = config.sandbox.uid_base; uid + 1 < end; uid += 2) {
        if (const std::error_code ec = jaild::kill_uid(uid, jaild::reaper_uid_of(uid)))
            spdlog::error("killing what a previous jaild left running as uid {}: {}", uid, ec.message());
    }
}

int run(const Options& options) {
    const bool explicit_config = options.config_path != kDefaultConfig;
    jaild::Config config = jaild::load_config(options.config_path, !explicit_config);
    if (!options.socket.empty()) config.server.socket = options.socket;
    if (!options.languages_dir.empty()) config.languages.dir = options.languages_dir;
    if (!options.support_dir.empty()) config.languages.support_dir = options.support_dir;
    if (!options.state_dir.empty()) config.sessions.state_dir = std::filesystem::absolute(options.state_dir);
    if (options.session_ttl > 0) config.sessions.ttl_s = options.session_ttl;
    config.node.id = jaild::resolve_node_id(config.node, host_name());
    jaild::init_logging("jaild", config.log);
    spdlog::info("node id {}: new session ids end in -{}", config.node.id, config.node.id);
    choose_languages(config.languages);
    // Before anything touches sandboxes, cgroups or the socket: this host's other jailds keep theirs. Held
    // until jaild exits; a check only reads, so it takes neither.
    std::optional<jaild::UidRangeLock> uid_lock;
    std::optional<jaild::SocketClaim> claim;
    if (!options.check) {
        uid_lock.emplace(config.sandbox.uid_base, config.sandbox.uid_count, config.server.socket);
        claim.emplace(config.server.socket);
    }
    // Workspaces and other mounts of jaild's own live in a namespace that dies with it.
    const std::error_code unshared = jaild::unshare_mount_namespace();
    if (config.sandbox.chroot) {
        prepare_chroot_mode(config, options.check);
    } else if (unshared) {
        spdlog::warn(
            "cannot unshare a mount namespace ({}): workspaces will be visible on the host, and each run "
            "builds its whole root",
            unshared.message());
    }
    // Warm sandboxes and zygotes are waited for and discarded through pidfds; where there are none (gVisor)
    // every run is built when it is asked for.
    if (const int pidfd = jaild::sys::pidfd_open(::getpid()); pidfd >= 0) {
        ::close(pidfd);
    } else if (config.sandbox.warm_sandboxes > 0 || config.zygote.enabled) {
        spdlog::warn("no pidfds ({}): no warm sandboxes or zygotes", std::strerror(errno));
        config.sandbox.warm_sandboxes = 0;
        config.zygote.enabled = false;
    }
    std::vector<jaild::Language> languages = jaild::load_languages(config.languages.dir);

    std::unique_ptr<jaild::Spawner> spawner;
    std::string setup_error;
    std::unique_ptr<jaild::cgroup::Manager> cgroups = jaild::choose_cgroups(config, setup_error);
    try {
        spawner =
            std::make_unique<jaild::Spawner>(config, jaild::LanguageRegistry(languages).extra_binds(), options.check);
        if (!unshared && !config.sandbox.chroot) {
            // The runs' common root, built once in jaild's namespace (Rootfs::build_template).
            if (const std::error_code ec = spawner->build_template())
                spdlog::warn("cannot build the sandboxes' template root ({}): each run builds its whole root",
                             ec.message());
        }
        if (spawner->reaper_path().empty())
            spdlog::warn(
                "jaild-reaper not found beside jaild or in ../libexec/jaild: each sandbox's first process "
                "stays a copy of jaild (slower runs)");
    } catch (const std::exception& e) {
        setup_error += (setup_error.empty() ? "" : "; ") + std::string(e.what());
    }
    jaild::ProbeReport report = jaild::probe_host(config, cgroups.get(), spawner.get(), setup_error);
    const std::size_t defined = languages.size();
    if (options.check) {
        if (report.usable) {
            const auto enabled = jaild::read_versions(std::move(languages), config, *spawner, cgroups.get());
            report.items.push_back(languages_item(enabled, defined, config.languages));
        }
        std::cout << jaild::check_report_text(jaild::to_proto(report));
        return report.usable ? 0 : jaild::check_failed_exit;
    }
    if (!report.usable) {
        for (const auto& item : report.items) {
            if (!item.ok && item.required)
                spdlog::critical("missing: {}: {} (fix: {})", item.name, item.detail, item.fix);
        }
        spdlog::critical("this host cannot run sandboxes; `jaild --check` shows what to enable");
        return jaild::check_failed_exit;
    }
    languages = jaild::read_versions(std::move(languages), config, *spawner, cgroups.get());
    log_languages(languages, defined, config.languages);
    return serve(config, *claim, std::move(cgroups), std::move(spawner), jaild::LanguageRegistry(std::move(languages)));
}

}  // namespace

int main(int argc, char** argv) {
    ensure_stdio_open();
    ::signal(SIGPIPE, SIG_IGN);  // a client that leaves must give EPIPE, not kill the daemon
    // A warm run's process is the zygote's child (jaild/sandbox/zygote.h): should the zygote die first, the
    // kernel gives it to us rather than to the host's init, and its job reaps it and reports how it ended.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    Options options;
    CLI::App app{"jaild: runs untrusted code in sandboxes"};
    app.add_option("--config", options.config_path, "configuration file")->capture_default_str();
    app.add_option("--socket", options.socket, "Unix socket to listen on (overrides server.socket)");
    app.add_option("--languages-dir", options.languages_dir, "language files (overrides languages.dir)");
    app.add_option("--support-dir", options.support_dir, "runner files (overrides languages.support_dir)");
    app.add_option("--state-dir", options.state_dir, "where sessions live (overrides sessions.state_dir)");
    app.add_option("--session-ttl", options.session_ttl, "seconds an unused session lives (overrides sessions.ttl_s)")
        ->check(CLI::Range(1u, 365u * 24 * 3600));
    app.add_flag("--check", options.check, "probe which isolation features this host allows, print them and exit");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(options);
    } catch (const jaild::LanguageError& e) {
        std::fprintf(stderr, "jaild: %s\n", e.what());
        return jaild::check_failed_exit;
    } catch (const jaild::ConfigError& e) {
        std::fprintf(stderr, "jaild: %s\n", e.what());
        return jaild::check_failed_exit;
    } catch (const jaild::UidRangeTaken& e) {
        std::fprintf(stderr, "jaild: %s\n", e.what());
        return 1;
    } catch (const jaild::SocketInUse& e) {
        std::fprintf(stderr, "jaild: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "jaild: %s\n", e.what());
        return 1;
    }
}
