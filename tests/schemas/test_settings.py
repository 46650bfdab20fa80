"""Stage settings: every field is fingerprinted unless declared operational, and every
field is set from the analyze options."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from affectflow.models.registry import get_model_spec
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
    },
    "detect": {
        "cv2_threads",
        "debug_crops_dir",
        "detector_weights_path",
        "device",
        "detect_batch",
        "max_duration_s",
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
    return StageSettings(**{name: cls() for name, cls in STAGES.items()})


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
    )
    assert built.download == DownloadSettings()
    assert built.classify == ClassifySettings(model=spec.name)
    assert built.units == UnitSettings(warehouse=opts.warehouse)  # the warehouse has no default


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
        "--min-rate=10",
        "--downloads=2",
        "--allow-private-addresses",
        "--warehouse=/tmp/wh",
        "--unit-videos=5",
        "--unit-seconds=30",
    ]
    opts = AnalyzeOptions(argv).view_as(AnalyzeOptions)
    spec = get_model_spec("fer-minixception")
    built = stage_settings(opts, spec, "/w.pt", "abc", detector_weights_path="/m.pt")
    defaults = _defaults()
    unchanged = [
        (stage, name)
        for stage, name in ALL_FIELDS
        if getattr(getattr(built, stage), name) == getattr(getattr(defaults, stage), name)
    ]
    # The crop geometry comes from the model (equal to the defaults for fer-minixception);
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
