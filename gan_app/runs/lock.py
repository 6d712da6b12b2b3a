"""One writer per run directory.

Whoever trains a run (the CLI's `train`, `train --resume`, the dashboard's live trainer) holds an
exclusive lock on `<run>/.writer.lock` with its process id inside. A second writer is refused
with one line, "DIR is being trained by process N". The lock is the kernel's (flock): it goes
away with the process, so a killed run never leaves a stale lock behind. The holder deletes the
file when it lets go, so a run directory looks the same after a refused or finished writer.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gan_app.core.errors import GanAppError, UsageError

LOCK_NAME = ".writer.lock"


class RunLocked(GanAppError):
    """Another process trains this run directory."""

    def __init__(self, run_dir: Path, pid: int | None) -> None:
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"{run_dir} is being trained by {who}")
        self.run_dir, self.pid = run_dir, pid


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class RunLock:
    """An exclusive lock on one run directory, held until `release()` or the process ends."""

    def __init__(self, run_dir: Path) -> None:
        """Take the lock (creating `run_dir` if needed); RunLocked when another writer has it."""
        self.dir = Path(run_dir)
        self.path = self.dir / LOCK_NAME
        while True:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise UsageError(f"cannot write to {self.dir} ({exc.strerror or exc}); a run is trained in a "
                                 "folder it can write to") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                os.close(fd)
                raise RunLocked(self.dir, pid) from None
            # The previous holder may have deleted the file between our open and our lock:
            # then we hold a lock on a file nobody else can see, so open it again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let go (idempotent); the lock file is removed while still locked."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only folder: the kernel still releases the lock below
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def writer_of(run_dir: Path) -> int | None:
    """The id of another process that trains `run_dir` now, or None (this process's own locks
    and a lock file left by a killed process do not count). Reads only; creates nothing."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        return None if pid == os.getpid() else (pid or -1)
    finally:
        os.close(fd)  # closing drops the probe's shared lock, if it got one
    return None


def check_free(run_dir: Path) -> None:
    """RunLocked with its one line when another process trains `run_dir`."""
    pid = writer_of(run_dir)
    if pid is not None:
        raise RunLocked(Path(run_dir), pid if pid > 0 else None)


class Ownership:
    """The writer lock of the one run directory a long-lived owner (the dashboard's trainer)
    trains at a time. Switching runs takes the new lock first and lets the old one go last, so a
    refused switch leaves the owner with its run and its lock."""

    def __init__(self) -> None:
        self.held: RunLock | None = None

    def take(self, run_dir: Path | None) -> RunLock | None:
        """The lock of `run_dir`: the one held already, or a new one; RunLocked if another
        process has it. None for no directory."""
        if run_dir is None:
            return None
        if self.held is not None and self.held.dir == Path(run_dir):
            return self.held
        return RunLock(run_dir)

    def keep(self, lock: RunLock | None) -> None:
        """`lock` becomes the one held; the previous one is released."""
        if lock is not self.held and self.held is not None:
            self.held.release()
        self.held = lock

    def drop(self, lock: RunLock | None) -> None:
        """Release a lock taken for a run that did not open (never the one held)."""
        if lock is not None and lock is not self.held:
            lock.release()
