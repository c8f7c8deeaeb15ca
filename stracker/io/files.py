"""Files on disk: suffixes, atomic writes, GeoPackage layers, the layer to read, errors that name the file."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stracker.errors import (
    FileFormatError,
    FootprintsError,
    InputFileNotFoundError,
    LabelsError,
    OutputExistsError,
    OutputWriteError,
)
from stracker.labels import closest_hint

__all__ = [
    "CSV_SUFFIXES",
    "MANIFEST_FORMAT",
    "PARQUET_SUFFIXES",
    "STALE_SECONDS",
    "TEMP_MARK",
    "about",
    "atomic_directory",
    "atomic_path",
    "atomic_paths",
    "check_input",
    "check_listed",
    "check_manifest",
    "choose_layer",
    "file_digest",
    "full_disk",
    "geoparquet_geometry",
    "manifest_text",
    "output_directory",
    "same_files",
    "stale_temporaries",
    "sweep_temporaries",
    "temporary_name",
    "write_error",
    "write_geopackage",
    "write_layers",
    "write_layers_at",
]


CSV_SUFFIXES = (".csv", ".tsv", ".txt")
"""Suffixes read as delimited text."""
PARQUET_SUFFIXES = (".parquet", ".geoparquet", ".pq")
"""Suffixes read as (Geo)Parquet."""


@contextmanager
def about(path: Path) -> Iterator[None]:
    """Prefix the file's name to the package's plain errors raised inside, so a message says which file.

    Yields
    ------
    None
        The body runs inside; only the errors it raises are changed.
    """
    try:
        yield
    except (LabelsError, FootprintsError, FileFormatError) as exc:
        if type(exc) in (LabelsError, FootprintsError, FileFormatError) and not str(exc).startswith(str(path)):
            raise type(exc)(f"{path}: {exc}") from exc
        raise


def check_input(path: Path) -> None:
    """Refuse an input that is not there (:class:`~stracker.errors.InputFileNotFoundError`) or is a file of 0
    bytes (:class:`~stracker.errors.FileFormatError`), naming it.

    Examples
    --------
    >>> check_input(Path("no-such-answers.csv"))
    Traceback (most recent call last):
    ...
    stracker.errors.InputFileNotFoundError: no-such-answers.csv does not exist ...
    """
    if not path.exists():
        where = "" if path.is_absolute() else f" (a relative path, read from {Path.cwd()})"
        raise InputFileNotFoundError(f"{path} does not exist{where}; check the path and the file's name.")
    if path.is_file() and path.stat().st_size == 0:
        raise FileFormatError(f"{path} is empty (0 bytes).")


def choose_layer(path: Path, layer: str | None) -> str:
    """The layer to read: the one named, else the only one, else 'buildings', else the only spatial one."""
    import pyogrio

    check_input(path)
    try:
        layers = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise FileFormatError(
            f"{path} is not a file stracker reads: not CSV (.csv, .tsv, .txt), Parquet (.parquet) or a vector "
            f"format GDAL knows ({str(exc).strip()})."
        ) from exc
    names = [str(name) for name, _ in layers]
    if layer is not None:
        if layer not in names:
            raise FileFormatError(f"{path} has no layer {layer!r}{closest_hint(layer, tuple(names))}; it has {names}.")
        return layer
    if len(names) == 1:
        return names[0]
    if "buildings" in names:
        return "buildings"
    spatial = [str(name) for name, kind in layers if kind is not None]
    if len(spatial) == 1:
        return spatial[0]
    if not names:
        raise FileFormatError(f"{path} holds no layers.")
    raise FileFormatError(f"{path} holds several layers {names}; choose one with layer= (--layer on the command line).")


def geoparquet_geometry(path: Path) -> str | None:
    """Name of the primary geometry column of a GeoParquet file, None for plain Parquet."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if b"geo" not in meta:
        return None
    return json.loads(meta[b"geo"]).get("primary_column", "geometry")


# GDAL stamps a GeoPackage with the time of writing; a fixed stamp keeps the same data byte-identical.
_GPKG_TIMESTAMP = "2017-10-17T00:00:00Z"
# GeoPackage 1.2 holds everything stracker writes and opens without a warning in older GDAL (QGIS LTR, Debian's
# ogrinfo); newer GDAL would stamp 1.4 by default.
_GPKG_VERSION = "1.2"


