"""The socket server's source shipped as `docker build` sees it: .dockerignore, never
node_modules or .git, a size limit, one archive whose hash changes only with the tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.app import read_source_tree
from model.source_tree import MAX_SOURCE_BYTES, is_ignored, parse_dockerignore
from render.source_archive import source_archive, unpack
from testbed.mocks import run_program

COPY = "command:remote:CopyToRemote"


def typescript_project(root: Path) -> Path:
    files = {
        "package.json": '{"name": "socket", "scripts": {"build": "tsc"}}',
        "package-lock.json": "{}",
        "tsconfig.json": '{"compilerOptions": {"outDir": "dist"}}',
        "Dockerfile": "FROM node AS build\n",
        ".dockerignore": "# build output and local files\ndist\n*.log\n**/*.test.ts\n!src/keep.test.ts\n/.env\n",
        "src/server.ts": "export {};\n",
        "src/game/sync.ts": "export {};\n",
        "src/game/sync.test.ts": "test\n",
        "src/keep.test.ts": "kept\n",
        "dist/server.js": "built\n",
        "debug.log": "noise\n",
        ".env": "SECRET=1\n",
        "node_modules/socket.io/index.js": "dependency\n",
        "src/node_modules/nested/index.js": "dependency\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        "bin/start": "#!/bin/sh\n",
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    (root / "bin/start").chmod(0o755)
    return root


def test_the_tree_is_what_docker_build_would_see(tmp_path: Path) -> None:
    tree, problems = read_source_tree(typescript_project(tmp_path))
    assert problems == []
    assert [file.path for file in tree.files] == [
        ".dockerignore",
        "Dockerfile",
        "bin/start",
        "package-lock.json",
        "package.json",
        "src/game/sync.ts",
        "src/keep.test.ts",
        "src/server.ts",
        "tsconfig.json",
    ]
    assert {file.path for file in tree.files if file.executable} == {"bin/start"}


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [
        ("dist", "dist/a/b.js", True),
        ("/dist/", "dist/b.js", True),
        ("*.md\n!README.md", "README.md", False),
        ("*.md\n!README.md", "docs/x.md", False),  # `*` stays within one segment
        ("**/*.md", "docs/x.md", True),
        ("docs\n!docs/keep.md", "docs/keep.md", False),
        ("docs\n!docs/keep.md", "docs/drop.md", True),
        ("Dockerfile\n.dockerignore", "Dockerfile", False),  # always sent to the builder
        ("src/?.ts", "src/a.ts", True),
        ("src/[ab].ts", "src/c.ts", False),
        ("", "node_modules/x/index.js", True),
        ("!node_modules", "node_modules/x/index.js", True),
        ("", ".git/config", True),
    ],
)
def test_dockerignore_semantics(patterns: str, path: str, ignored: bool) -> None:
    assert is_ignored(parse_dockerignore(patterns), path) is ignored


def test_a_tree_above_the_limit_is_refused_naming_its_largest_files(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM node\n")
    (tmp_path / "assets").mkdir()
    with (tmp_path / "assets/video.mp4").open("wb") as big:
        big.truncate(MAX_SOURCE_BYTES + 1)
    _, problems = read_source_tree(tmp_path)
    assert len(problems) == 1 and "assets/video.mp4" in problems[0] and ".dockerignore" in problems[0]
    (tmp_path / ".dockerignore").write_text("assets\n")
    assert read_source_tree(tmp_path)[1] == []


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM node\n")
    os.symlink("/etc/hostname", tmp_path / "hostname")
    assert "hostname is a symbolic link" in read_source_tree(tmp_path)[1][0]


def test_the_archive_is_the_tree_and_changes_only_with_it(tmp_path: Path) -> None:
    project = typescript_project(tmp_path)
    tree, _ = read_source_tree(project)
    archive = source_archive(tree)
    assert unpack(archive) == {file.path: file.content for file in tree.files}
    os.utime(project / "src/server.ts", (0, 0))
    (project / "dist/server.js").write_text("rebuilt\n")  # ignored
    assert source_archive(read_source_tree(project)[0]) == archive, "a touched or ignored file re-rolls the release"
    (project / "src/server.ts").write_text("export const changed = 1;\n")
    assert source_archive(read_source_tree(project)[0]) != archive


def test_a_source_tree_ships_as_one_upload_and_rolls_only_on_change(tmp_path: Path) -> None:
    project = typescript_project(tmp_path / "app")
    run = run_program(overrides={"flowspace:socketServerSource": str(project)})
    (source_upload,) = [u for u in run.of_type(COPY) if "socket-server" in u.name]
    assert source_upload.name == "rollout-upload-socket-server.tgz.b64"
    again = run_program(overrides={"flowspace:socketServerSource": str(project)})
    assert again.outputs["release_id"].value == run.outputs["release_id"].value
    (project / "src/game/sync.ts").write_text("export const tick = 60;\n")
    changed = run_program(overrides={"flowspace:socketServerSource": str(project)})
    assert changed.outputs["release_id"].value != run.outputs["release_id"].value
