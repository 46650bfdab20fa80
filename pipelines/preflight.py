"""The checks of an analyze job that need no Beam and no torch: its options, its list and
its warehouse path (a remote one: that its bucket answers). They run first, so a mistake
is reported in a moment, before the heavy imports (`analyze.prepare` then checks the
model, its weights and the device).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence

from affectflow.pipelines.beam_flags import precheck_beam_args
from affectflow.pipelines.option_types import OptionError
from affectflow.pipelines.options import parse_analyze_args
from affectflow.schemas.settings import IngestSettings
from affectflow.sources.video_list import check_video_list
from affectflow.warehouse.layout import is_remote, local_path
from affectflow.warehouse.remote import RemoteError, check_reachable

GLOB_CHARS = "[]*?"


class JobError(RuntimeError):
    """The job itself cannot run (not a failure of one video): the message says what to fix."""


@dataclasses.dataclass(frozen=True)
class Checked:
    """What passed the preflight: the list (None when the caller brings its rows), the
    analyze options, every flag but the list (for Beam's PipelineOptions) and those left
    for Beam (checked against Beam's list of flags; Beam's parser reads them later)."""

    video_list: str | None
    known: argparse.Namespace
    flags: list[str]
    beam_args: list[str]


def _list_exists(path: str, beam_args: list[str]) -> bool:
    """Whether the list exists; a remote one through Beam's filesystems, given the job's
    Beam options first (S3's endpoint and keys, ...: its filesystem has no client without
    them), as the pipeline gives them, so that reading the list here works as it will there."""
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.options.pipeline_options import PipelineOptions

        FileSystems.set_options(PipelineOptions(beam_args))
        return FileSystems.exists(path)
    return os.path.exists(path)


def preflight(argv: Sequence[str] | None, with_list: bool = True) -> Checked:
    """Check the options, the list and the warehouse path; JobError says what is wrong.

    Beam is not imported: flags left for Beam (`--runner`, ...) are checked against the
    list of Beam's flags (`beam_flags.py`).
    """
    flags = list(argv or [])
    try:
        known, rest = parse_analyze_args(flags, with_list, check_beam=False)
    except OptionError as error:
        raise JobError(str(error)) from None
    video_list = getattr(known, "video_list", None)
    if video_list is not None:
        flags.remove(video_list)
        if not is_remote(video_list):  # a file: URL as the path Beam and open() read
            video_list = local_path(video_list)
        if os.path.isdir(video_list):
            raise JobError(
                f"video list {video_list!r} is a folder: give the list file (.csv, .jsonl or .txt)"
            )
        try:
            exists = _list_exists(video_list, rest)
        except OSError as error:  # a remote list's filesystem: its reason, on one line
            reason = " ".join(str(error).split())[:300]
            raise JobError(f"video list {video_list!r} cannot be read: {reason}") from None
        if not exists:
            raise JobError(f"video list {video_list!r} does not exist")
        if not is_remote(video_list) and not os.path.isfile(video_list):
            raise JobError(  # a device or a FIFO: /dev/zero would be read until memory ran out
                f"video list {video_list!r} is not a regular file: give the list file"
            )
    if not known.warehouse.strip():
        raise JobError("--warehouse is empty: give a folder or URI (default: out)")
    if any(char in known.warehouse for char in GLOB_CHARS):
        raise JobError(
            f"warehouse path {known.warehouse!r} contains one of {GLOB_CHARS}, which file "
            "patterns read as wildcards: choose a --warehouse path without them"
        )
    if is_remote(known.warehouse):
        try:
            check_reachable(known.warehouse)
        except RemoteError as error:
            raise JobError(f"warehouse {known.warehouse}: {error}") from None
    try:
        if video_list is not None:
            check_video_list(video_list, IngestSettings(known.cohort, known.allow_local))
        precheck_beam_args(rest)
    except (OptionError, ValueError, OSError) as error:
        raise JobError(str(error)) from None
    return Checked(video_list, known, flags, rest)