# ---------------------------------------------------------------------------------------------------------------
# Atomic outputs.
#
# Every output is written to a hidden temporary name beside it, then renamed into place: a reader sees the old
# file or the new one, never half of one. Several outputs written together (a consensus as GeoParquet and its
# three siblings, a simulation folder) are all written to temporary names first and renamed one after another
# only once every one of them is complete; each multi-file result carries a stamp that ties its parts together
# (a run id in every part, or a manifest of checksums) so that readers refuse parts of different runs.
#
# Temporary names say whose they are: ``.<name>.stracker-tmp-<pid>-<host>-<random><suffix>`` (the target's
# suffix kept, for format drivers). SIGTERM and SIGHUP during a write remove them (Ctrl-C, an exception and a
# full disk remove them on the way out); a kill -9 cannot, so the next write of the same output sweeps away the
# temporary files of processes that are gone, or of any process after STALE_SECONDS without a change.
# ---------------------------------------------------------------------------------------------------------------

TEMP_MARK = ".stracker-tmp-"
"""What every temporary file of stracker has in its name."""
STALE_SECONDS = 15 * 60
"""A temporary file untouched for this long is stale even if its process seems alive (a reused pid, another
machine on a shared disk)."""
# GDAL's SQLite driver keeps these beside a GeoPackage while it writes
_JOURNALS = ("-journal", "-wal", "-shm")
_HOST = f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"
_TEMP_RE = re.compile(r"\.stracker-(?P<kind>tmp|old)-(?P<pid>\d+)-(?P<host>[0-9a-f]{4})-[0-9a-f]{8}")
_OLD_MARK = ".stracker-old-"  # a directory moved aside by atomic_directory until the new one is in place
# the names of the atomic writes before run ids: .<stem>.<8 hex>.tmp<suffix>
_OLD_TEMP_RE = re.compile(r"\.[0-9a-f]{8}\.tmp")

_active: dict[Path, None] = {}  # temporary files of this process now being written, in order
_handlers: dict[int, Any] = {}  # signal -> the handler ours replaced, while writes are under way
_deferred: list[int] = []  # signals that arrived while outputs were being renamed into place
_renaming = 0
_lock = threading.RLock()
_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


def temporary_name(target: Path) -> Path:
    """The hidden temporary path a write of ``target`` uses: this process's, recognisable, unique.

    Examples
    --------
    >>> name = temporary_name(Path("out/consensus.gpkg")).name
    >>> name.startswith(".consensus.gpkg.stracker-tmp-"), name.endswith(".gpkg")
    (True, True)
    """
    return target.with_name(f".{target.name}{TEMP_MARK}{os.getpid()}-{_HOST}-{uuid.uuid4().hex[:8]}{target.suffix}")


