// seccomp_exec MODE -- PROGRAM [ARGS...]: runs PROGRAM under a seccomp filter that makes this host look like
// a restricted one, for the tests of jaild on such hosts (tests/integration/test_restricted_hosts.cc).
//   clone3-enosys      clone3 answers ENOSYS, as under gVisor and Docker's default seccomp profile
//   namespaces-eperm   that, and creating or joining a namespace (clone, unshare, setns) answers EPERM, as
//                      Cloud Run's sandbox does
// The filter is inherited by everything PROGRAM starts, and no_new_privs is set (seccomp requires it of a
// process without CAP_SYS_ADMIN; root keeps its privileges otherwise).
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace {

constexpr unsigned long kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                             CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

int refuse_namespaces(scmp_filter_ctx ctx) {
    for (unsigned long flag : kNamespaceFlags) {
        for (int nr : {SCMP_SYS(clone), SCMP_SYS(unshare)}) {
            if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)))
                return rc;
        }
    }
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 0);
}

int usage() {
    std::fprintf(stderr, "usage: seccomp_exec clone3-enosys|namespaces-eperm -- PROGRAM [ARGS...]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4 || std::string_view(argv[2]) != "--") return usage();
    const std::string_view mode = argv[1];
    if (mode != "clone3-enosys" && mode != "namespaces-eperm") return usage();
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return 1;
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (rc == 0 && mode == "namespaces-eperm") rc = refuse_namespaces(ctx);
    if (rc == 0) rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        std::fprintf(stderr, "seccomp_exec: %s\n", std::strerror(-rc));
        return 1;
    }
    ::execvp(argv[3], argv + 3);
    std::fprintf(stderr, "seccomp_exec: %s: %s\n", argv[3], std::strerror(errno));
    return 127;
}
