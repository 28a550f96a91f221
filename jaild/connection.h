// One client connection: checks the peer, reads its request, answers it, and for a run streams the events
// until the Exit. Closing the connection cancels the run.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cstdint>
#include <vector>

namespace jaild {

class Supervisor;

// jaild's event loop: serves one accepted connection to its end.
boost::asio::awaitable<void> serve_connection(Supervisor& supervisor,
                                              boost::asio::local::stream_protocol::socket socket);

// Whether a peer may talk to jaild: root, a listed uid, or a listed gid among the peer's primary and
// supplementary groups (SO_PEERGROUPS: the gateway reaches the socket through SupplementaryGroups=jaild).
// Pure; exposed for tests.
bool peer_allowed(std::uint32_t uid, const std::vector<std::uint32_t>& groups, const std::vector<std::uint32_t>& uids,
                  const std::vector<std::uint32_t>& gids);

}  // namespace jaild