def _old_name(target: Path) -> Path:
    return target.with_name(f".{target.name}{_OLD_MARK}{os.getpid()}-{_HOST}-{uuid.uuid4().hex[:8]}{target.suffix}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a leftover of this pid that is not being written now: an earlier process's
    if os.name == "nt":
        return True  # os.kill(pid, 0) would end the process there: leave it to the age rule
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _modified(path: Path) -> float:
    """Last change of a file, or of anything in a directory."""
    stamps = [path.lstat().st_mtime]
    if path.is_dir() and not path.is_symlink():
        stamps += [p.lstat().st_mtime for p in path.rglob("*")]
    return max(stamps)


def stale_temporaries(target: str | Path, now: float | None = None) -> list[Path]:
    """Temporary files of writes of ``target`` that no live writer owns: left by a kill -9 or a crash.

    A temporary file is stale if its process (named in it) is gone from this machine, or if it has not changed
    for :data:`STALE_SECONDS`. The files of writes under way are never stale.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "consensus.gpkg"
    >>> mine = temporary_name(target)
    >>> _ = mine.write_bytes(b"half")  # a temporary file of this process, but no write of it is under way
    >>> dead = mine.with_name(mine.name.replace(f"-{os.getpid()}-", "-999999999-"))  # of a process that is gone
    >>> _ = mine.rename(dead)
    >>> [p.name for p in stale_temporaries(target)] == [dead.name]
    True
    """
    target = Path(target)
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    ours = re.compile(re.escape(f".{target.name}") + _TEMP_RE.pattern)
    old = re.compile(re.escape(f".{target.stem}") + _OLD_TEMP_RE.pattern + re.escape(target.suffix))
    stale = []
    for entry in entries:
        path = Path(entry.path)
        with _lock:
            if path in _active or any(path.name == p.name + j for p in _active for j in _JOURNALS):
                continue
        try:
            age = now - _modified(path)
        except OSError:
            continue  # gone meanwhile
        match = ours.match(entry.name)
        if match is not None:
            if match["kind"] == "old" and not target.exists():
                continue  # the old directory of a write killed between its two renames: the only copy left
            pid, host = int(match["pid"]), match["host"]
            if (host == _HOST and not _pid_alive(pid)) or age > STALE_SECONDS:
                stale.append(path)
        elif old.match(entry.name) and age > STALE_SECONDS:
            stale.append(path)
    return sorted(stale)


def sweep_temporaries(target: str | Path) -> list[Path]:
    """Remove the stale temporary files of ``target`` (see :func:`stale_temporaries`); return what was removed."""
    removed = []
    for path in stale_temporaries(target):
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        except FileNotFoundError:
            continue  # another sweeper was first
        except OSError:
            continue  # not ours to remove (permissions): leave it, it does not stop this write
        removed.append(path)
    return removed


def _remove(path: Path) -> None:
    for leftover in (path, *(path.with_name(path.name + j) for j in _JOURNALS)):
        try:
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        except FileNotFoundError:
            pass


def _remove_active() -> None:
    with _lock:
        for path in list(_active):
            try:
                _remove(path)
            except OSError:
                pass


def _on_signal(signum: int, frame: Any) -> None:
    """SIGTERM/SIGHUP during a write: remove this process's temporary files, then do what was done before."""
    if _renaming:
        _deferred.append(signum)  # the renames are quick and must not stop halfway: act when they are done
        return
    previous = _handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)  # the program's own handler decides; if it raises, the writes clean up
        return
    _remove_active()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # die of the signal, as without the handler


@contextmanager
def _guard(paths: list[Path]) -> Iterator[None]:
    """Register temporary files and, in the main thread, remove them on SIGTERM/SIGHUP."""
    main = threading.current_thread() is threading.main_thread()
    with _lock:
        first = not _active
        _active.update(dict.fromkeys(paths))
        if first and main:
            for signum in _SIGNALS:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN and previous is not None:
                    _handlers[signum] = previous
                    signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        with _lock:
            for path in paths:
                _active.pop(path, None)
            if not _active and main:
                for signum, previous in list(_handlers.items()):
                    signal.signal(signum, previous)
                    del _handlers[signum]


@contextmanager
def _renames() -> Iterator[None]:
    """Hold SIGTERM/SIGHUP back while outputs are renamed into place, so that they all land or none."""
    global _renaming
    _renaming += 1
    try:
        yield
    finally:
        _renaming -= 1
        if not _renaming and _deferred:
            signum = _deferred.pop()
            _deferred.clear()
            _on_signal(signum, None)


def _flush(path: Path) -> None:
    """fsync a file or a directory (where the system allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the data itself was synced
    finally:
        os.close(fd)


def _place(tmp: Path, target: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``target``; without ``overwrite``, refuse if ``target`` exists, even one that appeared
    a moment ago (a hard link fails on an existing name, where a rename would replace it)."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExistsError(
            f"{target} exists (another run wrote it meanwhile?); pass overwrite=True (--overwrite) or choose "
            "another path."
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV):
            raise
        # a file system without hard links: claim the name exclusively, then rename over the claim
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            raise OutputExistsError(
                f"{target} exists; pass overwrite=True (--overwrite) or choose another path."
            ) from None
        os.replace(tmp, target)
        return
    os.unlink(tmp)


def write_error(target: Path, exc: BaseException, detail: str | None = None) -> OutputWriteError:
    """The error of a failed write as one that names the output (not its temporary name) and the cause.

    Examples
    --------
    >>> str(write_error(Path("out/c.gpkg"), OSError(28, "No space left on device")))
    'out/c.gpkg could not be written: No space left on device (errno 28); the old file, if any, is kept.'
    """
    code = getattr(exc, "errno", None)
    cause = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    if code is None:  # GDAL and Arrow say what the system said in words only
        for words, number in (
            ("no space left", errno.ENOSPC),
            ("disk is full", errno.ENOSPC),
            ("disk full", errno.ENOSPC),
            ("file too large", errno.EFBIG),
            ("permission denied", errno.EACCES),
            ("read-only file system", errno.EROFS),
            ("not a directory", errno.ENOTDIR),
            ("no such file or directory", errno.ENOENT),
        ):
            if words in cause.lower():
                code = number
                break
    if code in (errno.ENOTDIR, errno.ENOENT, errno.EEXIST):
        parent = next((p for p in target.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            cause, code = f"{parent} is a file, not a directory", errno.ENOTDIR
    text = f"{cause} (errno {code})" if code is not None and f"errno {code}" not in cause.lower() else cause
    if detail:
        text += f" [{detail}]"
    error = OutputWriteError(f"{target} could not be written: {text}; the old file, if any, is kept.")
    error.errno = code
    return error


def full_disk(path: Path) -> int | None:
    """Why a write at ``path`` may have failed when the library that wrote it does not say (SQLite reports a
    refused write as a broken database): ``errno.ENOSPC`` if the file system is (nearly) full, ``errno.EFBIG``
    if the file reached the process's file size limit (``ulimit -f``), else None."""
    try:
        import resource
    except ImportError:  # not on Windows
        resource = None  # type: ignore[assignment]
    try:
        sizes = [p.stat().st_size for p in (path, *(path.with_name(path.name + j) for j in _JOURNALS)) if p.exists()]
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if resource is not None else -1
        if (
            limit >= 0
            and resource is not None
            and limit != resource.RLIM_INFINITY
            and sizes
            and max(sizes) + (1 << 20) > limit
        ):
            return errno.EFBIG
        fs = os.statvfs(path.parent)
        if fs.f_bavail * fs.f_frsize < (1 << 20):
            return errno.ENOSPC
    except OSError:
        return None
    return None


