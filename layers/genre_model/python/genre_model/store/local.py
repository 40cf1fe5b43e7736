"""Artifacts in a local directory, and the spec's ``MODELO_GENERO_ENTRENADO`` model path with
its atomic, symlink-switched publish."""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from genre_model.contract import (
    CUSTOMERS_FILE,
    MANIFEST,
    METRICS_FILE,
    MODEL_FILE,
    POINTER,
    PREDICTOR_FILE,
    REPORT_FILE,
    REPORT_PICTURE,
    ContractError,
    Pointer,
)
from genre_model.store.protocol import (
    ArtifactError,
    ArtifactNotFound,
    PointerConflict,
    Store,
    StoreUnavailable,
    json_object,
    sha256,
)
from genre_model.store.registry import Registry


class DirStore:
    """Artifacts in a local directory; each file is written to a temporary name then renamed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.deadline: float | None = None

    def get(self, key: str, *, follow: bool = True) -> bytes:
        """The file's bytes; a directory, FIFO or unreadable file at the path is an error, and
        so is a symlink unless ``follow``."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise StoreUnavailable(f"{self.url(key)}: deadline passed before the read", "Deadline")
        path = self.root / key
        opener = _regular_file_opener if follow else _regular_file_nofollow_opener
        try:
            with open(path, "rb", opener=opener) as fh:
                return fh.read()
        except FileNotFoundError:
            raise ArtifactNotFound(f"not found: {self.url(key)}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
                raise ArtifactError(f"{self.url(key)} is a symlink: refusing to use it") from None
            raise ArtifactError(f"cannot read {self.url(key)}: {exc.strerror or exc}") from None

    def put(self, key: str, data: bytes) -> None:
        try:
            atomic_write(self.root / key, data)
        except OSError as exc:  # full disk, a file where a folder must be, no permission
            raise ArtifactError(f"cannot write {self.url(key)}: {exc.strerror or exc}") from None

    def get_if_changed(self, key: str, tag: str | None) -> tuple[bytes | None, str | None]:
        """``(body, sha256)``, or ``(None, tag)`` when the bytes still hash to ``tag``."""
        data = self.get(key)
        digest = sha256(data)
        return (None, tag) if digest == tag else (data, digest)

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """``(body, sha256)``, or ``(None, None)`` when the file does not exist.

        This is the pointer's read (promotion checks, compare-and-swap): a symlink there, even
        to a regular file such as another store's pointer, is refused and left untouched.
        """
        try:
            data = self.get(key, follow=False)
        except ArtifactNotFound:
            return None, None
        return data, sha256(data)

    def put_if(self, key: str, data: bytes, expected: str | None) -> None:
        """Replace the file only if its SHA-256 is still ``expected`` (``None``: only if absent).

        Read-compare-replace runs under an exclusive ``flock`` on ``.<name>.lock`` beside it, so
        concurrent writers (threads or processes) are serialised; the lock dies with its holder.
        """
        import fcntl

        path = self.root / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = path.with_name(f".{path.name}.lock")
            lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise ArtifactError(f"cannot lock {self.url(key)}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.get_tagged(key)[1]
            if current != expected:
                raise PointerConflict(f"{self.url(key)} changed while promoting")
            self._replace_locked(key, data)
        finally:
            os.close(lock)  # releases the flock

    def _replace_locked(self, key: str, data: bytes) -> None:
        """The write ``put_if`` makes once the compare passed, still holding the lock."""
        self.put(key, data)

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)).replace(os.sep, "/")
            for p in base.rglob("*")
            if p.is_file()
        )

    def url(self, key: str) -> str:
        return str(self.root / key)


def _regular_file_nofollow_opener(path: str, flags: int) -> int:
    """``_regular_file_opener`` that also refuses a symlink (``ELOOP``) instead of following it."""
    return _regular_file_opener(path, flags | os.O_NOFOLLOW)


