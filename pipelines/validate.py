"""`affectflow validate LABELLED --warehouse DIR [--name NAME] [analyze options]`.

The whole instrument measured end to end: labelled faces (a folder of label folders, or
a CSV/JSONL of url or path, label, subject, start_s, end_s) go through the analyze job
itself (`pipelines.analyze`: the same graph, stages and settings, so the same
`analysis_id`; a photo is a one-frame video), into a warehouse of their own inside the
analyst's (`warehouse.validations`: never in the analyst's videos, faces or cohorts).
The figures, with bootstrap CIs over subjects, become one `validations` row, which the
reports of the same `analysis_id` use to correct their shares; a card is printed.

`--help` imports neither Beam nor torch nor OpenCV: the job's modules load in `run`.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from affectflow.pipelines.command_parser import CommandParser
from affectflow.pipelines.preflight import JobError
from affectflow.pipelines.validation_card import render
from affectflow.schemas.printable import printable, to_terminal
from affectflow.schemas.settings import ClassifySettings
from affectflow.warehouse.validations import check_name, faces_warehouse, write_validation

if TYPE_CHECKING:
    from affectflow.pipelines.validation_set import LabelledItem

LOG = logging.getLogger(__name__)
FORMATS = ("table", "json", "html")


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="affectflow validate",
        usage="affectflow validate LABELLED --warehouse DIR [--name NAME] [analyze options]",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Every option of `affectflow analyze` that changes results is accepted "
        "(--model, --fps, --detector, ...): validate under the settings of your analysis.",
    )
    parser.add_argument(
        "labelled", metavar="LABELLED", help="folder of label folders, .csv, .jsonl"
    )
    parser.add_argument("--name", help="the set's name (default: the folder or file name)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (1000)")
    parser.add_argument("--seed", type=int, default=42, help="bootstrap seed (42)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="card format")
    parser.add_argument("--out", help="write the card to this file")
    return parser


def _split_warehouse(rest: Sequence[str]) -> tuple[str, list[str]]:
    """The `--warehouse` value (default out) and the other analyze flags."""
    finder = argparse.ArgumentParser(add_help=False)
    finder.add_argument("--warehouse", default="out")
    known, others = finder.parse_known_args(list(rest))
    return known.warehouse, others


def _registry_labels(flags: Sequence[str]) -> tuple[str, ...] | None:
    """The model's labels when the registry knows them (no `--weights`: a checkpoint
    declares its own, known only once `prepare` has read it)."""
    finder = argparse.ArgumentParser(add_help=False)
    finder.add_argument("--model", default=ClassifySettings().model)
    finder.add_argument("--weights")
    known, _ = finder.parse_known_args(list(flags))
    if known.weights:
        return None
    from affectflow.models.registry import get_model_spec

    return get_model_spec(known.model).labels


def _write_list(items: Sequence[LabelledItem], folder: str) -> str:
    """The analyze job's video list: each distinct file or URL once, one cohort."""
    from affectflow.pipelines.validation_set import COHORT

    path = str(Path(folder) / "validation.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["url", "cohort"])
        for location in sorted({item.location for item in items}):
            writer.writerow([location, COHORT])
    return path


def run(argv: Sequence[str]) -> dict:
    """Validate; returns the `validations` row written. ValueError / JobError: the set or
    the options cannot be used (nothing analysed)."""
    from affectflow.pipelines.analyze import execute, prepare
    from affectflow.pipelines.validation_results import predictions, validation_row
    from affectflow.pipelines.validation_set import map_labels, read_labelled, set_fingerprint

    own, rest = _parser().parse_known_args(list(argv))
    if own.n_boot < 1:
        raise ValueError("--n-boot must be at least 1")
    warehouse, flags = _split_warehouse(rest)
    name = check_name(own.name or Path(own.labelled.rstrip("/")).stem)
    items = read_labelled(own.labelled)
    if (labels := _registry_labels(flags)) is not None:
        items = map_labels(items, labels)  # unknown labels: refused before anything is fetched
    subset = faces_warehouse(warehouse, name)
    with tempfile.TemporaryDirectory(prefix="affectflow-validate-") as folder:
        video_list = _write_list(items, folder)
        argv = [video_list, *flags, "--warehouse", subset, "--allow-local", "--still-images"]
        job = prepare(argv, label=f"validation {name}")
        items = map_labels(items, job.spec.labels)  # a checkpoint's labels: before any analysis
        fingerprint = set_fingerprint(items)
        execute(job)
    run_info = job.run_info
    row = validation_row(
        name=name,
        fingerprint=fingerprint,
        items=items,
        predicted=predictions(subset, run_info.analysis_id, items),
        spec=job.spec,
        run={
            "analysis_id": run_info.analysis_id,
            "model_id": run_info.model_id,
            "weights_sha256": run_info.weights_sha256,
        },
        n_boot=own.n_boot,
        seed=own.seed,
    )
    write_validation(warehouse, row)
    return row


def main(argv: Sequence[str]) -> int:
    """Exit 0 with the card; 2 with one line when the set or the options cannot be used;
    75 when another job holds the warehouse."""
    argv = list(argv)
    if not argv or "-h" in argv or "--help" in argv:
        _parser().print_help()
        return 0 if argv else 2
    own, _ = _parser().parse_known_args(argv)
    try:
        row = run(argv)
    except (JobError, ValueError) as error:
        print(printable(f"affectflow validate: {error}"), file=sys.stderr)
        return 2
    except Exception as error:  # the job failed (75: the warehouse is busy); no traceback
        from affectflow.pipelines.failures import failed_exit

        return failed_exit("validate", error)
    card = render(row, own.format)
    if own.out:
        Path(own.out).write_text(card + "\n", encoding="utf-8")
    else:
        print(to_terminal(card))
    return 0
