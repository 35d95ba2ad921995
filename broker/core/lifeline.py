"""Processes that end with their parent: a supervisor killed with SIGKILL leaves nothing serving.

Linux's PR_SET_PDEATHSIG sends a signal to a process when the thread that forked it dies; SIGTERM then
stops the child the same clean way as a normal shutdown, and the child in turn stops its own children.
"""
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1

# Loaded once at import: a preexec function runs between fork and exec and should not dlopen.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies; False where that is not available.

    With `parent_pid`, a parent that already died before the request took effect (nobody would send the
    signal any more) is noticed and the signal sent at once.
    """
    if _libc is None or _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
    return True


def preexec_die_with(parent_pid: int):
    """A `preexec_fn` for subprocess.Popen (from a single-threaded parent) that ties the child to `parent_pid`."""
    def preexec():
        die_with_parent(parent_pid)
    return preexec
