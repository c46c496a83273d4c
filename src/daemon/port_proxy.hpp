// Internal to the daemon: the userland side of published ports. DNAT rules forward traffic from
// other hosts and to the host's own non-loopback addresses; traffic to 127.0.0.0/8 never passes
// them, so it reaches the socket that holds the host port and is relayed from there, as
// docker-proxy does. Both run on the loop; `scope` owns every task they start, and cancelling it
// ends them all (the sockets they made are closed, the held socket is not theirs).
#pragma once

#include <netinet/in.h>

#include "bocker/runtime/scope.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::daemon {

// TCP: accepts on `listen_fd` and splices each connection to `target` in both directions.
rt::Task<void> tcp_proxy(int listen_fd, sockaddr_in target, rt::TaskScope& scope);

// UDP: every client address gets a flow, a socket of its own connected to `target`, which carries
// the client's datagrams there and the container's replies back out of `sock_fd` (so they come
// from the published port). A flow idle for kUdpFlowIdle is closed; beyond kUdpMaxFlows flows,
// datagrams from new clients are dropped (UDP may drop; no flow is evicted).
inline constexpr int kUdpFlowIdleSeconds = 90;  // docker-proxy's UDP conntrack timeout
inline constexpr unsigned kUdpMaxFlows = 1024;
rt::Task<void> udp_proxy(int sock_fd, sockaddr_in target, rt::TaskScope& scope);

}  // namespace bocker::daemon
