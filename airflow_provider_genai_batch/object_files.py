"""Moving, removing and listing files on any ``ObjectStoragePath`` by their names as they are, never as patterns.

fsspec's move and remove (behind ``ObjectStoragePath.rename`` and ``unlink``) and ``glob`` read a path as a glob
pattern on object storage: under an output_uri holding ``*``, ``?`` or ``[``, a rename put the file under a
"directory" named as its target (or failed: no such file), and a remove deleted every file the pattern matched,
in other directories too. These take one file by its name.
"""

from __future__ import annotations

import fnmatch
from contextlib import suppress

from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.filesystems import OBJECT_STORE_SCHEMES


def move_file(source: ObjectStoragePath, target: ObjectStoragePath) -> None:
    """Move one file over ``target`` (replaced if it exists). On object storage, which has no rename, a server-side
    copy (the new object appears whole, or not at all; a multipart copy past 5 GB on S3) and then the source
    removed; elsewhere the filesystem's own rename (atomic locally)."""
    fs = source.fs
    if source.protocol in OBJECT_STORE_SCHEMES:
        fs.cp_file(source.path, target.path)
        fs.rm_file(source.path)
        return
    fs.mv(source.path, target.path)


def remove_file(path: ObjectStoragePath) -> None:
    """Remove one file; nothing happens when it does not exist."""
    with suppress(FileNotFoundError):
        path.fs.rm_file(path.path)


def files_matching(directory: ObjectStoragePath, pattern: str) -> list[ObjectStoragePath]:
    """The files directly in ``directory`` whose names match ``pattern`` (the directory's own name is no pattern)."""
    try:
        names = directory.fs.ls(directory.path, detail=False)
    except FileNotFoundError:
        return []
    found = (str(name).rstrip("/").rsplit("/", 1)[-1] for name in names)
    return [directory / name for name in found if fnmatch.fnmatchcase(name, pattern)]
