"""Pipeline processes the harness owns: start, kill -9, stop gracefully, restart; logs to files.

Each process runs in its own session (``start_new_session``), so its process group id is its pid
and a kill reaches the children it started, and nothing else. The harness only ever signals the
pids it started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from iiot.harness.errors import ProcessError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessNote:
    """Something that happened to a process: started, killed, stopped, exited on its own."""

    wall: float
    name: str
    what: str
    detail: str = ""


@dataclass(slots=True)
class ManagedProcess:
    """One subprocess with its command, environment and log file; restartable with the same setup."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path | None = None
    notes: list[ProcessNote] = field(default_factory=list)
    clock: Callable[[], float] = time.time
    _popen: subprocess.Popen[bytes] | None = None
    _expected_exit: bool = False

    @property
    def pid(self) -> int | None:
        """The pid of the current incarnation, if started."""
        return self._popen.pid if self._popen else None

    def running(self) -> bool:
        """Whether the current incarnation is alive."""
        return self._popen is not None and self._popen.poll() is None

    def _note(self, what: str, detail: str = "") -> None:
        self.notes.append(ProcessNote(self.clock(), self.name, what, detail))
        log.info("%s: %s %s", self.name, what, detail)

    def start(self) -> None:
        """Start a new incarnation (the log is appended to)."""
        if self.running():
            raise ProcessError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            out.write(f"\n==== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
            out.flush()
            try:
                self._popen = subprocess.Popen(
                    list(self.argv),
                    env=dict(self.env),
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ProcessError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        self._expected_exit = False
        self._note("started", f"pid {self._popen.pid}")

    def _signal(self, sig: signal.Signals) -> None:
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, sig)  # its own session: pgid == pid

    def kill(self) -> None:
        """kill -9 the process group, as a crash or power loss would."""
        popen = self._popen
        if popen is None or popen.poll() is not None:
            self._note("kill skipped", "not running")
            return
        self._expected_exit = True
        self._signal(signal.SIGKILL)
        popen.wait()
        self._note("killed", "SIGKILL")

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; return the exit status."""
        if self._popen is None:
            return None
        if self._popen.poll() is not None:
            return self._popen.returncode
        self._expected_exit = True
        self._signal(signal.SIGTERM)
        try:
            code = self._popen.wait(timeout=timeout_s)
            self._note("stopped", f"exit {code}")
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            code = self._popen.wait()
            self._note("stopped", f"SIGKILL after {timeout_s:g} s")
        return code

    def restart(self) -> None:
        """Start again after a kill or exit, with the same command, environment and state."""
        if self.running():
            self._note("start skipped", "already running")
            return
        self.start()

    def unexpected_exit(self) -> int | None:
        """The exit status if the process ended without the harness asking (reported once)."""
        if self._popen is None or self._expected_exit:
            return None
        code = self._popen.poll()
        if code is None:
            return None
        self._expected_exit = True
        self._note("exited", f"status {code} on its own")
        return code

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's log."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 32 * 1024))
                text = f.read().decode(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        return "\n".join(text.splitlines()[-lines:])


class ProcessSet:
    """The run's processes by name; stopping the set stops every one, whatever failed before."""

    def __init__(self, stop_timeout_s: float = 20.0) -> None:
        self._procs: dict[str, ManagedProcess] = {}
        self.stop_timeout_s = stop_timeout_s

    def add(self, process: ManagedProcess) -> ManagedProcess:
        """Register (not start) a process."""
        if process.name in self._procs:
            raise ProcessError(f"two processes named {process.name}")
        self._procs[process.name] = process
        return process

    def __getitem__(self, name: str) -> ManagedProcess:
        try:
            return self._procs[name]
        except KeyError as exc:
            raise ProcessError(f"no process named {name!r} (have {', '.join(self._procs)})") from exc

    def __iter__(self) -> Iterator[ManagedProcess]:
        return iter(list(self._procs.values()))

    def named(self, prefix: str) -> list[ManagedProcess]:
        """Processes whose name starts with ``prefix``."""
        return [p for p in self._procs.values() if p.name.startswith(prefix)]

    def notes(self) -> list[ProcessNote]:
        """Every note of every process, in time order."""
        return sorted((n for p in self._procs.values() for n in p.notes), key=lambda n: n.wall)

    def stop(self, names: Sequence[str] | None = None) -> None:
        """Stop the named processes (all by default); every one is tried."""
        chosen = (
            list(self._procs.values())
            if names is None
            else [self._procs[n] for n in names if n in self._procs]
        )
        for process in chosen:
            try:
                process.stop(self.stop_timeout_s)
            except Exception as exc:  # keep stopping the others
                log.error("stopping %s failed: %s", process.name, exc)

    def __enter__(self) -> ProcessSet:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
