"""pyarrow schemas of the warehouse tables.

The warehouse is a folder (or any Beam FileSystems URI) with one sub-folder per table:
`videos/`, `faces/`, `errors/`, `runs/`, each holding Parquet files (rows of runs in
progress wait in `_units/`, see `warehouse/units.py`; `unit_id` names the unit a row
was committed in; `input_key` the input row a `videos` or `errors` row stands for,
computed once by `rows.item_key` when the row is made). Column names are a
contract with analysts and later stages: they may grow, never change.
"""

from __future__ import annotations

import pyarrow as pa

TABLE_NAMES = ("videos", "faces", "errors", "runs")

VIDEOS = pa.schema(
    [
        ("video_key", pa.string()),
        ("url", pa.string()),
        ("cohort", pa.string()),
        ("run_date", pa.date32()),  # the run's start date (UTC)
        ("status", pa.string()),
        ("duration_s", pa.float64()),
        ("frames_sampled", pa.int64()),
        ("faces_detected", pa.int64()),
        ("tracks", pa.int64()),
        ("run_id", pa.string()),
        ("row_number", pa.int64()),
        ("attributes", pa.map_(pa.string(), pa.string())),
        ("extractor", pa.string()),
        ("source_id", pa.string()),
        ("upload_date", pa.string()),
        ("channel_hash", pa.string()),
        ("title", pa.string()),
        ("fps", pa.float64()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("model_id", pa.string()),
        ("analysis_id", pa.string()),
        ("seconds", pa.float64()),
        ("error", pa.string()),  # failed rows: "stage: message" of the errors row
        ("unit_id", pa.string()),
        ("input_key", pa.string()),  # the input row: `rows.item_key`, written once
    ]
)

FACES = pa.schema(
    [
        ("video_key", pa.string()),
        ("cohort", pa.string()),
        ("run_date", pa.date32()),  # the run's start date (UTC)
        ("frame_index", pa.int64()),
        ("timestamp_ms", pa.int64()),
        ("track_id", pa.int64()),
        ("bbox_x", pa.int32()),
        ("bbox_y", pa.int32()),
        ("bbox_w", pa.int32()),
        ("bbox_h", pa.int32()),
        ("label", pa.string()),
        ("score", pa.float32()),
        ("scores", pa.map_(pa.string(), pa.float32())),
        ("model_id", pa.string()),
        ("weights_sha256", pa.string()),
        ("run_id", pa.string()),
        ("smoothed_label", pa.string()),
        ("smoothed_score", pa.float32()),
        ("smoothed_scores", pa.map_(pa.string(), pa.float32())),
        ("face_px", pa.int32()),
        ("face_score", pa.float32()),
        ("sharpness", pa.float32()),
        ("quality", pa.float32()),
        ("unit_id", pa.string()),
    ]
)

ERRORS = pa.schema(
    [
        ("video_key", pa.string()),
        ("url", pa.string()),
        ("cohort", pa.string()),
        ("run_date", pa.date32()),  # the run's start date (UTC)
        ("row_number", pa.int64()),
        ("stage", pa.string()),
        ("error_class", pa.string()),
        ("message", pa.string()),
        ("retryable", pa.bool_()),
        ("input", pa.string()),
        ("run_id", pa.string()),
        ("unit_id", pa.string()),
        ("input_key", pa.string()),  # the input row: `rows.item_key`, written once
    ]
)

RUNS = pa.schema(
    [
        ("run_id", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
        ("config", pa.string()),
        ("code_version", pa.string()),
        ("runner", pa.string()),
        ("model_id", pa.string()),
        ("weights_sha256", pa.string()),
        ("analysis_id", pa.string()),
        ("valence", pa.map_(pa.string(), pa.string())),
        ("valence_ambiguous", pa.map_(pa.string(), pa.string())),
        ("videos_total", pa.int64()),
        ("videos_ok", pa.int64()),
        ("videos_no_faces", pa.int64()),
        ("videos_failed", pa.int64()),
        ("videos_skipped", pa.int64()),
        ("videos_duplicate", pa.int64()),
        ("frames_sampled", pa.int64()),
        ("faces_detected", pa.int64()),
        ("seconds", pa.float64()),
        ("attempts", pa.int64()),
        ("videos_resumed", pa.int64()),
    ]
)

# The commit marker of one unit (`warehouse/units.py`): written after the unit's rows.
UNITS = pa.schema(
    [
        ("run_id", pa.string()),
        ("unit_id", pa.string()),
        ("videos", pa.int64()),
        ("committed_at", pa.timestamp("us", tz="UTC")),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "videos": VIDEOS,
    "faces": FACES,
    "errors": ERRORS,
    "runs": RUNS,
}

# `validations`: one row per run of `affectflow validate` (not a unit table: written whole,
# one file per row, by `warehouse/validations.py`). Each figure has a bootstrap 95% CI
# (`_low`, `_high`) over the set's subjects (over images when none is given). Valence
# maps: `paper` counts surprise negative, `excl_surprise` sets it apart. `items` holds each
# labelled item (its cluster as a code hashed with a salt never stored, not the subject's
# name): what the reports' joint bootstrap resamples.
VALIDATION_MAPS = ("paper", "excl_surprise")
_CI = ("", "_low", "_high")
VALIDATION_FIGURES = (
    "detection_rate",
    "accuracy",
    "uar",
    "uf1",
    *(f"{rate}_{name}" for name in VALIDATION_MAPS for rate in ("sensitivity", "fpr", "youden_j")),
)
VALIDATION_ITEM = pa.struct(
    [("cluster", pa.string()), ("truth", pa.string()), ("predicted", pa.string())]
)
VALIDATIONS = pa.schema(
    [
        ("validation_id", pa.string()),
        ("name", pa.string()),
        ("set_fingerprint", pa.string()),
        ("analysis_id", pa.string()),
        ("model_id", pa.string()),
        ("weights_sha256", pa.string()),
        ("validated_at", pa.timestamp("us", tz="UTC")),
        ("n", pa.int64()),  # labelled items read (detected or not)
        ("n_failed", pa.int64()),  # items whose file could not be read: not in n
        ("clusters", pa.int64()),
        ("clustered_by", pa.string()),  # subject | image
        ("n_boot", pa.int64()),
        ("seed", pa.int64()),
        *((f"{figure}{end}", pa.float64()) for figure in VALIDATION_FIGURES for end in _CI),
        ("labels", pa.list_(pa.string())),
        *(
            (f"{what}{end}", pa.list_(pa.float64()))
            for what in ("recall", "precision")
            for end in _CI
        ),
        ("confusion", pa.list_(pa.list_(pa.int64()))),  # truth x (predicted..., missed)
        ("items", pa.list_(VALIDATION_ITEM)),
    ]
)
