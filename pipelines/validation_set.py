"""A labelled validation set: faces with the emotion a person gave each (`validate`).

Three layouts: a folder of label folders (`<label>/*.jpg`, or `<label>/<subject>/*.jpg`:
the subject is the folder), or a CSV / JSONL file with `url` or `path`, `label`, and
optional `subject`, `start_s`, `end_s` (a labelled stretch of a video; a photo is a
one-frame video). Relative paths are read from the file's folder. Labels are matched to
the model's as `train` matches folder names (case-insensitive, synonyms folded:
happy/happiness, sad/sadness, ...); a label the model does not have, or a local file that
is not there, refuses the whole set before any work.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from affectflow.models.class_sets import ClassSet
from affectflow.models.datasets import IMAGE_SUFFIXES
from affectflow.sources.video_list import make_request

FINGERPRINT_BYTES = 1 << 20
COHORT = "validation"  # the cohort of every item in the validation's own warehouse


@dataclasses.dataclass(frozen=True)
class LabelledItem:
    """One labelled face: where it is (absolute path or URL), the model's label for the
    person's label, its subject (None: the item is its own), and its stretch of video."""

    location: str
    video_key: str
    label: str
    subject: str | None = None
    start_s: float | None = None
    end_s: float | None = None

    @property
    def cluster(self) -> str:
        """What the bootstrap resamples: the subject, else the item itself."""
        return self.subject if self.subject is not None else self.location


def model_class_set(labels: Sequence[str]) -> ClassSet:
    """The model's labels as a class set (its output order), for matching raw labels."""
    return ClassSet("model", tuple(labels), {label: "other" for label in labels})


def _folder_rows(root: Path) -> Iterator[dict]:
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(label_dir.rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            parent = path.parent
            subject = None if parent == label_dir else parent.relative_to(label_dir).as_posix()
            yield {"path": str(path.resolve()), "label": label_dir.name, "subject": subject}


def _file_rows(path: Path) -> Iterator[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        raise ValueError(f"{path.name} line {number}: not JSON") from None
        elif path.suffix.lower() == ".csv":
            yield from csv.DictReader(handle)
        else:
            raise ValueError(f"{path.name}: a labelled set is a folder, a .csv or a .jsonl file")


def _number(row: dict, key: str) -> float | None:
    value = row.get(key)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} {value!r} is not a number of seconds") from None


def _request(row: dict, base: Path) -> tuple[str, str, bool]:
    """(location, video key, is local) as `analyze`'s ingest makes them for a list row."""
    where = str(row.get("url") or row.get("path") or "").strip()
    if not where:
        raise ValueError("every row needs a url or path column")
    request = make_request(
        {"url": where}, 0, default_cohort=COHORT, allow_local=True, base_dir=str(base)
    )
    return request.url, request.video_key, request.is_local


def _item(row: dict, base: Path) -> LabelledItem:
    """The item of a row, its label as given (see `map_labels`)."""
    if "label" not in row:
        raise ValueError("every row needs a label column (and a url or path column)")
    label = str(row.get("label") or "").strip()
    subject = row.get("subject")
    start, end = _number(row, "start_s"), _number(row, "end_s")
    if start is not None and end is not None and end < start:
        raise ValueError(f"end_s {end:g} is before start_s {start:g}")
    subject = str(subject).strip() if subject not in (None, "") else None
    location, video_key, _ = _request(row, base)
    return LabelledItem(location, video_key, label, subject, start, end)


def read_labelled(source: str) -> list[LabelledItem]:
    """The items of a labelled set, labels as written; ValueError (one line) for a
    missing local file, a bad row or an empty set."""
    path = Path(source)
    if not path.exists():
        raise ValueError(f"labelled set {source!r} does not exist")
    rows = _folder_rows(path) if path.is_dir() else _file_rows(path)
    base = path if path.is_dir() else path.parent
    items = [_item(row, base) for row in rows]
    if not items:
        raise ValueError(f"labelled set {source!r} holds no labelled faces")
    return items


def map_labels(items: Sequence[LabelledItem], labels: Sequence[str]) -> list[LabelledItem]:
    """The items with their labels mapped onto the model's `labels` (as `train` maps
    folder names); ValueError naming every label the model does not have."""
    class_set = model_class_set(labels)
    mapped, unknown = [], Counter()
    for item in items:
        label = class_set.assign(item.label) if item.label else None
        if label is None:
            unknown[item.label or "(empty)"] += 1
        else:
            mapped.append(dataclasses.replace(item, label=label))
    if unknown:
        named = ", ".join(f"{label} ({count})" for label, count in sorted(unknown.items()))
        raise ValueError(
            f"labels the model does not have: {named}; its labels: {', '.join(labels)} "
            "(synonyms such as happy/happiness are matched)"
        )
    return mapped


def set_fingerprint(items: Sequence[LabelledItem]) -> str:
    """sha256 over the items (location, label, subject, stretch) and each local file's
    size and first MiB: the same faces with the same labels give the same fingerprint."""
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda i: (i.location, i.start_s or 0.0, i.label)):
        digest.update(json.dumps(dataclasses.astuple(item)).encode())
        if os.path.isfile(item.location):
            digest.update(str(os.path.getsize(item.location)).encode())
            with open(item.location, "rb") as handle:
                digest.update(handle.read(FINGERPRINT_BYTES))
    return digest.hexdigest()
