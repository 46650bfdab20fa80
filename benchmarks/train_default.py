"""Reproduce the shipped default model's weights from the two labelled archives' folders.

    python benchmarks/train_default.py FER2013_DIR MUXSPACE_DIR --work DIR [--out WEIGHTS]
        [-- RECIPE FLAGS OF affectflow train --crops]

Steps, each the project's own command: the fixed splits (`models.data_splits`) ->
`DIR/splits/*.csv`; `affectflow prepare` on the four training and validation splits ->
`DIR/crops/*.npz` (reused when present); `affectflow train --crops` on fer-train +
muxspace-train, the temperature fitted on muxspace-val + fer-val, which prints the
validation figures as JSON. muxspace-test is never read here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectflow.models.data_splits import write_all_splits
from affectflow.pipelines import prepare, train

TRAIN = ("fer-train", "muxspace-train")
VAL = ("muxspace-val", "fer-val")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    ours, recipe = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fer", help="the fer2013-train folder (<class>/*.jpg)")
    parser.add_argument("mux", help="the muxspace-dev folder (images/, labels.csv)")
    parser.add_argument("--work", required=True, help="folder for splits/ and crops/")
    parser.add_argument("--out", default="affectflow-minixception.pt", help="weights to write")
    args = parser.parse_args(ours)
    work = Path(args.work)
    write_all_splits(args.fer, args.mux, work / "splits")
    missing = [s for s in (*TRAIN, *VAL) if not (work / "crops" / f"{s}.npz").is_file()]
    if missing:
        csvs = [str(work / "splits" / f"{s}.csv") for s in missing]
        if prepare.main([*csvs, "--out", str(work / "crops")]) != 0:
            return 2
    npz = {s: str(work / "crops" / f"{s}.npz") for s in (*TRAIN, *VAL)}
    return train.main(
        ["--crops", *(npz[s] for s in TRAIN), "--val-crops", *(npz[s] for s in VAL),
         "--out", args.out, *recipe]
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
