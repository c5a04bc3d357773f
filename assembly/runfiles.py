"""The files under a cluster's `run/` directory: what each role should be and is.

Written by `dsql cluster` commands, the supervisor and the nodes themselves
(`assembly.launcher` explains who writes which); read by all of them and by
`assembly.probe`. Writes are atomic (a temporary file renamed over the old).
"""

from __future__ import annotations

import os

from assembly.config import ClusterSpec, RoleSpec


def run_path(spec: ClusterSpec, name: str) -> str:
    return os.path.join(spec.run_dir(), name)


def read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def write(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_int(path: str) -> int | None:
    text = read(path)
    try:
        return int(text) if text else None
    except ValueError:
        return None


def want_of(spec: ClusterSpec, role: RoleSpec) -> str:
    return read(run_path(spec, f"{role.name}.want")) or "up"


def set_want(spec: ClusterSpec, role: RoleSpec, want: str) -> None:
    write(run_path(spec, f"{role.name}.want"), want)


def pid_of(spec: ClusterSpec, role: RoleSpec) -> int | None:
    return read_int(run_path(spec, f"{role.name}.pid"))


def ready_pid(spec: ClusterSpec, role: RoleSpec) -> int | None:
    return read_int(run_path(spec, f"{role.name}.ready"))


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (dead, not yet reaped by its supervisor) is not alive.
    status = read(f"/proc/{pid}/stat")
    return not (status and status.rsplit(")", 1)[-1].split()[0] in ("Z", "X"))


def is_ready(spec: ClusterSpec, role: RoleSpec) -> bool:
    pid = pid_of(spec, role)
    return pid is not None and ready_pid(spec, role) == pid and alive(pid)


def supervisor_pid(spec: ClusterSpec) -> int | None:
    pid = read_int(run_path(spec, "supervisor.pid"))
    return pid if alive(pid) else None


def state_of(spec: ClusterSpec, role: RoleSpec) -> str:
    pid = pid_of(spec, role)
    want = want_of(spec, role)
    if want == "down":
        return "killed" if not alive(pid) else "stopping"
    if not alive(pid):
        return "restarting" if supervisor_pid(spec) else "stopped"
    if want == "paused":
        return "paused"
    return "up" if ready_pid(spec, role) == pid else "starting"


def restarts_of(spec: ClusterSpec, role: RoleSpec) -> int:
    return read_int(run_path(spec, f"{role.name}.restarts")) or 0
