"""Which process owns a claimed piece of work (an index build, a training run), so that a claim
left behind by a process that died on this machine is taken over at once instead of after a
time-out. A claim from another machine can only be judged by its time-out."""

from __future__ import annotations

import os
import socket


def owner_token() -> str:
    """``<host>:<pid>`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_gone(token: str) -> bool:
    """True when ``token`` names a process of this machine that no longer runs."""
    host, _, pid = token.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False
