"""Pages are read up to a small cap: an endless or huge page fails, it never fills memory.

yt-dlp reads a page (HTML, JSON, a manifest, a feed) with `response.read()`, the whole
body at once, and media in blocks (`read(n)`, bounded by the byte cap of
`bounded_fetch`). `PageCappedYoutubeDL` overrides `YoutubeDL.urlopen`, the one entry
of every request (extractors, downloaders), to return each response wrapped so that a
whole-body read stops once it passed `PAGE_MAX_BYTES` (counted after any
Content-Encoding was decoded) with a `Refused` ("PageTooLarge"): the fetch, or the
listing, fails with that reason after reading a few MiB, never the whole page.
"""

from __future__ import annotations

from typing import Any

import yt_dlp
from yt_dlp.networking.common import Request, Response

from affectflow.sources.fetch_errors import Refused

# The largest page read whole. YouTube's watch and channel pages are 1-2 MiB.
PAGE_MAX_BYTES = 8 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024


class CappedResponse(Response):
    """A response whose whole-body reads stop past `max_bytes`; block reads pass through.

    Everything else (headers, status, url, a websocket's send and recv) is the wrapped
    response's.
    """

    def __init__(self, response: Response, max_bytes: int) -> None:
        # Response.__init__ is not called: every attribute not set here is the wrapped one's.
        self._response, self._max_bytes, self._bytes_read = response, max_bytes, 0

    def __getattr__(self, name: str) -> Any:
        if name == "_response":  # not set yet
            raise AttributeError(name)
        return getattr(self._response, name)

    @property
    def closed(self) -> bool:  # type: ignore[override]
        return self._response.closed

    def close(self) -> None:
        self._response.close()

    def read(self, amt: int | None = None) -> bytes:
        if amt is not None and amt >= 0:
            data = self._response.read(amt)
            self._bytes_read += len(data)
            return data
        chunks = []
        while chunk := self._response.read(_CHUNK_BYTES):
            self._bytes_read += len(chunk)
            if self._bytes_read > self._max_bytes:
                self._response.close()
                raise Refused(
                    f"the page is larger than {self._max_bytes // _CHUNK_BYTES} MiB, the most "
                    "a page is read (an endless or huge page)",
                    "PageTooLarge",
                )
            chunks.append(chunk)
        return b"".join(chunks)


class PageCappedYoutubeDL(yt_dlp.YoutubeDL):
    """`yt_dlp.YoutubeDL` whose responses read whole stop past `page_max_bytes`."""

    page_max_bytes = PAGE_MAX_BYTES

    def urlopen(self, req: Request | str) -> Response:
        """`YoutubeDL.urlopen`, its response capped (see the module doc)."""
        return CappedResponse(super().urlopen(req), self.page_max_bytes)