def output_directory(target: str | Path) -> Path:
    """Create the directory of an output (and its parents); an error names the output and the cause."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(target, exc) from exc
    return target.parent


@contextmanager
def atomic_paths(targets: Sequence[str | Path], overwrite: bool = True) -> Iterator[list[Path]]:
    """Yield a temporary path for each target; once the body is done, rename them all into place.

    The temporary paths are beside their targets (same file system, so renames are atomic) and keep their
    suffixes for format drivers. On an error, Ctrl-C, SIGTERM or SIGHUP the temporary files are removed and
    every target is left as it was. The renames happen only after every file is complete, one after another
    in ``targets`` order with SIGTERM held back; a result of several files must still stamp its parts so that a
    reader can tell a mix (a kill -9 between two renames). Stale temporary files of earlier writes of the same
    targets (killed with -9) are removed first.

    Parameters
    ----------
    targets : sequence of path
        The outputs.
    overwrite : bool
        Replace existing targets. If False, a target that exists, even one that another process created while
        this one wrote, is an :class:`~stracker.errors.OutputExistsError`, and none of this write's targets
        is left in place.

    Yields
    ------
    list of Path
        One temporary path per target, in ``targets`` order: write each output there.

    Raises
    ------
    OutputExistsError
        Without ``overwrite``, if a target exists.
    OutputWriteError
        If a file cannot be written (a read-only directory, a path under a file, a full disk): named, with the
        cause.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_paths([folder / "a.txt", folder / "b.txt"], overwrite=False) as (a, b):
    ...     _ = a.write_text("1"), b.write_text("2")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']
    """
    paths = [Path(t) for t in targets]
    if not overwrite:
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            raise OutputExistsError(f"{existing[0]} exists; pass overwrite=True (--overwrite) or choose another path.")
    for target in paths:
        sweep_temporaries(target)
    temps = [temporary_name(target) for target in paths]
    with _guard(temps):
        try:
            for target, tmp in zip(paths, temps, strict=True):
                try:  # say now, with the system's own reason, if the directory takes no files
                    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                    os.unlink(tmp)
                except OSError as exc:
                    raise write_error(target, exc) from exc
            current = paths[0]
            try:
                yield temps
            except (OutputExistsError, OutputWriteError):
                raise
            except OSError as exc:
                failed = next((t for t, p in zip(paths, temps, strict=True) if str(p) == str(exc.filename)), None)
                raise write_error(failed or current, exc) from exc
            for target, tmp in zip(paths, temps, strict=True):
                current = target
                _flush(tmp)  # on disk before its name is: a power cut cannot leave a named empty file
            placed: list[Path] = []
            with _renames():
                try:
                    for target, tmp in zip(paths, temps, strict=True):
                        current = target
                        _place(tmp, target, overwrite)
                        placed.append(target)
                except OutputExistsError:
                    for done in placed:  # ours, placed a moment ago: the other run keeps the name
                        done.unlink(missing_ok=True)
                    raise
                except OSError as exc:
                    raise write_error(current, exc) from exc
                for folder in dict.fromkeys(p.parent for p in paths):
                    _flush(folder)  # the renames themselves
        finally:
            for tmp in temps:
                try:
                    _remove(tmp)
                except OSError:
                    pass


@contextmanager
def atomic_path(target: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``, on error remove it.

    :func:`atomic_paths` for one file: a reader never sees a half-written ``target``; without ``overwrite``
    the rename refuses a ``target`` that exists, even one that appeared during the write.

    Yields
    ------
    Path
        The temporary path to write the output to.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "metrics.csv"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("metric,value\\n")
    >>> target.read_text()
    'metric,value\\n'
    """
    with atomic_paths([target], overwrite=overwrite) as (tmp,):
        yield tmp


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield a new temporary directory beside ``target``; on success it replaces ``target``, on error it goes.

    A reader sees the old ``target`` or the whole new one, never a half-written directory. Whether an existing
    ``target`` may be replaced is the caller's decision (check it first); the old one is moved aside
    (``.NAME.stracker-old-...``), the new one renamed in, then the old one removed. A kill -9 between the two
    renames leaves no ``target`` and the old one aside, which is kept until a later write puts a ``target`` in
    place. Temporary directories are removed on SIGTERM and swept when stale, as by :func:`atomic_paths`.

    Yields
    ------
    Path
        The new, empty temporary directory to fill.
    """
    target = Path(target)
    sweep_temporaries(target)
    tmp, old = temporary_name(target), _old_name(target)
    with _guard([tmp]):
        try:
            try:
                tmp.mkdir(parents=True)
            except OSError as exc:
                raise write_error(target, exc) from exc
            yield tmp
            with _renames():
                try:
                    if target.exists():
                        os.replace(target, old)
                    os.replace(tmp, target)
                except OSError as exc:
                    raise write_error(target, exc) from exc
        finally:
            for leftover in (tmp, old):
                if leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)


MANIFEST_FORMAT = "stracker-files/1"
"""The ``format`` of a folder manifest: the files written together, each with its size and SHA-256."""


def manifest_text(files: Mapping[str, Path]) -> str:
    """The manifest of files written together: for each final name, the size and SHA-256 of the file at the
    path given (its temporary file, before the rename)."""
    entries = {name: {"bytes": path.stat().st_size, "sha256": file_digest(path)} for name, path in files.items()}
    return json.dumps({"format": MANIFEST_FORMAT, "files": entries}, indent=1) + "\n"


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_manifest(directory: Path, manifest: str = "manifest.json") -> dict[str, Any]:
    """Check that every file a folder's manifest lists is there, whole and the one written with it.

    Raises
    ------
    FileFormatError
        Naming the files that are missing or differ from what the manifest says (parts of different writes,
        e.g. after a kill -9 during an overwrite, or a file changed since), and the fix.
    """
    path = directory / manifest
    try:
        content = json.loads(path.read_text())
        files = content["files"]
        if content.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
            raise ValueError(f"format {content.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FileFormatError(f"{path} is not a stracker manifest ({exc}); write the folder again.") from exc
    missing = [name for name in files if not (directory / name).is_file()]
    differ = [
        name
        for name, entry in files.items()
        if name not in missing
        and ((directory / name).stat().st_size != entry["bytes"] or file_digest(directory / name) != entry["sha256"])
    ]
    if missing or differ:
        parts = ([f"missing {missing}"] if missing else []) + (
            [f"different from the files written with it {differ}"] if differ else []
        )
        raise FileFormatError(
            f"{directory}: the files do not belong together: {path.name} lists files that are "
            f"{' and '.join(parts)} (a write interrupted halfway, or files copied in from elsewhere). Write the "
            f"folder again (with overwrite); if you changed a file on purpose, delete {path.name} to skip this check."
        )
    return content


def check_listed(path: str | Path, manifest: str = "manifest.json") -> None:
    """If ``path`` sits in a folder whose manifest lists it (a simulation folder), check it is the file written
    with the others, so that a consensus or truth file of another run is not read as this folder's.

    Raises
    ------
    FileFormatError
        If the file differs from the manifest's record of it.
    """
    path = Path(path)
    try:
        content = json.loads((path.parent / manifest).read_text())
        entry = content["files"].get(path.name) if content.get("format") == MANIFEST_FORMAT else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # no manifest, or not stracker's
    if not isinstance(entry, dict):
        return
    if path.stat().st_size != entry.get("bytes") or file_digest(path) != entry.get("sha256"):
        raise FileFormatError(
            f"{path} is not the file written with the rest of {path.parent} (its {manifest} says otherwise): a "
            f"write interrupted halfway, or a file copied in from another run. Write the folder again; if you "
            f"changed the file on purpose, delete {manifest} to skip this check."
        )


def same_files(outputs: Sequence[str | Path], inputs: Sequence[str | Path | None]) -> list[tuple[Path, Path]]:
    """Pairs (output, input) that are the same file: the same inode where both exist, else the same resolved path.

    Examples
    --------
    >>> same_files([Path("out/../answers.csv")], [Path("answers.csv"), None])
    [(PosixPath('out/../answers.csv'), PosixPath('answers.csv'))]
    """
    pairs = []
    for out in map(Path, outputs):
        for given in inputs:
            if given is None:
                continue
            source = Path(given)
            try:
                same = (
                    os.path.samefile(out, source)
                    if out.exists() and source.exists()
                    else (out.resolve() == source.resolve())
                )
            except OSError:
                same = False
            if same:
                pairs.append((out, source))
    return pairs


def write_layers(
    target: str | Path,
    layers: Mapping[str, object],
    layer_metadata: Mapping[str, Mapping[str, str]] | None = None,
    overwrite: bool = True,
) -> None:
    """Write frames as the layers of a new GeoPackage, atomically and reproducibly (fixed timestamp).

    GeoDataFrames become spatial layers (CRS kept); plain DataFrames become attribute tables. datetime64
    columns become DateTime fields. ``layer_metadata`` maps a layer name to key/value strings stored with it.
    Without ``overwrite`` an existing ``target`` (even one that appeared during the write) is an
    :class:`~stracker.errors.OutputExistsError`; GDAL's errors become :class:`~stracker.errors.OutputWriteError`
    naming ``target``.
    """
    with atomic_path(target, overwrite=overwrite) as tmp:
        write_layers_at(tmp, layers, layer_metadata, name=Path(target))


def write_layers_at(
    path: Path,
    layers: Mapping[str, object],
    layer_metadata: Mapping[str, Mapping[str, str]] | None = None,
    name: Path | None = None,
) -> None:
    """Write the layers of a new GeoPackage at ``path`` itself (a temporary path from :func:`atomic_paths`);
    GDAL's errors become :class:`~stracker.errors.OutputWriteError` naming ``name`` (default ``path``)."""
    import pyogrio

    options = ("OGR_CURRENT_DATE", "OGR_SQLITE_SYNCHRONOUS")
    previous = {option: pyogrio.get_gdal_config_option(option) for option in options}
    # SQLite's own syncs at every commit are redundant here: the file is a temporary one, fsynced as a whole by
    # atomic_paths before it is renamed into place (half the time of writing a consensus of 11,000 buildings)
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_TIMESTAMP, "OGR_SQLITE_SYNCHRONOUS": "OFF"})
    # GDAL's Arrow writer (3.8 on) takes whole columns: a 11,000 x 52 layer in a third of the time row by row
    arrow = pyogrio.__gdal_version__ >= (3, 8, 0)
    try:
        for layer, frame in layers.items():
            meta = (layer_metadata or {}).get(layer)
            try:
                pyogrio.write_dataframe(
                    frame,
                    path,
                    layer=layer,
                    driver="GPKG",
                    layer_metadata=meta,
                    dataset_options={"VERSION": _GPKG_VERSION},
                    use_arrow=arrow,
                )
            except RuntimeError as exc:  # pyogrio's errors: GDAL says what went wrong in words only
                if not type(exc).__module__.startswith("pyogrio"):
                    raise
                code = full_disk(path)
                if code is None:
                    raise write_error(name or path, exc) from exc
                raise write_error(name or path, OSError(code, os.strerror(code)), f"GDAL: {str(exc).strip()}") from exc
    finally:
        pyogrio.set_gdal_config_options(previous)


def write_geopackage(frame: object, target: str | Path, layer: str, overwrite: bool = True) -> None:
    """Write a GeoDataFrame as one layer of a new GeoPackage, atomically and reproducibly (fixed timestamp)."""
    write_layers(target, {layer: frame}, overwrite=overwrite)
