"""Stage settings: every field is fingerprinted unless declared operational, and every
field is set from the analyze options."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from affectflow.models.registry import get_model_spec
from affectflow.models.threads import available_cores
from affectflow.pipelines.options import AnalyzeOptions
from affectflow.pipelines.stage_settings import stage_settings
from affectflow.schemas.settings import (
    DETECTORS,
    ClassifySettings,
    DetectSettings,
    DownloadSettings,
    IngestSettings,
    StageSettings,
    UnitSettings,
)

STAGES = {
    "ingest": IngestSettings,
    "download": DownloadSettings,
    "detect": DetectSettings,
    "classify": ClassifySettings,
    "units": UnitSettings,
}
# What may change without re-analysing a video: how the work runs, what it refuses.
OPERATIONAL = {
    "ingest": {"default_cohort", "allow_local"},
    "download": {
        "cache_dir",
        "max_duration_s",
        "max_filesize_bytes",
        "allowed_extractors",
        "socket_timeout_s",
        "retries",
        "backoff_s",
        "keep_title",
        "channel_salt",
        "keep_videos",
        "cache_max_bytes",
        "download_timeout_s",
        "min_rate_bytes",
        "concurrent_downloads",
        "allow_private_addresses",
        "download_deadline_s",
        "max_pixels",
        "still_images",
    },
    "detect": {
        "cv2_threads",
        "debug_crops_dir",
        "detector_weights_path",
        "device",
        "detect_batch",
        "max_duration_s",
        "max_pixels",
        "process_timeout_s",
    },
    "classify": {
        "weights_path",
        "batch_size",
        "batch_across_videos",
        "device",
        "torch_threads",
        "model_copies",
    },
    "units": {"warehouse", "max_videos", "max_seconds", "journal"},
}


def _defaults() -> StageSettings:
    """Every stage's defaults, with weights of known sha256 (their path is operational)."""
    stages = {name: cls() for name, cls in STAGES.items()}
    stages["classify"] = ClassifySettings(weights_sha256="0" * 64)
    return StageSettings(**stages)


def test_weights_of_unknown_sha256_are_told_apart_by_their_uri() -> None:
    """A launcher that cannot read remote weights gets sha256 "": two such runs with other
    weights have two analysis ids (else the second would skip every video as done)."""
    base = _defaults()

    def with_weights(path: str, sha256: str) -> StageSettings:
        classify = ClassifySettings(weights_path=path, weights_sha256=sha256)
        return dataclasses.replace(base, classify=classify)

    a = with_weights("gs://bucket/a.pt", "")
    assert a.analysis_id() != with_weights("gs://bucket/b.pt", "").analysis_id()
    assert a.fingerprint()["classify"]["weights_path"] == "gs://bucket/a.pt"
    assert a.analysis_id() == with_weights("gs://bucket/a.pt", "").analysis_id()
    known = with_weights("gs://bucket/a.pt", "f" * 64)
    assert known.analysis_id() == with_weights("/local/copy.pt", "f" * 64).analysis_id()
    assert "weights_path" not in known.fingerprint()["classify"]


def _other_value(value: Any) -> Any:
    """A value of the same kind that differs from `value` (a valid one for choices)."""
    if value in DETECTORS:
        return next(other for other in DETECTORS if other != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 3
    if isinstance(value, str):
        return value + "-other"
    if isinstance(value, tuple):
        return (*value, "other")
    return "other"  # None


ALL_FIELDS = [
    (stage, field.name) for stage, cls in STAGES.items() for field in dataclasses.fields(cls)
]


@pytest.mark.parametrize(("stage", "name"), ALL_FIELDS)
def test_every_field_changes_the_analysis_id_unless_operational(stage: str, name: str) -> None:
    base = _defaults()
    part = getattr(base, stage)
    changed = dataclasses.replace(
        base, **{stage: dataclasses.replace(part, **{name: _other_value(getattr(part, name))})}
    )
    if name in OPERATIONAL[stage]:
        assert changed.analysis_id() == base.analysis_id()
        assert name not in changed.fingerprint().get(stage, {})
    else:
        assert changed.analysis_id() != base.analysis_id()
        assert name in changed.fingerprint()[stage]


def test_the_operational_list_names_real_fields() -> None:
    for stage, names in OPERATIONAL.items():
        assert names <= {field.name for field in dataclasses.fields(STAGES[stage])}


def test_equal_settings_give_equal_ids() -> None:
    assert _defaults().analysis_id() == _defaults().analysis_id()
    assert len(_defaults().analysis_id()) == 16


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DetectSettings().fps = 5.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="detect_every"):
        DetectSettings(detect_every=0)
    with pytest.raises(ValueError, match="detector must be one of mtcnn, haar"):
        DetectSettings(detector="dlib")


