"""The store's files are private: a new store file (and so its -wal and -shm, which SQLite
creates with the database's mode) is 0600 and directories remem creates for it are 0700.
Opening an existing store that others can read logs a warning (once per path)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("remem")
_warned: set[str] = set()


def private_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents as 0700 (existing ones are left as
    they are: they are the owner's choice)."""
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)  # whatever the umask


def private_file(path: Path) -> None:
    """Create an empty store file readable by its owner only, unless it exists; warn if
    an existing one (or its -wal / -shm) is readable by the group or others."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        _warn_if_open(path)
        return
    os.close(fd)


def _warn_if_open(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = p.stat().st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and mode & 0o077 and str(p) not in _warned:
            _warned.add(str(p))
            log.warning("store file %s is readable by other users (mode %s); "
                        "run: chmod 600 %s*", p, oct(mode & 0o777), path)
