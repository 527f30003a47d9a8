"""A Snakemake lock left by a run that is provably gone, removed so that rerunning the same
command is enough after a kill (SIGKILL, a lost session, a reboot).

Snakemake locks the working folder (`.snakemake/locks/<n>.{input,output}.lock`) and removes
the lock when it ends; a killed Snakemake leaves it, and the next run stops with "Directory
cannot be locked" until someone runs `snakemake --unlock`. Snakemake does not record who holds
a lock, so every real run of this workflow records itself beside its lock
(`fi-owner.<pid>.json`: host, boot, pid, process start time) when it starts. A lock is stale
only when every recorded owner ran on this machine and is no longer running (its pid is gone,
belongs to a later process, or the machine rebooted since). A lock with no owner record, or
with an owner on another host (a shared file system), is left to Snakemake's own refusal.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from pathlib import Path

LOCKS = Path(".snakemake") / "locks"
OWNER_PREFIX = "fi-owner."


def _boot_id() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return ""


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (None: no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _me() -> dict[str, object]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid,
            "start": _start_time(pid)}


def record_owner(locks: Path = LOCKS) -> None:
    """Note this process as a holder of the lock (called when a real run starts)."""
    locks.mkdir(parents=True, exist_ok=True)
    owner = locks / f"{OWNER_PREFIX}{os.getpid()}.json"
    tmp = owner.with_name(f".{owner.name}.tmp")
    tmp.write_text(json.dumps(_me()))
    os.replace(tmp, owner)


def _gone(owner: object) -> bool:
    """Whether an owner record names a process of this machine that is no longer running."""
    if not isinstance(owner, dict):
        return False
    me = _me()
    if owner.get("host") != me["host"] or not isinstance(owner.get("pid"), int):
        return False
    if owner.get("boot") != me["boot"]:
        return bool(me["boot"])  # the machine rebooted since: nothing of that run survives
    start = _start_time(owner["pid"])
    return start is None or start != owner.get("start")


def clear_if_stale(locks: Path = LOCKS) -> str | None:
    """Remove the lock folder when its lock is provably stale; the line to print, or None."""
    try:
        entries = list(locks.iterdir())
    except OSError:
        return None
    if not any(entry.name.endswith(".lock") for entry in entries):
        return None
    owners = [entry for entry in entries if entry.name.startswith(OWNER_PREFIX)]
    if not owners:
        return None
    for path in owners:
        try:
            record = json.loads(path.read_text()[:10_000])
        except (OSError, ValueError):
            return None
        if not _gone(record):
            return None
    shutil.rmtree(locks, ignore_errors=True)
    return ("fi-pipeline: removed the lock left by a Snakemake run of this folder that is no "
            "longer running (killed); continuing")