def test_flag_defaults_are_the_settings_defaults() -> None:
    opts = AnalyzeOptions([]).view_as(AnalyzeOptions)
    opts.cache_dir = ""
    spec = get_model_spec("fer-minixception")
    built = stage_settings(opts, spec, weights_path="", weights_sha256="")
    assert built.detect == dataclasses.replace(
        DetectSettings(),
        crop_size=spec.input_size,
        crop_margin_px=spec.crop_margin_px,
        clahe=spec.clahe,
        cv2_threads=available_cores(),  # one worker (a short list): every core's threads
    )
    assert built.download == DownloadSettings()
    assert built.classify == ClassifySettings(model=spec.name, torch_threads=available_cores())
    assert built.units == UnitSettings(warehouse=opts.warehouse)  # the warehouse has no default


@pytest.mark.parametrize(
    ("text", "pixels"), [("3840x2160", 8_294_400), ("640X480", 307_200), ("1000000", 1_000_000)]
)
def test_max_pixels_takes_a_size_or_a_number(text: str, pixels: int) -> None:
    assert AnalyzeOptions([f"--max-pixels={text}"]).view_as(AnalyzeOptions).max_pixels == pixels


def test_every_field_follows_its_flag() -> None:
    argv = [
        "--cohort=c",
        "--allow-local",
        "--cache-dir=/tmp/cache",
        "--max-height=720",
        "--max-duration=60",
        "--max-filesize=1000",
        "--sites=youtube,vimeo",
        "--socket-timeout=3",
        "--retries=7",
        "--backoff-s=0.5",
        "--keep-title",
        "--channel-salt=s",
        "--keep-videos",
        "--cache-max-gb=1",
        "--fps=4",
        "--trim-s=1",
        "--scale-factor=1.2",
        "--min-neighbors=6",
        "--min-face=40",
        "--detect-width=320",
        "--detect-every=4",
        "--min-track-frames=2",
        "--detector=haar",
        "--min-face-score=0.5",
        "--min-face-quality=0.3",
        "--align=off",
        "--detect-batch=8",
        "--clahe=on",
        "--workers=2",
        "--debug-crops=/tmp/crops",
        "--batch-size=8",
        "--batch-across-videos",
        "--device=cuda",
        "--model-copies=2",
        "--flip-average=on",
        "--smooth-s=1.5",
        "--download-timeout=30",
        "--download-deadline=90",
        "--max-pixels=1920x1080",
        "--process-timeout=600",
        "--min-rate=10",
        "--downloads=2",
        "--allow-private-addresses",
        "--still-images",
        "--warehouse=/tmp/wh",
        "--unit-videos=5",
        "--unit-seconds=30",
    ]
    opts = AnalyzeOptions(argv).view_as(AnalyzeOptions)
    defaults = _defaults()
    spec = get_model_spec(defaults.classify.model)
    built = stage_settings(opts, spec, "/w.pt", "abc", detector_weights_path="/m.pt")
    unchanged = [
        (stage, name)
        for stage, name in ALL_FIELDS
        if getattr(getattr(built, stage), name) == getattr(getattr(defaults, stage), name)
    ]
    # The crop geometry comes from the model (equal to the defaults for the default model);
    # the progress journal is the run's, set when it starts (`analyze._start`).
    assert set(unchanged) == {
        ("detect", "crop_size"),
        ("detect", "crop_margin_px"),
        ("classify", "model"),
        ("units", "journal"),
    }


def test_a_negative_smoothing_window_is_refused() -> None:
    with pytest.raises(ValueError, match="smooth_s"):
        ClassifySettings(smooth_s=-0.5)
