"""The socket server's source as one archive per release: a deterministic gzip'd tar, base64 text
(a release's plain files are text), unpacked on the host into `socket-server/`.

Deterministic: the same tree gives the same bytes (sorted members, no times, no owners), so the
release id changes exactly when a file, its name or its executable bit does.
"""

from __future__ import annotations

import base64
import gzip
import io
import tarfile

from model.source_tree import SourceTree


def source_archive(tree: SourceTree) -> str:
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for file in sorted(tree.files, key=lambda f: f.path):
            member = tarfile.TarInfo(file.path)
            member.size = len(file.content)
            member.mode = 0o755 if file.executable else 0o644
            member.mtime = 0
            archive.addfile(member, io.BytesIO(file.content))
    compressed = gzip.compress(packed.getvalue(), mtime=0)
    return base64.encodebytes(compressed).decode()


def unpack(text: str) -> dict[str, bytes]:
    """The archive's files by path (what the host gets), for tests and host diffs."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(text)))) as archive:
        return {
            member.name: extracted.read()
            for member in archive.getmembers()
            if (extracted := archive.extractfile(member)) is not None
        }
