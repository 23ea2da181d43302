"""Which packages read which URI scheme, and what to install when they are missing: one map for every path.

Airflow's ``ObjectStoragePath`` reads remote storage only through a filesystem that an Airflow provider
registers for the scheme (the Amazon provider for ``s3://``, ...), backed by an fsspec package (s3fs,
...). Without them a path fails with "No filesystem registered for scheme s3" or a bare "Install s3fs";
this map turns either into the install command of this provider's matching extra.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from airflow.sdk.io import has_fs

DISTRIBUTION = "airflow-provider-genai-batch"
LOCAL_SCHEMES = frozenset({"", "file", "local"})

FILESYSTEM_EXTRAS: Mapping[str, tuple[str, str]] = {
    "s3": ("s3", "the Amazon provider with s3fs"),
    "s3a": ("s3", "the Amazon provider with s3fs"),
    "s3n": ("s3", "the Amazon provider with s3fs"),
    "gs": ("gcs", "the Google provider with gcsfs"),
    "gcs": ("gcs", "the Google provider with gcsfs"),
    "abfs": ("azure", "the Microsoft Azure provider with adlfs"),
    "abfss": ("azure", "the Microsoft Azure provider with adlfs"),
    "adl": ("azure", "the Microsoft Azure provider with adlfs"),
}
"""URI scheme -> (this provider's extra, what it installs); the extras are declared in ``pyproject.toml``."""

OBJECT_STORE_SCHEMES = frozenset(FILESYSTEM_EXTRAS)
"""Schemes whose directories are only key prefixes: there is nothing to create, and their filesystems' ``mkdir``
creates the bucket (or container) a path names when it is missing."""


def filesystem_registered(scheme: str) -> bool:
    """Whether Airflow has a filesystem for ``scheme`` (local paths always)."""
    return scheme in LOCAL_SCHEMES or has_fs(scheme)


def missing_filesystem(scheme: str, error: BaseException | None = None) -> str:
    """The reason a ``scheme://`` path cannot be read, naming exactly what to install."""
    extra = FILESYSTEM_EXTRAS.get(scheme)
    if extra is not None:
        name, what = extra
        return f"reading {scheme}:// paths needs {what}: pip install '{DISTRIBUTION}[{name}]'"
    detail = f" ({error})" if error is not None else ""
    return f"no filesystem reads {scheme}:// paths: install the Airflow provider that registers one{detail}"


def directory_place(directory: str) -> str:
    """A directory as its store names it, whatever the spelling: a local one resolved (``file://``, ``~``, symlinks),
    an object store's as its scheme, bucket and prefix (without the connection a URI may name, ``s3a://`` as
    ``s3://``), so two spellings of one directory compare equal."""
    scheme, separator, rest = directory.partition("://")
    scheme = scheme.lower() if separator else ""
    if scheme in LOCAL_SCHEMES:
        return "file:" + os.path.realpath(os.path.expanduser(rest if separator else directory) or "/")
    bucket, _, prefix = rest.partition("/")
    return f"{_SAME_STORE.get(scheme, scheme)}:{bucket.rpartition('@')[2]}/{prefix.rstrip('/')}"


_SAME_STORE = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}
"""Schemes that name the same store as another (Hadoop's S3 schemes, gcsfs's second name for Cloud Storage)."""
