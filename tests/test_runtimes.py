"""The runtime table: Python, OS, glibc, the wheel tags each target loads, and its marker environment."""

from __future__ import annotations

import pytest
from packaging.tags import Tag

from hatch_lambda.runtimes import ARCHITECTURES, RUNTIMES, Target


def test_table() -> None:
    assert {n: (r.python_version, r.os, r.glibc) for n, r in RUNTIMES.items()} == {
        "python3.10": ("3.10", "Amazon Linux 2", (2, 26)),
        "python3.11": ("3.11", "Amazon Linux 2", (2, 26)),
        "python3.12": ("3.12", "Amazon Linux 2023", (2, 34)),
        "python3.13": ("3.13", "Amazon Linux 2023", (2, 34)),
        "python3.14": ("3.14", "Amazon Linux 2023", (2, 34)),
    }


def test_only_python310_is_deprecated() -> None:
    assert [n for n, r in RUNTIMES.items() if r.deprecated] == ["python3.10"]


def test_architectures_map_to_wheel_machines() -> None:
    assert ARCHITECTURES == {"x86_64": "x86_64", "arm64": "aarch64"}


def test_al2_x86_64_platform_tags() -> None:
    assert Target.of("python3.11", "x86_64").platform_tags == (
        *(f"manylinux_2_{n}_x86_64" for n in range(26, 16, -1)),
        "manylinux2014_x86_64", "manylinux_2_12_x86_64", "manylinux2010_x86_64",
        "manylinux_2_5_x86_64", "manylinux1_x86_64",
    )


def test_al2023_aarch64_platform_tags() -> None:
    # manylinux2010 and manylinux1 never existed for aarch64.
    assert Target.of("python3.12", "arm64").platform_tags == (
        *(f"manylinux_2_{n}_aarch64" for n in range(34, 16, -1)), "manylinux2014_aarch64",
    )


@pytest.mark.parametrize(
    ("runtime", "architecture", "tag", "loads"),
    [
        ("python3.12", "x86_64", "cp312-cp312-manylinux_2_34_x86_64", True),
        ("python3.12", "x86_64", "cp312-cp312-manylinux_2_35_x86_64", False),
        ("python3.11", "x86_64", "cp311-cp311-manylinux_2_26_x86_64", True),
        ("python3.11", "x86_64", "cp311-cp311-manylinux_2_28_x86_64", False),
        ("python3.12", "x86_64", "cp38-abi3-manylinux_2_17_x86_64", True),
        ("python3.12", "x86_64", "cp311-cp311-manylinux_2_17_x86_64", False),
        ("python3.12", "x86_64", "cp312-cp312-manylinux_2_17_aarch64", False),
        ("python3.12", "arm64", "cp312-cp312-manylinux2014_aarch64", True),
        ("python3.12", "arm64", "cp312-cp312-musllinux_1_2_aarch64", False),
        ("python3.12", "arm64", "cp312-cp312-macosx_11_0_arm64", False),
        ("python3.12", "arm64", "py3-none-any", True),
        ("python3.13", "arm64", "py3-none-manylinux_2_34_aarch64", True),
        ("python3.10", "x86_64", "cp310-cp310-manylinux1_x86_64", True),
    ],
)
def test_supported_tags(runtime: str, architecture: str, tag: str, loads: bool) -> None:
    target = Target.of(runtime, architecture)
    (parsed,) = [Tag(*tag.split("-"))]
    assert (parsed in target.supported_tags) is loads
    assert target.accepts([parsed]) is loads


def test_tag_priority_prefers_the_newest_glibc_and_the_exact_abi() -> None:
    priority = Target.of("python3.12", "x86_64").tag_priority
    assert str(priority[0]) == "cp312-cp312-manylinux_2_34_x86_64"
    assert priority.index(Tag("cp312", "cp312", "manylinux_2_17_x86_64")) < priority.index(
        Tag("py3", "none", "any")
    )


def test_marker_environment_is_the_targets() -> None:
    env = Target.of("python3.11", "arm64").marker_environment
    assert env["platform_machine"] == "aarch64"
    assert env["python_version"] == "3.11"
    assert env["python_full_version"] == "3.11.0"
    assert (env["sys_platform"], env["platform_system"], env["os_name"]) == ("linux", "Linux", "posix")
    assert env["implementation_name"] == "cpython"


def test_describe() -> None:
    assert Target.of("python3.11", "arm64").describe() == "python3.11 on arm64 (Amazon Linux 2, glibc 2.26)"
