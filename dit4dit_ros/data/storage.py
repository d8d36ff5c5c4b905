"""The filesystem seam of the recorder: every byte of an episode goes through a `FileSystem`.

Why a seam: a disk that fills up during an episode must give a clear error and leave earlier episodes
intact, and that has to be testable without filling a real disk. `FaultInjectingFileSystem` is a real file
system that raises OSError(ENOSPC) once a byte budget is spent, at exactly the point where the kernel would.

Durability: metadata files are written to a temporary name, fsync'ed and renamed over the target
(`write_atomic`), and directories are fsync'ed after a rename, so a crash leaves either the old or the new
file, never a torn one.
"""
from __future__ import annotations

import errno
import io
import os
import shutil
from pathlib import Path
from typing import BinaryIO


class StorageError(OSError):
    """A recording could not be written; the message names the path and what to do."""

    def __str__(self) -> str:
        return str(self.strerror)


def describe_os_error(path: Path | str, exc: OSError, action: str = "write to") -> str:
    """A one-line explanation of `exc` for an operator (disk full, permissions, read-only, ...)."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        reason = "the disk is full (no space left on device); free space or choose another output directory"
    elif code in (errno.EACCES, errno.EPERM):
        reason = "permission denied; choose a directory this user can write"
    elif code == errno.EROFS:
        reason = "the file system is read-only; choose a writable output directory"
    elif code == errno.ENOTDIR:
        reason = "a path component is a file, not a directory"
    elif code == errno.ENOENT:
        reason = "a parent directory does not exist"
    else:
        reason = os.strerror(code) if code else str(exc)
    return f"cannot {action} {path}: {reason} [{errno.errorcode.get(code, code)}]"


def storage_error(path: Path | str, exc: OSError, action: str = "write to") -> StorageError:
    err = StorageError(exc.errno or errno.EIO, describe_os_error(path, exc, action))
    err.filename = str(path)
    return err


class FileSystem:
    """Real file operations used by the episode store and the bag writer (overridable for fault injection)."""

    def wrap_bag_file(self, fileobj: BinaryIO) -> BinaryIO:
        """Hook around the open bag data file; the real file system returns it unchanged."""
        return fileobj

    def write_atomic(self, path: Path, data: bytes) -> None:
        """Write `data` to `path` atomically (temp file + fsync + rename + fsync of the directory)."""
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            self._write_all(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.fsync_dir(path.parent)

    def _write_all(self, f: BinaryIO, data: bytes) -> None:
        f.write(data)

    def rename(self, src: Path, dst: Path) -> None:
        """Atomic rename within one file system; refuses to replace an existing target."""
        if dst.exists():
            raise FileExistsError(errno.EEXIST, f"{dst} exists already", str(dst))
        os.rename(src, dst)
        self.fsync_dir(dst.parent)
        if src.parent != dst.parent:
            self.fsync_dir(src.parent)

    def fsync_file(self, path: Path) -> None:
        with open(path, "rb") as f:
            os.fsync(f.fileno())

    def fsync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def mkdir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)

    def remove_tree(self, path: Path) -> None:
        shutil.rmtree(path)

    def free_bytes(self, path: Path) -> int:
        return shutil.disk_usage(path).free


class _BudgetedFile(io.RawIOBase):
    """A writable file that raises ENOSPC when its file system's byte budget is exhausted (partial write first)."""

    def __init__(self, inner: BinaryIO, fs: "FaultInjectingFileSystem") -> None:
        super().__init__()
        self._inner = inner
        self._fs = fs

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        allowed = self._fs.take(len(data))
        if allowed < len(data):
            if allowed:
                self._inner.write(bytes(memoryview(data)[:allowed]))
                self._inner.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), getattr(self._inner, "name", None))
        return self._inner.write(data)

    def tell(self) -> int:
        return self._inner.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def flush(self) -> None:
        if not self._inner.closed:
            self._inner.flush()

    def fileno(self) -> int:
        return self._inner.fileno()

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().close()  # flushes
        finally:
            self._inner.close()


class FaultInjectingFileSystem(FileSystem):
    """A real file system with a byte budget: writes beyond `budget_bytes` fail with OSError(ENOSPC).

    Counts the bytes of bag data and metadata files together, like a small partition would, and reports
    `free_bytes` from the remaining budget so the recorder's free-space check sees the same "disk".
    """

    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes < 0:
            raise ValueError(f"budget_bytes must be >= 0, got {budget_bytes}")
        self.remaining = budget_bytes

    def take(self, n: int) -> int:
        allowed = max(0, min(n, self.remaining))
        self.remaining -= allowed
        return allowed

    def wrap_bag_file(self, fileobj: BinaryIO) -> BinaryIO:
        return _BudgetedFile(fileobj, self)  # type: ignore[return-value]

    def _write_all(self, f: BinaryIO, data: bytes) -> None:
        allowed = self.take(len(data))
        f.write(data[:allowed])
        if allowed < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), getattr(f, "name", None))

    def free_bytes(self, path: Path) -> int:
        return self.remaining
