"""The minimal local sandbox image: an almost empty root file system, made without any registry.

The image holds only mount points, /etc/passwd and /etc/group with the sandbox user, a 1777 /tmp,
and the host's top-level links (/bin -> usr/bin on merged-/usr systems). At run time the Docker
backend binds the host's /usr, /lib*, Python environment and the harness package read-only into
it (harness.sandbox.layout), so the image never needs rebuilding when packages change. It is
created with `docker import` of a tar stream built here, tagged by the digest of its contents.

    python -m harness.sandbox.backends.docker_image      # build it now and print its tag
"""

from __future__ import annotations

import hashlib
import io
import tarfile

from harness.sandbox.layout import (
    KAGGLE_FOLDERS,
    SANDBOX_GID,
    SANDBOX_HARNESS_ROOT,
    SANDBOX_JOB,
    SANDBOX_OUT,
    SANDBOX_UID,
    passwd_texts,
    system_entries,
)

REPOSITORY = "unlearn-harness-sandbox"
LABEL = "unlearn-harness.image"


def root_filesystem(uid: int = SANDBOX_UID, gid: int = SANDBOX_GID) -> bytes:
    """The image's whole file system as an (uncompressed, reproducible) tar archive.

    `uid`/`gid` is the user the sandbox runs as (nobody for a root harness, else the harness's
    user, whose files the binds show); /etc/passwd names it so that user lookups work.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:

        def add(name: str, kind: bytes, mode: int = 0o755, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name.lstrip("/"))
            info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
            archive.addfile(info, io.BytesIO(data) if data else None)

        for folder in ("etc", "proc", "sys", "dev", "root", "home", "opt", "kaggle", SANDBOX_HARNESS_ROOT, SANDBOX_JOB, SANDBOX_OUT):
            add(folder, tarfile.DIRTYPE)
        for folder in ("tmp", *KAGGLE_FOLDERS):
            add(folder, tarfile.DIRTYPE, 0o1777)  # Docker's tmpfs keeps the mode of the folder it covers
        for entry in system_entries():
            if entry.link_target is not None:
                add(entry.name, tarfile.SYMTYPE, 0o777, link=entry.link_target)
            else:
                add(entry.name, tarfile.DIRTYPE)
        for name, text in passwd_texts(uid, gid).items():
            add(f"etc/{name}", tarfile.REGTYPE, 0o644, text.encode())
    return buffer.getvalue()


def local_image_tag(archive: bytes | None = None) -> str:
    archive = root_filesystem() if archive is None else archive
    return f"{REPOSITORY}:local-{hashlib.sha256(archive).hexdigest()[:12]}"


def ensure_local_image(client, uid: int = SANDBOX_UID, gid: int = SANDBOX_GID) -> str:
    """The tag of the local image for this sandbox user, importing it first if the engine lacks it."""
    import docker

    archive = root_filesystem(uid, gid)
    tag = local_image_tag(archive)
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        repository, _, version = tag.partition(":")
        client.api.import_image_from_data(archive, repository=repository, tag=version, changes=[f"LABEL {LABEL}=local"])
        client.images.get(tag)  # raises if the import failed
    return tag


if __name__ == "__main__":
    import sys

    from harness.errors import HarnessError
    from harness.sandbox.backends.docker_engine import docker_client, sandbox_user

    try:
        print(ensure_local_image(docker_client(), *sandbox_user()))
    except HarnessError as error:
        sys.exit(f"error: {error}")
