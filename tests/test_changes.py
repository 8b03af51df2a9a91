"""Why a layer was rebuilt, in words: the diff of its recorded fingerprint inputs."""

from __future__ import annotations

from typing import Any

from hatch_lambda.changes import describe_changes


def deps_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "fingerprint_version": 1,
        "archive_format": 1,
        "kind": "dependencies",
        "runtime": "python3.12",
        "python_version": "3.12",
        "architecture": "x86_64",
        "platform_tags": ["manylinux_2_34_x86_64", "manylinux_2_17_x86_64"],
        "abis": ["cp312", "abi3", "none"],
        "installer": {"name": "pip", "version": "26.0"},
        "inputs": {
            "source": "uv.lock",
            "locked": True,
            "hashed": True,
            "requirements": [
                "pydantic==2.14.3 --hash=sha256:aa",
                "requests==2.32.3 --hash=sha256:bb",
            ],
        },
        "options": {"pip_args": [], "strip_bytecode": True, "exclude_packages": []},
    }
    for key, value in overrides.items():
        payload[key] = value
    return payload


def with_requirements(*lines: str) -> dict[str, Any]:
    payload = deps_payload()
    payload["inputs"] = {**payload["inputs"], "requirements": list(lines)}
    return payload


def test_pin_bumped() -> None:
    new = with_requirements("pydantic==2.14.4 --hash=sha256:cc", "requests==2.32.3 --hash=sha256:bb")
    assert describe_changes(deps_payload(), new) == ["uv.lock changed: pydantic 2.14.3 → 2.14.4"]


def test_pin_added_and_removed() -> None:
    new = with_requirements("pydantic==2.14.3 --hash=sha256:aa", "typing_extensions==4.12.2 --hash=sha256:dd")
    assert describe_changes(deps_payload(), new) == [
        "uv.lock changed: +typing-extensions 4.12.2, -requests 2.32.3"
    ]


def test_same_pins_other_hashes() -> None:
    new = with_requirements("pydantic==2.14.3 --hash=sha256:ff", "requests==2.32.3 --hash=sha256:bb")
    assert describe_changes(deps_payload(), new) == ["uv.lock changed: hashes or options of the same pins"]


def test_unlocked_specifier_changed() -> None:
    old = with_requirements("requests>=2")
    new = with_requirements("requests>=2.31")
    assert describe_changes(old, new) == ["uv.lock changed: requests >=2 → >=2.31"]


def test_many_changes_are_clipped() -> None:
    new = with_requirements(*[f"pkg{i}==1" for i in range(6)])
    reasons = describe_changes(with_requirements(), new)
    assert reasons == ["uv.lock changed: +pkg0 1, +pkg1 1, +pkg2 1, +pkg3 1 (+2 more)"]


def test_runtime_changed_hides_what_follows_from_it() -> None:
    new = deps_payload(runtime="python3.13", python_version="3.13", abis=["cp313", "abi3", "none"])
    assert describe_changes(deps_payload(), new) == ["runtime changed: python3.12 → python3.13"]


def test_architecture_changed() -> None:
    new = deps_payload(architecture="arm64", platform_tags=["manylinux_2_34_aarch64"])
    assert describe_changes(deps_payload(), new) == ["architecture changed: x86_64 → arm64"]


def test_platform_tags_changed_alone() -> None:
    new = deps_payload(platform_tags=["manylinux_2_28_x86_64", "manylinux_2_17_x86_64"])
    assert describe_changes(deps_payload(), new) == [
        "platform tags changed: +manylinux_2_28_x86_64, -manylinux_2_34_x86_64"
    ]


def test_installer_changed() -> None:
    new = deps_payload(installer={"name": "pip", "version": "26.1"})
    assert describe_changes(deps_payload(), new) == ["installer changed: pip 26.0 → pip 26.1"]


def test_option_changed() -> None:
    new = deps_payload(options={"pip_args": ["--pre"], "strip_bytecode": False, "exclude_packages": []})
    assert describe_changes(deps_payload(), new) == ["pip args changed: +--pre", "strip bytecode changed: True → False"]


def test_archive_format_changed() -> None:
    assert describe_changes(deps_payload(), deps_payload(archive_format=2)) == ["archive format changed: 1 → 2"]


def test_new_input_added() -> None:
    new = deps_payload()
    new["inputs"] = {**new["inputs"], "lock_sha256": "ab" * 32}
    assert describe_changes(deps_payload(), new) == ["lock sha256 added: abababababab…"]


def test_binary_files() -> None:
    old = {"kind": "binary", "files": [["bin/a", "755", "11"], ["bin/b", "644", "22"], ["lib/c.so", "644", "33"]]}
    new = {"kind": "binary", "files": [["bin/a", "755", "99"], ["bin/b", "755", "22"], ["bin/d", "644", "44"]]}
    assert describe_changes(old, new) == [
        "files changed: bin/a, bin/b (mode 644 → 755)",
        "files added: bin/d",
        "files removed: lib/c.so",
    ]


def test_forced() -> None:
    assert describe_changes(deps_payload(), deps_payload(), forced="force-rebuild = true") == [
        "forced rebuild (force-rebuild = true)"
    ]


def test_first_build() -> None:
    assert describe_changes(None, deps_payload()) == ["not in the layer store (first build of these inputs)"]


def test_previous_inputs_unknown() -> None:
    assert describe_changes(None, deps_payload(), previous_fingerprint="aa", fingerprint="bb") == [
        "inputs changed (the previous build's inputs are no longer in the layer store)"
    ]


def test_same_fingerprint_means_damaged_entry() -> None:
    assert describe_changes(None, deps_payload(), previous_fingerprint="aa", fingerprint="aa") == [
        "store entry missing or damaged"
    ]
    assert describe_changes(deps_payload(), deps_payload()) == ["store entry missing or damaged"]
