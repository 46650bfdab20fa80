"""The detector's ONNX Runtime path gives torch's outputs, and its export is cached."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from affectflow.media.frames import iter_sampled_frames
from affectflow.models.mtcnn import FaceCheck, MtcnnDetector
from affectflow.models.mtcnn_boxes import area_shrink, integrals
from affectflow.models.mtcnn_onnx import EXPORT_VERSION, OnnxNet, _rewritten, _SplitPReLU
from affectflow.schemas.records import FaceBox

DATA = Path(__file__).resolve().parents[1] / "data"
SCORE_TOLERANCE = 1e-5  # P(face); boxes must be equal
LANDMARK_TOLERANCE_PX = 1e-3


def frames() -> list[np.ndarray]:
    """Real frames with 0 to 4 faces of many sizes: the crowd clip, photos, a blank."""
    clip = DATA / "videos" / "hamilton_short_clip.mp4"
    grays = [frame.gray for frame in iter_sampled_frames(str(clip), fps=2)]
    photos = [cv2.imread(str(DATA / "faces" / name), cv2.IMREAD_GRAYSCALE) for name in (
        "multi_face.jpg", "single_face.jpg")]  # fmt: skip
    return [*grays, *photos, np.full((200, 300), 128, np.uint8)]


def same(a: list[FaceCheck], b: list[FaceCheck]) -> None:
    assert [check.box for check in a] == [check.box for check in b]
    for x, y in zip(a, b, strict=True):
        assert x.score == pytest.approx(y.score, abs=SCORE_TOLERANCE)
        assert np.allclose(x.landmarks, y.landmarks, atol=LANDMARK_TOLERANCE_PX)


@pytest.fixture(scope="module")
def weights(mtcnn_weights: str, tmp_path_factory) -> str:
    """A copy of the weights in a folder of its own, so its ONNX files are this test's."""
    folder = tmp_path_factory.mktemp("mtcnn")
    return str(shutil.copy(mtcnn_weights, folder / Path(mtcnn_weights).name))


def test_onnx_runtime_finds_and_checks_what_torch_does(weights: str) -> None:
    onnx = MtcnnDetector(weights, (40, 40), backend="onnx")
    torch_ = MtcnnDetector(weights, (40, 40), backend="torch")
    assert isinstance(onnx.load().pnet, OnnxNet) and not isinstance(torch_.load().pnet, OnnxNet)
    grays = frames()
    faces = 0
    for gray in grays:
        found = onnx.detect_batch([gray])[0]
        same(found, torch_.detect_batch([gray])[0])
        boxes = [check.box for check in found] + [FaceBox(0, 0, 60, 60)]
        same(onnx.check(gray, boxes), torch_.check(gray, boxes))
        faces += len(found)
    assert faces >= len(grays)  # the frames do hold faces: the comparison compared some
    size = grays[0].shape
    batch = [g for g in grays if g.shape == size][:4]  # one batch of frames of one size
    for one, together in zip(batch, onnx.detect_batch(batch), strict=True):
        same(together, torch_.detect_batch([one])[0])
    for one, together in zip(batch, torch_.detect_batch(batch), strict=True):  # a GPU's way
        same(together, onnx.detect_batch([one])[0])


def test_the_export_is_cached_beside_the_weights_and_reused(weights: str) -> None:
    MtcnnDetector(weights, (40, 40), backend="onnx").load()
    cached = sorted(Path(weights).parent.glob("*.onnx"))
    assert [path.name.rsplit(".", 2)[-2] for path in cached] == ["onet", "pnet", "rnet"]
    stamps = [path.stat().st_mtime_ns for path in cached]
    cached[0].write_bytes(b"not a model")  # a damaged file is exported again
    again = MtcnnDetector(weights, (40, 40), backend="onnx")
    assert len(again.detect(cv2.imread(str(DATA / "faces" / "multi_face.jpg"), 0))) == 5
    assert cached[0].stat().st_size > 1000
    assert [path.stat().st_mtime_ns for path in cached[1:]] == stamps[1:]


def test_an_export_that_cannot_be_cached_stays_in_memory(weights: str, tmp_path) -> None:
    local = Path(shutil.copy(weights, tmp_path / "w.pt"))
    for name in ("pnet", "rnet", "onet"):  # a folder where each file would go: no write
        (tmp_path / f"w.gray.{EXPORT_VERSION}.{name}.onnx").mkdir()
    detector = MtcnnDetector(str(local), (40, 40), backend="onnx")
    assert len(detector.detect(cv2.imread(str(DATA / "faces" / "multi_face.jpg"), 0))) == 5
    assert all(path.is_dir() for path in tmp_path.glob("*.onnx"))


def test_an_unknown_backend_is_refused(weights: str) -> None:
    with pytest.raises(ValueError, match="backend"):
        MtcnnDetector(weights, backend="tflite")


LEVELS = [((360, 640), (87, 154)), ((144, 176), (41, 50)), ((37, 53), (50, 61)),
          ((720, 1280), (16, 28))]  # fmt: skip


@pytest.mark.parametrize(("shape", "size"), LEVELS)
def test_the_pyramid_from_integral_images_is_torchs_area_interpolation(shape, size) -> None:
    """CPU pyramid levels equal `F.interpolate(mode="area")` (facenet's), shrink or grow."""
    rng = np.random.default_rng(sum(shape))
    grays = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2)]
    frames = torch.as_tensor(np.stack(grays)).float()[:, None]
    expected = F.interpolate(frames, size=size, mode="area")[:, 0].numpy()
    assert np.allclose(area_shrink(integrals(grays), size), expected, atol=1e-4)


def test_the_rewrites_for_onnx_runtime_keep_each_networks_outputs(weights: str) -> None:
    """Split PReLUs give the same values; PNet's sigmoid head gives softmax's P(face)."""
    nets = MtcnnDetector(weights, backend="torch").load()
    gray = frames()[0]
    level = torch.from_numpy((gray[None, None, :180, :320].astype(np.float32) - 127.5) / 128)
    crops = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (5, 1, 48, 48))).float()
    inputs = {"pnet": level, "rnet": crops[:, :, :24, :24], "onet": crops}
    with torch.no_grad():
        for name, x in inputs.items():
            net = getattr(nets, name)
            expected, out = net(x), _rewritten(net, name)(x)
            assert len(out) == len(expected)
            for a, b in zip(out[:-1], expected[:-1], strict=True):  # offsets, landmarks
                torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
            assert out[-1].shape[1] == (1 if name == "pnet" else 2)
            torch.testing.assert_close(out[-1][:, -1], expected[-1][:, 1], rtol=0, atol=1e-6)


def test_the_split_prelu_is_prelus_values_exactly() -> None:
    """On feature maps (batch norms and relus) and vectors alike, slopes of either sign."""
    prelu = torch.nn.PReLU(6)
    prelu.weight.data = torch.tensor([-1.3, -0.2, 0.0, 0.25, 0.7, 1.2])
    x = torch.randn(3, 6, 7, 9, generator=torch.Generator().manual_seed(0)) * 3
    x[0, :, 0, 0] = 0.0
    with torch.no_grad():
        assert torch.equal(_SplitPReLU(prelu)(x), prelu(x))
        assert torch.equal(_SplitPReLU(prelu)(x[:, :, 1, 1]), prelu(x[:, :, 1, 1]))
