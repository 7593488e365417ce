"""Filesystem plumbing shared by the readers and writers: resolve a path or URL, safe names, atomic writes.

Everything below works on a ``pyarrow.fs.FileSystem`` and a "/"-separated path. Local paths
and ``file://`` URLs use pyarrow's native local filesystem (where ``rename`` is atomic); any
other fsspec URL (``memory://``, ``s3://``, ...) is wrapped with ``FSSpecHandler`` and treated
as an object store (no atomic rename, single-object writes are atomic).
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import fsspec
import pyarrow.fs as pafs

from compute.errors import StorageError

__all__ = [
    "FilesystemLike",
    "delete_dir",
    "encode_component",
    "exists",
    "is_local",
    "join",
    "list_dir",
    "read_bytes",
    "require_component",
    "resolve",
    "write_bytes_atomic",
]

FilesystemLike = pafs.FileSystem | fsspec.AbstractFileSystem | None
"""What callers may pass as ``filesystem``: pyarrow's, fsspec's, or None (infer from the path)."""


def resolve(
    source: str | os.PathLike[str], filesystem: FilesystemLike = None
) -> tuple[pafs.FileSystem, str]:
    """Return (pyarrow filesystem, path inside it) for a local path or fsspec URL."""
    text = os.fspath(source)
    if filesystem is None:
        if "://" not in text:
            return pafs.LocalFileSystem(), os.path.abspath(text)
        if text.startswith("file://"):
            return pafs.LocalFileSystem(), os.path.abspath(text[len("file://") :])
        try:
            filesystem, text = fsspec.core.url_to_fs(text)
        except (ImportError, ValueError) as err:
            raise StorageError(f"cannot open {os.fspath(source)!r}: {err}") from err
    if isinstance(filesystem, pafs.FileSystem):
        if isinstance(filesystem, pafs.LocalFileSystem) and "://" not in text:
            text = os.path.abspath(text)
        return filesystem, text
    if isinstance(filesystem, fsspec.AbstractFileSystem):
        path = str(filesystem._strip_protocol(text))
        if type(filesystem).__name__ == "LocalFileSystem":
            return pafs.LocalFileSystem(), os.path.abspath(path)
        return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), path
    raise StorageError(
        f"filesystem must be a pyarrow or fsspec filesystem, not {type(filesystem).__name__}"
    )


def is_local(fs: pafs.FileSystem) -> bool:
    """True where directory renames are atomic (pyarrow's local filesystem)."""
    return isinstance(fs, pafs.LocalFileSystem)


def join(*parts: str) -> str:
    """Join path parts with "/" (pyarrow filesystems use "/" everywhere)."""
    return "/".join(p.rstrip("/") if i == 0 else p.strip("/") for i, p in enumerate(parts) if p)


def encode_component(value: str) -> str:
    """Percent-encode a value for a hive directory name (``key=<value>``).

    pyarrow decodes hive segments as URIs, so this round-trips every string, and no value can
    add a path separator or climb out of the directory.
    """
    return quote(value, safe="")


def require_component(value: str, what: str) -> str:
    """Return ``value`` if it is usable as one path component as-is, else raise StorageError."""
    bad = (
        not value
        or value in (".", "..")
        or any(c in value for c in "/\\\0")
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
        or len(value.encode()) > 200
    )
    if bad:
        raise StorageError(f"{what} {value!r} cannot be used as a path component")
    return value


def exists(fs: pafs.FileSystem, path: str) -> bool:
    return bool(fs.get_file_info(path).type != pafs.FileType.NotFound)


def list_dir(fs: pafs.FileSystem, path: str, recursive: bool = False) -> list[pafs.FileInfo]:
    """Entries under ``path`` sorted by path; empty if it does not exist."""
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=recursive))
    return sorted(infos, key=lambda info: str(info.path))


def delete_dir(fs: pafs.FileSystem, path: str) -> None:
    """Delete a directory tree if it exists."""
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as stream:
        return bytes(stream.read())


def write_bytes_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write a whole file so readers see the old content or the new, never a part.

    Locally: a temporary sibling then ``os.replace``. On object stores a single PUT is already
    all-or-nothing.
    """
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if not is_local(fs):
        with fs.open_output_stream(path) as stream:
            stream.write(data)
        return
    tmp = join(parent, f".{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
