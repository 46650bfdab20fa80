"""End-to-end figures of emotion models on labelled faces, through `affectflow validate`.

    python benchmarks/validation.py SET [SET ...] [--model NAME [--model NAME]]
        [--chunk 1000] [--n-boot 1000] [--scratch DIR] [-- ANALYZE OPTIONS]

Each SET is a folder of label folders or a CSV/JSONL (`affectflow validate`'s layouts),
e.g. the held-out split `muxspace-test.csv` of `models/data_splits.py`. Each model runs
the whole analyze job (detector, check, alignment, crop, classifier, smoothing) on the
set, at most `--chunk` images per job (one job after the other into one scratch
warehouse; a last job over the whole set finds every image done and writes the
figures). Prints JSON: per set and model the card's figures with bootstrap 95% CIs over
subjects, truly neutral faces read negative, and CPU seconds. One thread.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from affectflow.models.registry import get_model_spec
from affectflow.pipelines import validate
from affectflow.pipelines.logs import setup_logging
from affectflow.pipelines.validation_set import LabelledItem, read_labelled
from affectflow.schemas.settings import ClassifySettings
from affectflow.schemas.tables import VALIDATION_FIGURES

FIELDS = ("path", "label", "subject", "start_s", "end_s")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _write(items: list[LabelledItem], path: Path) -> str:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FIELDS)
        for i in items:
            writer.writerow([i.location, i.label, i.subject or "", i.start_s or "", i.end_s or ""])
    return str(path)


def _neutral_read_negative(row: dict) -> dict:
    """Truly neutral faces (detected) that the model read negative, under each map."""
    labels, confusion = row["labels"], row["confusion"]
    if "neutral" not in labels:
        return {}
    spec = get_model_spec(row["model_id"])
    line = confusion[labels.index("neutral")][:-1]
    out = {"neutral_detected": sum(line)}
    for name, valence in (("paper", spec.valence), ("excl_surprise", spec.valence_ambiguous)):
        said = sum(n for n, label in zip(line, labels, strict=True) if valence[label] == "negative")
        out[f"neutral_read_negative_{name}"] = said
    return out


def _figures(row: dict) -> dict:
    out = {k: row[k] for k in ("n", "n_failed", "clusters", "clustered_by", "analysis_id")}
    for figure in VALIDATION_FIGURES:
        out[figure] = [row[figure], row[f"{figure}_low"], row[f"{figure}_high"]]
    for what in ("recall", "precision"):
        out[what] = {
            label: [row[what][i], row[f"{what}_low"][i], row[f"{what}_high"][i]]
            for i, label in enumerate(row["labels"])
        }
    return {**out, **_neutral_read_negative(row), "labels": row["labels"],
            "confusion": row["confusion"]}  # fmt: skip


def measure(source: str, model: str, args: argparse.Namespace, scratch: Path) -> dict:
    """One model on one set: chunked jobs, then the figures over the whole set."""
    items = read_labelled(source)
    name = f"{Path(source.rstrip('/')).stem}-{model}"
    common = ["--warehouse", str(scratch), "--model", model, "--n-boot", str(args.n_boot)]
    common += ["--name", name, *args.analyze]
    cpu, wall = _cpu_s(), time.monotonic()
    for start in range(0, len(items), args.chunk):
        chunk = _write(items[start : start + args.chunk], scratch / f"{name}-chunk.csv")
        validate.run([chunk, *common])
    row = validate.run([_write(items, scratch / f"{name}-all.csv"), *common])
    seconds = {"cpu_s": round(_cpu_s() - cpu, 1), "wall_s": round(time.monotonic() - wall, 1)}
    return {"set": source, "model": model, **seconds, **_figures(row)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", help="labelled folders or CSV/JSONL files")
    parser.add_argument("--model", action="append", help="model(s), default: the default")
    parser.add_argument("--chunk", type=int, default=1000, help="images per job (1000)")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--scratch", help="scratch warehouse (default: a temporary folder)")
    argv = sys.argv[1:]
    analyze = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.analyze = analyze
    torch.set_num_threads(1)
    setup_logging(verbose=False, progress=False)
    models = args.model or [ClassifySettings().model]
    with tempfile.TemporaryDirectory(prefix="affectflow-validation-") as folder:
        scratch = Path(args.scratch or folder)
        scratch.mkdir(parents=True, exist_ok=True)
        results = [measure(s, m, args, scratch) for s in args.sets for m in models]
    print(json.dumps({"machine": platform.node(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
