// Python environments for requests with `requirements`: installed offline from the operator's wheelhouse
// (pip --no-index, in a sandbox of its own without network) into a directory named by the hash of the
// requirement set, published with a rename, and bound read-only into the runs that ask for the same set.
// Beyond the disk budget the least recently used environments go, never one a run holds. Lives on jaild's
// event loop thread; the connection runs the install step (connection.cc) with the plan made here.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "common/config.h"
#include "common/requirements.h"
#include "jaild/sandbox/run_plan.h"

namespace jaild {

class PackageStore {
public:
    // An environment a run uses: never removed while a Hold of it lives.
    class Hold;
    using Requirements = std::vector<requirements::Requirement>;

    explicit PackageStore(const PackagesConfig& config) : config_(config) {}
    PackageStore(const PackageStore&) = delete;
    ~PackageStore();  // after every queued removal is done

    // The sandbox Python's distributions (name → version), read once by the first request that needs them
    // (inventory_plan's output, parsed by set_inventory). Until then `known()` is false.
    bool known() const { return inventory_.has_value(); }
    RunPlan inventory_plan(const RunPlan& like) const;
    void set_inventory(const std::string& output, const std::string& python_version);

    // True when the sandbox's own Python satisfies every requirement: nothing to install or mount.
    bool satisfied(const Requirements& list) const;
    // The name of the set's environment: a hash of its canonical lines and the Python version.
    std::string key(const Requirements& list) const;
    // The published environment of `key`, held for a run (its last use recorded); null when there is none.
    std::shared_ptr<Hold> find(const std::string& key);

    // Whether another request is building `key` now (the caller waits and looks again).
    bool building(const std::string& key) const { return building_.count(key) != 0; }
    // Starts building `key`: a fresh directory owned by `uid` for the install step. Empty and ec set on
    // failure. finish() must follow.
    std::string begin(const std::string& key, std::uint32_t uid, std::error_code& ec);
    // The install step's plan: pip in the environment `dir` (bound writable at packages_mount) from the
    // wheelhouse; `like` gives env and the run's other defaults.
    RunPlan install_plan(const Requirements& list, const std::string& dir, const RunPlan& like) const;
    // Ends a build: publishes `dir` as `key` (owned by root, then renamed into place) when `ok`, else removes
    // it; then removes environments beyond the budget. The held environment, or null when not published.
    // The walk over its files, the rename and every removal run on the store's own thread, off the loop.
    boost::asio::awaitable<std::shared_ptr<Hold>> finish(const std::string& key, const std::string& dir, bool ok,
                                                         std::error_code& ec);

    // Where a held environment is on the host and what runs put on PYTHONPATH to use it.
    std::string python_path() const;
    bool wheelhouse_exists() const;
    const PackagesConfig& config() const { return config_; }

private:
    struct Env {
        std::uint64_t bytes = 0;
        std::int64_t last_used_ns = 0;
        std::size_t users = 0;
    };
    friend class Hold;
    void open();  // first use: creates envs_dir, clears leftovers, reads the environments there
    void evict();
    void discard(const std::string& path);  // removed on worker_
    std::shared_ptr<Hold> hold(const std::string& key);

    const PackagesConfig& config_;
    bool opened_ = false;
    bool private_ = false;  // envs_dir is root's and 0700: builds may happen in it
    std::optional<std::map<std::string, std::string>> inventory_;
    std::string python_version_;  // "3.11.2"
    std::map<std::string, Env> envs_;
    std::set<std::string> building_;
    std::uint64_t next_build_ = 0;
    boost::asio::thread_pool worker_{1};  // last: joined (every queued removal done) before the rest goes
};

class PackageStore::Hold {
public:
    Hold(PackageStore& store, std::string key, std::string path)
        : store_(store), key_(std::move(key)), path_(std::move(path)) {}
    Hold(const Hold&) = delete;
    ~Hold();
    const std::string& path() const { return path_; }  // the environment's directory on the host

private:
    PackageStore& store_;
    std::string key_;
    std::string path_;
};

// The message that answers a failed install: the requirement pip could not find, and how an operator
// adds it; or pip's own errors. `output` is pip's stdout and stderr.
std::string describe_install_failure(const std::string& output, const PackageStore::Requirements& list,
                                     const std::string& wheelhouse);

}  // namespace jaild
