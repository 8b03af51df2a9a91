"""Config parsing from plain dicts: defaults, one test per rule, and every problem reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from hatch_lambda.config import BinaryLayerConfig, LambdaConfig, parse_config
from hatch_lambda.errors import ConfigError, ConfigTypeError, HatchLambdaError

T = "tool.hatch.build.targets.lambda"


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="/p/pyproject.toml")
    assert str(info.value).startswith("/p/pyproject.toml:")
    return info.value.problems


def test_default() -> None:
    cfg = parse_config({})
    assert cfg == LambdaConfig()
    assert cfg.runtime == "python3.12"
    assert cfg.architecture == "x86_64"
    assert cfg.handler is None
    assert cfg.layer_order == ("deps",)
    assert cfg.dependencies.strip_bytecode is True
    assert cfg.dependencies.keep_dist_info is True
    assert cfg.dependencies.exclude_packages == ()


def test_full() -> None:
    cfg = parse_config({
        "runtime": "python3.11",
        "architecture": "arm64",
        "handler": "app.main.handler",
        "layers": [{"paths": ["bin"]}, {"name": "chromium", "paths": {"vendor/chrome": "/opt/chromium"}}],
        "layer-order": ["chromium", "deps", "bin"],
        "exclude-packages": ["Boto3", "botocore"],
        "extras": ["Fast"],
        "store": "~/layers",
        "force-rebuild": True,
    })
    assert cfg.runtime == "python3.11"
    assert cfg.architecture == "arm64"
    assert cfg.handler == "app.main.handler"
    assert cfg.binary_layers == (
        BinaryLayerConfig("bin", (("bin", "bin"),)),
        BinaryLayerConfig("chromium", (("vendor/chrome", "chromium"),)),
    )
    assert cfg.layer_order == ("chromium", "deps", "bin")
    assert cfg.dependencies.exclude_packages == ("boto3", "botocore")
    assert cfg.dependencies.extras == ("fast",)
    assert cfg.store == "~/layers"
    assert cfg.force_rebuild is True


def test_hatchling_keys_are_accepted() -> None:
    cfg = parse_config({"packages": ["src/app"], "exclude": ["*.md"], "dependencies": ["hatch-lambda"]})
    assert cfg.runtime == "python3.12"


def test_runtime_unknown() -> None:
    assert problems({"runtime": "python3.9"}) == [
        f"Field `{T}.runtime` must be one of python3.10, python3.11, python3.12, python3.13, python3.14, "
        "not 'python3.9'"
    ]


def test_runtime_typo_did_you_mean() -> None:
    assert problems({"runtime": "python312"})[0].endswith("not 'python312' (did you mean 'python3.12'?)")


def test_architecture_alias_did_you_mean() -> None:
    assert problems({"architecture": "amd64"})[0].endswith("not 'amd64' (did you mean 'x86_64'?)")


def test_runtime_not_a_string() -> None:
    with pytest.raises(ConfigTypeError) as info:
        parse_config({"runtime": 3.12})
    assert isinstance(info.value, TypeError)
    assert info.value.problems == [f"Field `{T}.runtime` must be a string, not float 3.12"]


def test_architecture_unknown() -> None:
    assert problems({"architecture": "aarch64"}) == [
        f"Field `{T}.architecture` must be one of x86_64, arm64, not 'aarch64' (did you mean 'arm64'?)"
    ]


def test_handler_shape() -> None:
    assert problems({"handler": "handler"}) == [
        f"Field `{T}.handler` must look like `package.module.function`, not 'handler'"
    ]


def test_handler_not_a_string() -> None:
    with pytest.raises(TypeError, match=r"handler` must be a string, not list"):
        parse_config({"handler": ["a.b"]})


def test_unknown_key_did_you_mean() -> None:
    assert problems({"runtme": "python3.12"}) == [f"Field `{T}.runtme` is not a known option (did you mean `runtime`?)"]


def test_layer_missing_paths() -> None:
    assert problems({"layers": [{"name": "tools"}]}) == [
        f'Field `{T}.layers[0].paths` is required: list the project paths to put in the layer, e.g. paths = ["bin"]'
    ]


def test_layer_duplicate_name() -> None:
    assert problems({"layers": [{"paths": ["bin"]}, {"paths": ["lib"]}]}) == [
        f"Field `{T}.layers[1].name` 'bin' is used by another layer; give each layer its own name"
    ]


def test_layer_name_reserved() -> None:
    assert problems({"layers": [{"name": "deps", "paths": ["bin"]}]}) == [
        f"Field `{T}.layers[0].name` 'deps' is reserved for the dependency layer"
    ]


def test_layer_name_shape() -> None:
    assert problems({"layers": [{"name": "My Tools", "paths": ["bin"]}]}) == [
        f"Field `{T}.layers[0].name` must be lowercase letters, digits, `-` or `_` (at most 40), not 'My Tools'"
    ]


def test_layer_path_outside_project() -> None:
    assert problems({"layers": [{"paths": ["../secrets"]}]}) == [
        f"Field `{T}.layers[0].paths` names '../secrets', which is not a relative path inside the project"
    ]


def test_layer_destination_outside_opt() -> None:
    assert problems({"layers": [{"paths": {"bin": "/usr/bin"}}]}) == [
        f"Field `{T}.layers[0].paths` maps 'bin' to '/usr/bin', which is outside the layer (/opt)"
    ]


def test_layer_destination_opt_prefix_is_stripped() -> None:
    cfg = parse_config({"layers": [{"paths": {"tools": "/opt/bin"}}]})
    assert cfg.binary_layers[0].paths == (("tools", "bin"),)


def test_layer_unknown_option() -> None:
    assert problems({"layers": [{"paths": ["bin"], "path": "x"}]}) == [
        f"Field `{T}.layers[0].path` is not a known option (expected `name` or `paths`)"
    ]


def test_layers_not_an_array() -> None:
    with pytest.raises(TypeError, match=r"layers` must be an array of tables"):
        parse_config({"layers": {"paths": ["bin"]}})


def test_too_many_binary_layers() -> None:
    layers = [{"name": f"l{i}", "paths": [f"d{i}"]} for i in range(6)]
    assert problems({"layers": layers}) == [
        f"Field `{T}.layers` declares 6 binary layers (l0, l1, l2, l3, l4, l5); Lambda allows at most 5 per function"
    ]


def test_five_binary_layers_and_a_deps_layer_are_left_to_the_build() -> None:
    # Whether the dependency layer exists depends on the dependencies; the engine counts the real layers.
    layers = [{"name": f"l{i}", "paths": [f"d{i}"]} for i in range(5)]
    assert parse_config({"layers": layers}).layer_order == ("deps", "l0", "l1", "l2", "l3", "l4")


def test_five_layers_without_deps_layer_is_fine() -> None:
    layers = [{"name": f"l{i}", "paths": [f"d{i}"]} for i in range(5)]
    cfg = parse_config({"layers": layers, "deps-layer": False})
    assert cfg.layer_order == ("l0", "l1", "l2", "l3", "l4")


def test_trailing_slash_means_into_the_folder() -> None:
    cfg = parse_config({"layers": [{"paths": {"run.sh": "/opt/bin/", "conf.txt": "/opt"}}]})
    assert cfg.binary_layers[0].paths == (("run.sh", "bin/"), ("conf.txt", "."))


def test_layer_order_unknown_and_missing() -> None:
    assert problems({"layers": [{"paths": ["bin"]}], "layer-order": ["bin", "tools"]}) == [
        f"Field `{T}.layer-order` names 'tools', which is not a layer (layers: deps, bin)",
        f"Field `{T}.layer-order` leaves out 'deps'; list every layer once",
    ]


def test_layer_order_duplicates() -> None:
    assert problems({"layer-order": ["deps", "deps"]}) == [f"Field `{T}.layer-order` lists 'deps' more than once"]


def test_exclude_packages_not_strings() -> None:
    with pytest.raises(TypeError, match=r"exclude-packages` must be an array of strings, not list \[1\]"):
        parse_config({"exclude-packages": [1]})


def test_exclude_packages_bad_name() -> None:
    assert problems({"exclude-packages": ["boto3 botocore"]}) == [
        f"Field `{T}.exclude-packages` holds 'boto3 botocore', which is not a project name"
    ]


def test_lock_outside_project() -> None:
    assert problems({"lock": "/etc/uv.lock"}) == [
        f"Field `{T}.lock` must be a relative path inside the project, not '/etc/uv.lock'"
    ]


def test_booleans_are_strict() -> None:
    with pytest.raises(TypeError) as info:
        parse_config({"strip-bytecode": "yes", "force-rebuild": 1, "deps-layer": "no"})
    assert len(info.value.problems) == 3  # type: ignore[attr-defined]


def test_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {"runtime": "python2.7", "architecture": "sparc", "handler": "x", "lock": 5, "bogus": 1},
            source="/p/pyproject.toml",
        )
    err = info.value
    assert isinstance(err, ValueError)
    assert isinstance(err, HatchLambdaError)
    assert len(err.problems) == 5
    text = str(err)
    assert text.startswith("/p/pyproject.toml: 5 problems in the lambda target configuration:\n  - ")
    for key in ("runtime", "architecture", "handler", "lock", "bogus"):
        assert f"`{T}.{key}`" in text
