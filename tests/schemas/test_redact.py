"""Redaction: no credentials, query secrets or channel ids in what is stored."""

from __future__ import annotations

import pytest

from affectflow.schemas.records import ErrorRecord, RunInfo, Stage, VideoRequest
from affectflow.schemas.redact import redact_text, redact_url
from affectflow.schemas.rows import error_row, failed_video_row, skipped_video_row

CHANNEL = "UC" + "a1B2" * 5 + "xy"


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://user:hunter2@cdn.example.org/v.mp4", "https://cdn.example.org/v.mp4"),
        (
            "https://cdn.example.org/v.mp4?token=s3cr3t&quality=hd&X-Amz-Signature=abc",
            "https://cdn.example.org/v.mp4?token=<redacted>&quality=hd&X-Amz-Signature=<redacted>",
        ),
        (
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&ab_channel=SomeOne",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&ab_channel=<redacted>",
        ),
        ("https://www.tiktok.com/@some.one/video/123", "https://www.tiktok.com/@<id>/video/123"),
        (f"https://www.youtube.com/channel/{CHANNEL}/x", "https://www.youtube.com/channel/<id>/x"),
        ("https://example.org/clip.mp4", "https://example.org/clip.mp4"),
        ("http://[::1/broken", "http://[::1/broken"),
    ],
)
def test_urls_are_stored_without_secrets_or_channel_ids(url: str, stored: str) -> None:
    assert redact_url(url) == stored


def test_messages_and_rows_hold_no_secret() -> None:
    url = f"https://me:hunter2@example.org/{CHANNEL}/v.mp4?sig=s1gn4ture"
    run = RunInfo(
        run_id="20261124T160305Z-a1b2c3", model_id="m", weights_sha256="", analysis_id="a"
    )
    request = VideoRequest(video_key="url-0123456789abcdef", url=url, cohort="c", row_number=1)
    error = ErrorRecord.for_request(request, Stage.DOWNLOAD, f"HTTP 404 Not Found: {url}")
    rows = [error_row(error, run), failed_video_row(error, run), skipped_video_row(request, run)]
    text = repr(rows) + str(redact_text(f"see {url} and @handle"))
    for secret in ("hunter2", "s1gn4ture", CHANNEL, "handle"):
        assert secret not in text
    assert error_row(error, run)["message"] == (
        "HTTP 404 Not Found: https://example.org/<id>/v.mp4?sig=<redacted>"
    )
