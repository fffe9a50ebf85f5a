"""Whether a process still exists, for what outlives the process that made it: a job row
of a server that stopped, a parser's scratch folder of a parent killed outright."""

from __future__ import annotations

import os

__all__ = ["alive"]


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's too). A pid reused since counts
    as alive: callers leave its things alone, the safe side."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
