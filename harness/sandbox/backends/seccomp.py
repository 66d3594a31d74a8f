"""The bwrap sandbox's seccomp filter: the system calls Docker's default profile also refuses.

Docker's default profile is an allowlist; this is the matching denylist of what a sandboxed
submission has no use for and what reaches across its walls: the kernel keyrings (state that
would outlive a sandbox), tracing and other processes' memory, BPF and perf, io_uring, user
faults, mounting and namespaces, modules, reboot, clocks, swap and accounting. A refused call
fails with EPERM, as under Docker, which the harness classifies as a sandbox violation.

The program is classic BPF (what `bwrap --seccomp FD` loads) built here, so no library is
needed: check the architecture, load the call number, compare. Other ABIs on the same machine
(x86's 32-bit and x32 calls) are refused outright.
"""

from __future__ import annotations

import errno
import platform
import struct

DENIED = (
    "acct", "add_key", "bpf", "chroot", "clock_adjtime", "clock_settime", "delete_module", "fanotify_init",
    "finit_module", "fsconfig", "fsmount", "fsopen", "fspick", "init_module", "io_uring_enter",
    "io_uring_register", "io_uring_setup", "kcmp", "kexec_file_load", "kexec_load", "keyctl",
    "lookup_dcookie", "mount", "mount_setattr", "move_mount", "move_pages", "name_to_handle_at",
    "nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open", "pidfd_getfd", "pivot_root",
    "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace", "quotactl", "reboot",
    "request_key", "setns", "settimeofday", "swapoff", "swapon", "syslog", "umount2", "unshare",
    "userfaultfd", "vhangup",
)
# Only on x86_64.
DENIED_X86_64 = ("create_module", "get_kernel_syms", "ioperm", "iopl", "query_module", "sysfs", "_sysctl", "uselib", "ustat")

# From the kernel's headers (asm/unistd_64.h; asm-generic/unistd.h for arm64).
_X86_64 = {
    "acct": 163, "add_key": 248, "bpf": 321, "chroot": 161, "clock_adjtime": 305, "clock_settime": 227,
    "create_module": 174, "delete_module": 176, "fanotify_init": 300, "finit_module": 313, "fsconfig": 431,
    "fsmount": 432, "fsopen": 430, "fspick": 433, "get_kernel_syms": 177, "init_module": 175,
    "io_uring_enter": 426, "io_uring_register": 427, "io_uring_setup": 425, "ioperm": 173, "iopl": 172,
    "kcmp": 312, "kexec_file_load": 320, "kexec_load": 246, "keyctl": 250, "lookup_dcookie": 212,
    "mount": 165, "mount_setattr": 442, "move_mount": 429, "move_pages": 279, "name_to_handle_at": 303,
    "nfsservctl": 180, "open_by_handle_at": 304, "open_tree": 428, "perf_event_open": 298,
    "pidfd_getfd": 438, "pivot_root": 155, "process_madvise": 440, "process_vm_readv": 310,
    "process_vm_writev": 311, "ptrace": 101, "query_module": 178, "quotactl": 179, "reboot": 169,
    "request_key": 249, "setns": 308, "settimeofday": 164, "swapoff": 168, "swapon": 167, "sysfs": 139,
    "_sysctl": 156, "syslog": 103, "umount2": 166, "unshare": 272, "uselib": 134, "userfaultfd": 323,
    "ustat": 136, "vhangup": 153,
}
_AARCH64 = {
    "acct": 89, "add_key": 217, "bpf": 280, "chroot": 51, "clock_adjtime": 266, "clock_settime": 112,
    "delete_module": 106, "fanotify_init": 262, "finit_module": 273, "fsconfig": 431, "fsmount": 432,
    "fsopen": 430, "fspick": 433, "init_module": 105, "io_uring_enter": 426, "io_uring_register": 427,
    "io_uring_setup": 425, "kcmp": 272, "kexec_file_load": 294, "kexec_load": 104, "keyctl": 219,
    "lookup_dcookie": 18, "mount": 40, "mount_setattr": 442, "move_mount": 429, "move_pages": 239,
    "name_to_handle_at": 264, "nfsservctl": 42, "open_by_handle_at": 265, "open_tree": 428,
    "perf_event_open": 241, "pidfd_getfd": 438, "pivot_root": 41, "process_madvise": 440,
    "process_vm_readv": 270, "process_vm_writev": 271, "ptrace": 117, "quotactl": 60, "reboot": 142,
    "request_key": 218, "setns": 268, "settimeofday": 170, "swapoff": 225, "swapon": 224, "syslog": 116,
    "umount2": 39, "unshare": 97, "userfaultfd": 282, "vhangup": 58,
}
# machine -> (AUDIT_ARCH_*, call numbers, calls at or above this number belong to another ABI)
_ARCHITECTURES = {
    "x86_64": (0xC000003E, _X86_64, 0x40000000),  # x32 calls carry bit 30
    "aarch64": (0xC00000B7, _AARCH64, None),
}

_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_OFFSET_NR, _OFFSET_ARCH = 0, 4


def denied_calls(machine: str | None = None) -> list[str]:
    machine = machine or platform.machine()
    return sorted(DENIED + (DENIED_X86_64 if machine == "x86_64" else ()))


def seccomp_program(machine: str | None = None) -> bytes | None:
    """The filter as `struct sock_filter` records for this machine, or None on an unknown one."""
    machine = machine or platform.machine()
    if machine not in _ARCHITECTURES:
        return None
    audit_arch, numbers, foreign_abi = _ARCHITECTURES[machine]
    calls = sorted({numbers[name] for name in denied_calls(machine)})
    deny = _RET_ERRNO | errno.EPERM
    body: list[tuple[int, int, int, int]] = [(_LD_W_ABS, 0, 0, _OFFSET_NR)]
    if foreign_abi is not None:
        body.append((_JGE_K, 0, 0, foreign_abi))  # jump target patched below
    body += [(_JEQ_K, 0, 0, number) for number in calls]
    body.append((_RET_K, 0, 0, _RET_ALLOW))
    # Every comparison jumps to the final "deny" on a match.
    deny_at = len(body)
    program = [(_LD_W_ABS, 0, 0, _OFFSET_ARCH), (_JEQ_K, 0, len(body), audit_arch)]
    for position, (code, jt, jf, k) in enumerate(body):
        if code in (_JEQ_K, _JGE_K):
            jt = deny_at - position - 1
            if jt > 255:
                raise ValueError("the seccomp filter grew past the reach of a BPF jump")
        program.append((code, jt, jf, k))
    program.append((_RET_K, 0, 0, deny))
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)
