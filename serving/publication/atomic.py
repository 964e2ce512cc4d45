"""Write a business date's published folder atomically: a complete version folder behind a swapped link.

**Atomicity (symlink swap).** ``<date>`` is a symbolic link to a complete,
hidden version folder ``.<date>.v-<token>`` beside it:

1. the files are written into ``.<date>.tmp-<token>`` and each file and folder is fsynced;
2. the finished folder is renamed to ``.<date>.v-<token>`` (a ``.v-`` folder is always complete);
3. a new link ``.<date>.link-<token>`` → ``.<date>.v-<token>`` is made and renamed over
   ``<date>`` with ``os.replace``, which swaps the link in one step;
4. version folders of that date other than the new one and the one it replaced are deleted.

A reader therefore sees either the previous complete version or the new one,
never a half-written folder; a publish killed at any point leaves ``<date>``
pointing at the previous version, intact. Leftovers of killed runs (``.tmp-``
folders, ``.link-`` links, a ``.v-`` folder never linked) are removed by the next
publish into the same folder. One publish runs at a time per folder (an
``flock`` on ``.publish.lock``). The replaced version is kept until the next
publish of that date, so a reader that resolved the link once
(``PublishedCatalog.resolved``) keeps a consistent view while a re-run swaps the link.
A ``<date>`` that is a real folder (not written by this module) is renamed
aside just before the swap: only in that case is there an instant without
``<date>``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from serving.publication.catalog import MANIFEST

LOCK = ".publish.lock"

Progress = Callable[[str], None]
"""Called with the name of each step as it completes (``file:<path>``, ``written``, ``renamed``, ``linked``,
``swapped``): for progress reports, and for fault-injection tests that stop a publish part-way."""


class Build:
    """A version folder being written: its files, each with its sha256, and its subfolders."""

    def __init__(self, path: Path, step: Progress) -> None:
        """Write into ``path`` (made already), reporting each file to ``step``."""
        self.path, self.step = path, step
        self.files: dict[str, str] = {}
        """Relative path → sha256 of every file put so far."""
        self._written: list[Path] = []
        self._folders: list[Path] = []

    def folder(self, rel: str) -> None:
        """Make the subfolder ``rel`` (even if no file goes into it)."""
        (self.path / rel).mkdir(mode=0o755)
        self._folders.append(self.path / rel)

    def put(self, rel: str, data: bytes) -> None:
        """Write the file ``rel`` (fsynced with the others when the build is done) and record its sha256."""
        path = self.path / rel
        path.parent.mkdir(mode=0o755, exist_ok=True)
        _write_bytes(path, data, sync=False)
        self._written.append(path)
        self.files[rel] = sha256(data)
        self.step(f"file:{rel}")

    def put_manifest(self, data: bytes) -> None:
        """Write the manifest (it lists the other files, so it is not in ``files``)."""
        _write_bytes(self.path / MANIFEST, data)

    def sync(self) -> None:
        """Sync every file, then every folder, to disk: all of it is there before the folder is renamed."""
        # Several files at a time: the file system commits them together.
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(_fsync, self._written))
        for folder in [*self._folders, self.path]:
            _fsync(folder)
        self.step("written")


@contextmanager
def new_version(folder: Path, name: str, progress: Progress | None = None) -> Iterator[Build]:
    """A build folder for ``folder/<name>``; when the block ends, it becomes the version ``<name>`` links to.

    The block writes the files; if it fails, the build folder is removed and ``<name>`` keeps pointing at
    the previous version.

    Args:
        folder: The published folder (made already).
        name: The link's name (the ISO business date).
        progress: Called after each step (see ``Progress``).
    """
    step = progress or (lambda _: None)
    with _locked(folder):
        _remove_leftovers(folder)
        build = Build(folder / f".{name}.tmp-{secrets.token_hex(6)}", step)
        build.path.mkdir(mode=0o755)
        try:
            yield build
            build.sync()
        except BaseException:
            shutil.rmtree(build.path, ignore_errors=True)
            raise
        version = folder / f".{name}.v-{build.path.name.rsplit('-', 1)[1]}"
        os.rename(build.path, version)
        _fsync(folder)
        step("renamed")
        link = folder / f".{name}.link-{version.name.rsplit('-', 1)[1]}"
        os.symlink(version.name, link)
        step("linked")
        previous = _swap(link, folder / name)
        _fsync(folder)
        step("swapped")
        keep = {version.name, Path(previous).name}
        for old in folder.glob(f".{name}.v-*"):
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)


def verify(path: Path) -> list[str]:
    """Check a published folder against its manifest: the problems found, empty when intact."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        return [f"{MANIFEST}: {error}"]
    problems = []
    files: dict[str, str] = manifest.get("files", {})
    for rel, digest in sorted(files.items()):
        file = path / rel
        if not file.is_file():
            problems.append(f"{rel}: missing")
        elif sha256(file.read_bytes()) != digest:
            problems.append(f"{rel}: checksum differs")
    present = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()} - {MANIFEST}
    problems += [f"{rel}: not in the manifest" for rel in sorted(present - set(files))]
    return problems


def sha256(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _write_bytes(path: Path, data: bytes, sync: bool = True) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())


def _fsync(path: Path) -> None:
    """Sync a file or a folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One publish at a time per folder; the lock goes with the process, so a killed publish never holds it."""
    with (folder / LOCK).open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(folder: Path) -> None:
    """Build folders and links left by killed publishes (any date); called under the lock."""
    for path in folder.glob(".*.tmp-*"):
        shutil.rmtree(path, ignore_errors=True)
    for path in folder.glob(".*.link-*"):
        if path.is_symlink():
            path.unlink()


def _swap(link: Path, target: Path) -> str:
    """Rename ``link`` over ``target`` in one step; returns the name of the version it pointed at (or "")."""
    previous = ""
    if target.is_symlink():
        previous = os.readlink(target)
    elif target.exists():
        if not target.is_dir():
            raise FileExistsError(f"{target} exists and is not a published folder")
        previous = f".{target.name}.v-legacy-{secrets.token_hex(6)}"
        os.rename(target, target.parent / previous)  # the one case with an instant without <date>
    os.replace(link, target)
    return previous
