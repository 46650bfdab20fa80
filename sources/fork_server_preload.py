"""Imported by the fork server that download and listing children are forked from
(`bounded_child.fork_server_context`): the fetch and listing code loaded, and yt-dlp's
extractor patterns compiled, once, before the first fork, so no child pays for them."""

from affectflow.sources import bounded_fetch, ytdlp_list

bounded_fetch.warm_up()

__all__ = ["bounded_fetch", "ytdlp_list"]
