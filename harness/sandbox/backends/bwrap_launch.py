"""Start bwrap inside the sandbox's limits (run as a script, standard library only).

    python -I -S bwrap_launch.py [--cgroup-procs FILE]... --seccomp FILTER_FILE -- bwrap ARGS...

Before it becomes bwrap (exec: same process), it

- joins the sandbox's cgroups, so every process of the sandbox starts inside their limits;
- joins a fresh, empty session keyring: the kernel keyring is per login session and every
  process started by the harness would otherwise share the harness's, a place where state could
  outlive a sandbox (the seccomp filter refuses the keyring calls inside as well);
- opens the seccomp filter on a descriptor bwrap inherits; `{seccomp_fd}` in ARGS becomes it.

Exit code 125: the launcher itself failed (the message says why).
"""

import ctypes
import os
import platform
import sys

KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_JOIN_SESSION_KEYRING = 1


def fail(message):
    sys.stderr.write(f"bwrap launcher: {message}\n")
    sys.exit(125)


def join_fresh_session_keyring():
    number = KEYCTL.get(platform.machine())
    if number is None:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    # A NULL name: a new anonymous keyring. Where keyrings are unavailable the filter still denies them.
    libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None)


def main(argv):
    if "--" not in argv:
        fail("usage: bwrap_launch.py [--cgroup-procs FILE]... --seccomp FILE -- bwrap ARGS...")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    procs, seccomp = [], None
    while options:
        flag = options.pop(0)
        if not options:
            fail(f"{flag} needs a value")
        value = options.pop(0)
        if flag == "--cgroup-procs":
            procs.append(value)
        elif flag == "--seccomp":
            seccomp = value
        else:
            fail(f"unknown option {flag}")
    for path in procs:
        try:
            with open(path, "w") as handle:
                handle.write(str(os.getpid()))
        except OSError as error:
            fail(f"cannot join the cgroup {path}: {error}")
    join_fresh_session_keyring()
    if seccomp is not None:
        try:
            descriptor = os.open(seccomp, os.O_RDONLY)
        except OSError as error:
            fail(f"cannot open the seccomp filter {seccomp}: {error}")
        os.set_inheritable(descriptor, True)
        command = [part.replace("{seccomp_fd}", str(descriptor)) for part in command]
    try:
        os.execvp(command[0], command)
    except OSError as error:
        fail(f"cannot start {command[0]}: {error}")


if __name__ == "__main__":
    main(sys.argv[1:])
