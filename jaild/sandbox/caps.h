// Capabilities: every set emptied, with libcap. The parent builds the empty capability state once; the
// child drops the bounding set while still root, locks the securebits, and clears the rest after setuid.
#pragma once

namespace jaild::caps {

// Parent, at start: the highest capability number of this kernel and an empty cap_t (never freed: it lives
// as long as jaild).
int last_cap();
const void* empty_state();

// Child, while still root (needs CAP_SETPCAP): SECBIT_NOROOT and friends, locked, so no later execve of a
// setuid-root binary or uid change can give capabilities back.
int lock_securebits() noexcept;
// Child, while still root: drop every capability from the bounding set and clear the ambient set.
int drop_bounding(int last_cap) noexcept;
// Child, after setresuid: empty permitted, effective and inheritable sets.
int clear(const void* empty_state) noexcept;

}  // namespace jaild::caps
