"""What never reaches a table or a log: credentials, query secrets and channel ids in URLs.

A URL is fetched as given but stored redacted: without `user:password@`, with the values
of query parameters that carry secrets or name a channel replaced, and with channel
handles and ids (`@name`, `UC...`, `/channel/...`, `list=...`) replaced by `<id>`, as
`refresh` does for the sources it lists. `redact_text` does the same to every URL inside
a message (an error text, a raw list row).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "<redacted>"
ID = "<id>"
# Query parameters whose value is a secret (signed URLs, API keys, sessions) or names a
# channel (YouTube share links carry `ab_channel=<name>`).
SECRET_PARAMS = re.compile(
    r"token|key|sig|signature|secret|passw|pwd|auth|session|credential|code|policy|"
    r"^x-amz-|^x-goog-|^ab_channel$|^channel|^user",
    re.IGNORECASE,
)
# Channel and playlist identifiers (the pattern `refresh` has always redacted).
IDENTIFIERS = re.compile(r"UC[\w-]{22}|@[\w.\-]+|list=[\w-]+|/(?:channel|c|user)/[^/\s?#]+")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def redact_identifiers(text: str) -> str:
    """`text` with channel handles, channel ids and playlist ids replaced by `<id>`."""

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        if found.startswith("list="):
            return f"list={ID}"
        if found.startswith("/"):
            return found[: found.index("/", 1) + 1] + ID
        return f"@{ID}" if found.startswith("@") else ID

    return IDENTIFIERS.sub(replace, text)


def redact_url(url: str) -> str:
    """`url` without userinfo, query secrets and channel identifiers (see module doc)."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = [
            (name, REDACTED if SECRET_PARAMS.search(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
    except ValueError:  # not a URL urllib can split: redact what looks like one
        return redact_identifiers(re.sub(r"//[^/@\s]*@", "//", url))
    rebuilt = urlunsplit(
        (parts.scheme, netloc, parts.path, urlencode(query, safe="<>/"), parts.fragment)
    )
    return redact_identifiers(rebuilt)


def redact_text(text: str | None) -> str | None:
    """`text` with every URL in it redacted (`redact_url`), then any identifier left."""
    if text is None:
        return None
    return redact_identifiers(_URL.sub(lambda match: redact_url(match.group(0)), text))
