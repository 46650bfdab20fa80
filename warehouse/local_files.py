"""Local files with the semantics of Beam's LocalFileSystem, without importing Beam.

`warehouse.layout` sends local paths here and URIs (gs://, s3://, ...) to Beam's
FileSystems, so that reading a local warehouse (`report`, `sql`, `forget`, the Python API)
never waits for Beam to load. Globs are Beam's: `*` within one folder, `**` across
folders, `?` one character, `[...]` a class; a folder is listed with every file below it.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import BinaryIO

GLOB = re.compile(r"[*?\[]")


def _pattern(glob: str) -> re.Pattern[str]:
    """Beam's reading of a glob (`FileSystem.translate_pattern`) as a regular expression."""
    out, i = [], 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append(r"[^/\\]*")
        elif char == "?":
            out.append(".")
        elif char == "[" and (end := glob.find("]", i + 2)) != -1:
            inside = glob[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + inside[1:] if inside.startswith("!") else inside) + "]")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("(?ms)" + "".join(out) + r"\Z")


def match(glob: str) -> list[str]:
    """The files matching `glob` (or `glob` itself, file or folder, when it has no glob
    character and exists), sorted."""
    if glob.endswith(("/", "\\")):
        glob += "*"
    head = GLOB.split(glob, 1)[0]
    if head == glob:
        return [glob] if os.path.exists(glob) else []
    root = os.path.dirname(head) if not head.endswith(("/", "\\")) else head.rstrip("/\\")
    pattern = _pattern(glob)
    found = []
    for folder, _, names in os.walk(root or "."):
        for name in names:
            path = os.path.join(folder, name) if root else os.path.join(folder, name)[2:]
            if pattern.match(path):
                found.append(path)
    return sorted(found)


def delete(paths: list[str]) -> None:
    """Delete files and folders (recursively); FileNotFoundError when one matches nothing."""
    for path in paths:
        matched = match(path)
        if not matched:
            raise FileNotFoundError(f"No files found to delete under: {path}")
        for found in matched:
            if os.path.isdir(found):
                shutil.rmtree(found)
            else:
                os.remove(found)


def create(path: str) -> BinaryIO:
    """A new file open for writing, its folders made."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    return open(path, "wb")


def rename(sources: list[str], targets: list[str]) -> None:
    for source, target in zip(sources, targets, strict=True):
        os.rename(source, target)
