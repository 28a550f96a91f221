// Which node this gateway serves: jaild's [node] id (docs/scale-out.md), learnt over the protocol
// (NodeRequest: node_id_learner.h when the gateway starts, probe_health at every GET /health) and sent as
// X-Jaild-Node on every answer, so a client behind a balancer sees which node answered. Thread-safe.
#pragma once

#include <mutex>
#include <string>

namespace jaild::gateway {

class NodeIdentity {
public:
    std::string get() const {
        std::lock_guard lock(mutex_);
        return id_;
    }
    void set(std::string id) {
        std::lock_guard lock(mutex_);
        id_ = std::move(id);
    }

private:
    mutable std::mutex mutex_;
    std::string id_;  // empty until jaild has said
};

inline constexpr const char* kNodeHeader = "X-Jaild-Node";

// Sets X-Jaild-Node on a response (or anything with set(name, value)) once the id is known.
template <class Fields>
void set_node_header(Fields& fields, const NodeIdentity& node) {
    if (std::string id = node.get(); !id.empty()) fields.set(kNodeHeader, id);
}

}  // namespace jaild::gateway