def _regular_file_opener(path: str, flags: int) -> int:
    """Open without blocking on a FIFO, then refuse anything that is not a regular file."""
    fd = os.open(path, flags | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the model is read by other users (containers)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


READER_FILES = (MANIFEST, PREDICTOR_FILE, CUSTOMERS_FILE, MODEL_FILE, REPORT_FILE)
# Each gets a fixed link at the model path; the manifest comes last when links are first made.
# A version published before reports leaves <stem>.report.* dangling: read as absent.
LINKED_FILES = (
    MODEL_FILE,
    PREDICTOR_FILE,
    CUSTOMERS_FILE,
    METRICS_FILE,
    REPORT_FILE,
    REPORT_PICTURE,
    MANIFEST,
)
_FILE_KINDS = {
    stat.S_IFREG: "a regular file",
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class LocalModelPath:
    """The spec's ``MODELO_GENERO_ENTRENADO`` file and its companions ``<stem>.<name>`` beside it.

    Versions are written under ``<stem>.versions/<version>/``. Readers use symlinks that never
    change: the pickle at exactly the configured path and each companion point into
    ``<stem>.current/``, itself a symlink to the promoted version's folder. Promoting swaps
    ``<stem>.current`` with ONE ``os.replace``, under the pointer's lock and after the files were
    verified: every reader path changes at once, and a failure leaves them as they were. Anything
    else at a reader path (a FIFO, a device, a directory, a foreign symlink) is refused untouched.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.current = self.path.with_name(f"{self.path.stem}.current")
        self.registry = Registry(_ModelPathStore(self), "")

    @property
    def versions(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.versions")

    def companion(self, name: str) -> Path:
        if name == MODEL_FILE:
            return self.path
        return self.path.with_name(f"{self.path.stem}.{name}")

    def _link_target(self, name: str) -> str:
        return f"{self.current.name}/{name}"

    def check(self) -> None:
        """Raise ``ArtifactError`` unless publishing here can succeed without touching anything
        that is not ours (run before training, and again under the lock before the swap)."""
        for parent in self.path.parents:
            try:
                mode = parent.lstat().st_mode
            except (FileNotFoundError, NotADirectoryError):  # look further up
                continue
            except OSError as exc:
                raise ArtifactError(f"model path {self.path}: {parent}: {exc.strerror}") from None
            if not stat.S_ISDIR(mode) and not (
                stat.S_ISLNK(mode) and parent.is_dir()
            ):  # a folder or a symlink to one
                raise ArtifactError(f"model path {self.path}: {parent} is not a directory")
            break
        self._check_entry(self.versions, directory=True)
        self._check_entry(self.current, link_target=None)
        for name in LINKED_FILES:
            self._check_entry(self.companion(name), link_target=self._link_target(name))

    def _check_entry(
        self, path: Path, *, link_target: str | None = None, directory: bool = False
    ) -> None:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ArtifactError(f"cannot inspect {path}: {exc.strerror}") from None
        kind = stat.S_IFMT(mode)
        if directory:
            if kind != stat.S_IFDIR:
                raise ArtifactError(f"{path} must be a directory: refusing to publish there")
            return
        if kind == stat.S_IFLNK:
            target = os.readlink(path)
            if path == self.current and target.startswith(f"{self.versions.name}/"):
                return
            if target == link_target:
                return
            raise ArtifactError(f"{path} is a symlink to {target}: refusing to replace it")
        if kind != stat.S_IFREG or path == self.current:
            what = _FILE_KINDS.get(kind, "not a regular file or symlink")
            raise ArtifactError(f"{path} is {what}: refusing to replace it")

    def switch_to(self, version: str, previous: str | None) -> Callable[[], None]:
        """Make every reader path show ``version``; returns the undo (caller holds the lock).

        ``previous``: the version served now. When ``<stem>.current`` does not exist yet (a model
        path from before this layout, regular files copied from ``previous``) it is first made to
        point at ``previous``, so replacing those files by links changes no byte a reader sees.
        """
        self.check()
        if not _plain_name(version) or not (self.versions / version).is_dir():
            raise ArtifactError(f"version folder {self.versions / version} is missing")
        before = os.readlink(self.current) if self.current.is_symlink() else None
        if before is None and _plain_name(previous) and (self.versions / str(previous)).is_dir():
            before = f"{self.versions.name}/{previous}"
            _swap_symlink(self.current, before)
        for name in LINKED_FILES:
            link = self.companion(name)
            if not link.is_symlink():
                _swap_symlink(link, self._link_target(name))
        _swap_symlink(self.current, f"{self.versions.name}/{version}")

        def undo() -> None:
            if before is None:
                self.current.unlink(missing_ok=True)
            else:
                _swap_symlink(self.current, before)

        return undo

    def store(self) -> tuple[Store, Callable[[], dict[str, str]]]:
        """A store over the model path's folder and, per load, the key of each file name.

        ``<stem>.current`` is resolved ONCE per call, so the files of one load all come from the
        same version even when a publish swaps it meanwhile. Without it (companions copied by
        hand) the companions themselves are read.
        """

        def keys() -> dict[str, str]:
            try:
                target = os.readlink(self.current)
            except OSError:
                return {name: self.companion(name).name for name in READER_FILES}
            return {name: f"{target}/{name}" for name in READER_FILES}

        return DirStore(self.path.parent), keys


class _ModelPathStore(DirStore):
    """The versions folder of a ``LocalModelPath``: moving its pointer also switches the files
    readers use, inside the same lock, and puts them back if the pointer cannot be written."""

    def __init__(self, local: LocalModelPath) -> None:
        super().__init__(local.versions)
        self.local = local

    def _replace_locked(self, key: str, data: bytes) -> None:
        if key != POINTER:
            super()._replace_locked(key, data)
            return
        previous = _pointer_version(self.get_tagged(POINTER)[0])
        try:
            undo = self.local.switch_to(Pointer.from_json(json.loads(data)).version, previous)
        except OSError as exc:
            raise ArtifactError(f"cannot publish to {self.local.path}: {exc.strerror}") from None
        try:
            super()._replace_locked(key, data)
        except BaseException:
            undo()
            raise


def _plain_name(version: str | None) -> bool:
    """A version name that stays inside the versions folder (no separator, not hidden)."""
    return bool(version) and "/" not in str(version) and not str(version).startswith(".")


def _pointer_version(data: bytes | None) -> str | None:
    """The version a pointer's bytes name, or None when there is none or it is broken."""
    if data is None:
        return None
    try:
        return Pointer.from_json(json_object(data, POINTER)).version
    except (ArtifactError, ContractError):
        return None


def _swap_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` in one ``os.replace`` (a temporary link renamed over it)."""
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a crash
    finally:
        os.close(fd)
