"""`affectflow models list | fetch NAME`: show the models, or download one's weights.

NAME is an emotion model of the registry or `mtcnn`, the face detector and face check.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from affectflow.models.cache import sha256_file

MTCNN = "mtcnn"


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 with the list or the fetched weights' path, 2 with a message on failure."""
    parser = argparse.ArgumentParser(prog="affectflow models")
    parser.add_argument("action", choices=("list", "fetch"))
    parser.add_argument("name", nargs="?", default="fer-minixception")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)  # before the heavy imports: --help and mistakes at once
    from affectflow.models.mtcnn_weights import FACENET_VERSION, fetch_mtcnn_weights
    from affectflow.models.registry import MODEL_SPECS, get_model_spec

    if args.action == "list":
        for name, spec in MODEL_SPECS.items():
            print(f"{name}: {len(spec.labels)} classes ({', '.join(spec.labels)})")
        print(f"{MTCNN}: face detector and face check (facenet-pytorch {FACENET_VERSION})")
        return 0
    try:
        if args.name == MTCNN:
            path = fetch_mtcnn_weights(args.cache_dir)
            print(f"{MTCNN}: {path} (sha256 {sha256_file(path)})")
            return 0
        weights = get_model_spec(args.name).fetch_weights(args.cache_dir)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"affectflow models: {error}", file=sys.stderr)
        return 2
    print(f"{args.name}: {weights.path} (sha256 {weights.sha256})")
    return 0
