#include "jaild/sandbox/caps.h"

#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include <cerrno>
#include <stdexcept>

namespace jaild::caps {

int last_cap() { return static_cast<int>(cap_max_bits()) - 1; }

const void* empty_state() {
    static const cap_t empty = [] {
        cap_t state = cap_init();  // cap_init() returns every set cleared
        if (state == nullptr) throw std::runtime_error("cap_init failed");
        return state;
    }();
    return empty;
}

int lock_securebits() noexcept {
    // NOROOT: uid 0 and setuid-root binaries get no capabilities. KEEP_CAPS locked off: setresuid clears
    // the permitted set. NO_CAP_AMBIENT_RAISE: ambient capabilities cannot come back.
    const unsigned bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
                          SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    return cap_set_secbits(bits) == 0 ? 0 : errno;
}

int drop_bounding(int last) noexcept {
    for (int cap = 0; cap <= last; ++cap) {
        if (cap_drop_bound(static_cast<cap_value_t>(cap)) != 0 && errno != EINVAL) return errno;
    }
    return cap_reset_ambient() == 0 ? 0 : errno;
}

int clear(const void* empty) noexcept {
    return cap_set_proc(static_cast<cap_t>(const_cast<void*>(empty))) == 0 ? 0 : errno;
}

}  // namespace jaild::caps
