"""Lock files read for the Lambda target: detection, markers, graphs, extras and groups, hashes, clear errors."""

from __future__ import annotations

import dataclasses
import os
import textwrap
from pathlib import Path

import pytest

from hatch_lambda import deps, locks
from hatch_lambda.config import DependencyConfig
from hatch_lambda.errors import LockError
from hatch_lambda.fingerprint import canonical_bytes
from hatch_lambda.reporting import ListReporter
from hatch_lambda.runtimes import Target
from helpers import SAMPLES

X86_312 = Target.of("python3.12", "x86_64")
ARM_312 = Target.of("python3.12", "arm64")
X86_311 = Target.of("python3.11", "x86_64")
H = "sha256:" + "a" * 64
H2 = "sha256:" + "b" * 64


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


def resolve(root: Path, declared: tuple[str, ...] = (), target: Target = X86_312,
            settings: DependencyConfig | None = None, optional: dict[str, list[str]] | None = None,
            groups: dict[str, list[str]] | None = None) -> deps.ResolvedDependencies:
    project = deps.ProjectDependencies(declared, optional or {}, groups or {})
    return deps.resolve(root, project, settings or DependencyConfig(), target, ListReporter())


def pins(resolved: deps.ResolvedDependencies) -> list[str]:
    return [line.split(" --hash")[0] for line in resolved.requirements]


UV_HEADER = """\
version = 1
revision = 3
requires-python = ">=3.10"

"""


def uv_package(name: str, version: str, deps_: str = "", extra: str = "") -> str:
    return (
        f'[[package]]\nname = "{name}"\nversion = "{version}"\nsource = {{ registry = "https://pypi.org/simple" }}\n'
        f"dependencies = [{deps_}]\n{extra}"
        f'wheels = [{{ url = "https://x.invalid/{name}-{version}-py3-none-any.whl", hash = "{H}" }}]\n\n'
    )


# --- finding the lock --------------------------------------------------------------------------------------


def test_no_lock_uses_declared_dependencies_and_warns_once(tmp_path: Path) -> None:
    log = ListReporter()
    resolved = deps.resolve(tmp_path, deps.ProjectDependencies(("requests>=2",)), DependencyConfig(), X86_312, log)
    assert (resolved.source, resolved.locked, resolved.requirements) == ("pyproject.toml", False, ("requests>=2",))
    assert log.of("warn") == [
        "The dependency layer is built from pyproject.toml's declared dependencies, not a lock file: it is not "
        "reproducible until you lock it (pylock.toml, uv.lock, poetry.lock or a pinned requirements.txt)."
    ]


def test_unpinned_requirements_file_is_not_a_lock(tmp_path: Path) -> None:
    write(tmp_path, "requirements-dev.txt", "pytest>=8\n")
    assert locks.find_lock(tmp_path, None) is None


def test_pinned_requirements_file_is_found(tmp_path: Path) -> None:
    path = write(tmp_path, "requirements.txt", "six==1.17.0\n")
    assert locks.find_lock(tmp_path, None) == path


def test_several_locks_name_each_and_the_key(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_HEADER)
    write(tmp_path, "pylock.toml", "")
    write(tmp_path, "requirements.txt", "six==1.17.0\n")
    with pytest.raises(LockError) as e:
        locks.find_lock(tmp_path, None)
    assert str(e.value) == (
        f"{tmp_path / 'pyproject.toml'}: several lock files were found next to pyproject.toml (pylock.toml, "
        "requirements.txt, uv.lock) and the dependency layer can only be built from one. Name it with `lock` in "
        '[tool.hatch.build.targets.lambda], e.g. lock = "pylock.toml".'
    )


def test_configured_lock_wins(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_HEADER)
    path = write(tmp_path, "locks/requirements-lambda.txt", "six==1.17.0\n")
    assert locks.find_lock(tmp_path, "locks/requirements-lambda.txt") == path
    resolved = resolve(tmp_path, settings=DependencyConfig(lock="locks/requirements-lambda.txt"))
    assert resolved.source == "locks/requirements-lambda.txt"


def test_configured_lock_missing(tmp_path: Path) -> None:
    with pytest.raises(LockError) as e:
        locks.find_lock(tmp_path, "uv.lock")
    assert str(e.value).startswith(
        f"{tmp_path / 'pyproject.toml'}: Field `tool.hatch.build.targets.lambda.lock` names 'uv.lock', which does "
        f"not exist in {tmp_path}."
    )


def test_lock_kind_by_name() -> None:
    kinds = [locks.lock_kind(Path(n)) for n in ("pylock.toml", "pylock.lambda.toml", "uv.lock", "poetry.lock",
                                                 "requirements.txt", "requirements.lock")]
    assert kinds == ["pylock.toml", "pylock.toml", "uv.lock", "poetry.lock", "requirements", "requirements"]


# --- the sample projects' real lock files -----------------------------------------------------------------


@pytest.mark.parametrize("sample", ["lock_pylock", "lock_uv", "lock_poetry"])
def test_sample_locks_pin_the_same_packages(sample: str) -> None:
    resolved = resolve(SAMPLES / sample, ("python-dateutil>=2.8,<3",), ARM_312)
    assert pins(resolved) == ["python-dateutil==2.9.0.post0", "six==1.17.0"]
    assert (resolved.locked, resolved.hashed, resolved.complete) == (True, True, True)
    assert resolved.source == {"lock_pylock": "pylock.toml", "lock_uv": "uv.lock", "lock_poetry": "poetry.lock"}[sample]
    # Every line carries the wheel's real hash from PyPI.
    assert all(
        "--hash=sha256:a8b2bc7bffae282281c8140a97d3aa9c14da0b136dfe83f850eea9a5f7470427" in line
        for line in resolved.requirements if line.startswith("python-dateutil")
    )


# --- markers for the target, never the host ------------------------------------------------------------------


UV_MARKERS = UV_HEADER + textwrap.dedent(
    """\
    [[package]]
    name = "demo"
    version = "1.0.0"
    source = { editable = "." }
    dependencies = [
        { name = "armonly", marker = "platform_machine == 'aarch64'" },
        { name = "oldpy", marker = "python_full_version < '3.12'" },
        { name = "winonly", marker = "sys_platform == 'win32'" },
        { name = "forked", version = "1.0", marker = "python_full_version < '3.12'" },
        { name = "forked", version = "2.0", marker = "python_full_version >= '3.12'" },
    ]

    [package.optional-dependencies]
    fast = [{ name = "speedup" }]

    [package.dev-dependencies]
    lambda = [{ name = "powertools" }]
    dev = [{ name = "pytest" }]

    """
) + "".join(uv_package(n, "1.0") for n in ("armonly", "oldpy", "winonly", "speedup", "powertools", "pytest")) + (
    uv_package("forked", "1.0") + uv_package("forked", "2.0")
)


def test_uv_markers_follow_the_target_arm64_312(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_MARKERS)
    assert pins(resolve(tmp_path, target=ARM_312)) == ["armonly==1.0", "forked==2.0"]


def test_uv_markers_follow_the_target_x86_311(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_MARKERS)
    assert pins(resolve(tmp_path, target=X86_311)) == ["forked==1.0", "oldpy==1.0"]


def test_uv_extras_and_groups_only_when_configured(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_MARKERS)
    settings = DependencyConfig(extras=("fast",), groups=("lambda",))
    resolved = resolve(tmp_path, target=ARM_312, settings=settings, optional={"fast": []}, groups={"lambda": []})
    assert pins(resolved) == ["armonly==1.0", "forked==2.0", "powertools==1.0", "speedup==1.0"]


def test_uv_transitive_graph_and_package_extras(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_HEADER + textwrap.dedent(
        """\
        [[package]]
        name = "demo"
        version = "1.0.0"
        source = { virtual = "." }
        dependencies = [{ name = "requests", extra = ["socks"] }]

        """
    ) + uv_package("requests", "2.32.0", '{ name = "urllib3" }',
                   'optional-dependencies = { socks = [{ name = "pysocks" }], other = [{ name = "nope" }] }\n')
      + uv_package("urllib3", "2.2.0") + uv_package("pysocks", "1.7.1") + uv_package("nope", "1.0")
      + uv_package("unrelated", "1.0"))
    assert pins(resolve(tmp_path, ("requests[socks]",))) == ["pysocks==1.7.1", "requests==2.32.0", "urllib3==2.2.0"]


def test_poetry_graph_markers_python_constraints_and_extras(tmp_path: Path) -> None:
    def package(name: str, version: str, body: str = "") -> str:
        return (
            f'[[package]]\nname = "{name}"\nversion = "{version}"\ndescription = ""\noptional = false\n'
            f'python-versions = ">=3.8"\ngroups = ["main"]\n'
            f'files = [\n    {{file = "{name}-{version}-py3-none-any.whl", hash = "{H}"}},\n]\n{body}\n'
        )

    write(tmp_path, "poetry.lock", "".join([
        package("app-lib", "1.0", textwrap.dedent(
            """
            [package.dependencies]
            colorama = {version = "*", markers = "sys_platform == \\"win32\\""}
            exceptiongroup = {version = ">=1", python = "<3.11"}
            typing-extensions = [
                {version = ">=4.0,<4.5", markers = "python_version < \\"3.12\\""},
                {version = ">=4.12", markers = "python_version >= \\"3.12\\""},
            ]
            pysocks = {version = ">=1.5", optional = true}

            [package.extras]
            socks = ["PySocks (>=1.5)"]
            """
        )),
        package("colorama", "0.4.6"), package("exceptiongroup", "1.2.0"), package("pysocks", "1.7.1"),
        package("typing-extensions", "4.4.0"), package("typing-extensions", "4.12.2"),
        '[metadata]\nlock-version = "2.1"\npython-versions = ">=3.10"\ncontent-hash = "0"\n',
    ]))
    assert pins(resolve(tmp_path, ("app-lib",), X86_312)) == ["app-lib==1.0", "typing-extensions==4.12.2"]
    assert pins(resolve(tmp_path, ("app-lib[socks]",), X86_311)) == [
        "app-lib==1.0", "pysocks==1.7.1", "typing-extensions==4.4.0",
    ]


def test_pylock_markers_and_the_project_itself(tmp_path: Path) -> None:
    write(tmp_path, "pylock.toml", f"""\
        lock-version = "1.0"
        created-by = "test"

        [[packages]]
        name = "demo"
        directory = {{ path = "." }}

        [[packages]]
        name = "armonly"
        version = "1.0"
        marker = "platform_machine == 'aarch64'"
        [[packages.wheels]]
        name = "armonly-1.0-py3-none-any.whl"
        url = "https://x.invalid/f"
        hashes = {{ sha256 = "{H[7:]}" }}

        [[packages]]
        name = "six"
        version = "1.17.0"
        [packages.sdist]
        name = "six-1.17.0.tar.gz"
        url = "https://x.invalid/f"
        hashes = {{ sha256 = "{H2[7:]}" }}
        [[packages.wheels]]
        name = "six-1.17.0-py2.py3-none-any.whl"
        url = "https://x.invalid/f"
        hashes = {{ sha256 = "{H[7:]}" }}
        """)
    assert resolve(tmp_path, target=X86_312).requirements == (f"six==1.17.0 --hash={H} --hash={H2}",)
    assert pins(resolve(tmp_path, target=ARM_312)) == ["armonly==1.0", "six==1.17.0"]


def test_pylock_with_only_host_wheels_names_the_problem(tmp_path: Path) -> None:
    write(tmp_path, "pylock.toml", f"""\
        lock-version = "1.0"
        created-by = "pip"

        [[packages]]
        name = "pydantic-core"
        version = "2.27.0"
        [[packages.wheels]]
        name = "pydantic_core-2.27.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        url = "https://x.invalid/f"
        hashes = {{ sha256 = "{H[7:]}" }}
        """)
    with pytest.raises(LockError) as e:
        resolve(tmp_path, target=ARM_312)
    assert str(e.value).startswith(
        "pylock.toml cannot be installed on python3.12 on arm64 (Amazon Linux 2023, glibc 2.34): "
    )
    assert "Searched platform tags: manylinux_2_34_aarch64, manylinux_2_33_aarch64," in str(e.value)
    assert "`pip lock` records only the files of the machine it ran on" in str(e.value)


def test_uv_lock_without_a_wheel_for_the_target(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_HEADER + textwrap.dedent(
        """\
        [[package]]
        name = "demo"
        version = "1.0.0"
        source = { editable = "." }
        dependencies = [{ name = "native" }]

        [[package]]
        name = "native"
        version = "3.0"
        source = { registry = "https://pypi.org/simple" }
        wheels = [
            { url = "https://x.invalid/native-3.0-cp312-cp312-manylinux_2_28_x86_64.whl", hash = "sha256:00" },
            { url = "https://x.invalid/native-3.0-cp312-cp312-macosx_11_0_arm64.whl", hash = "sha256:01" },
        ]
        """
    ))
    with pytest.raises(LockError) as e:
        resolve(tmp_path, target=X86_311)
    assert str(e.value).startswith(
        "uv.lock: native 3.0 is locked with wheels that python3.11 on x86_64 (Amazon Linux 2, glibc 2.26) cannot "
        "load (native-3.0-cp312-cp312-macosx_11_0_arm64.whl, native-3.0-cp312-cp312-manylinux_2_28_x86_64.whl) "
        "and no sdist. Searched platform tags: manylinux_2_26_x86_64,"
    )


def test_uv_lock_package_for_another_platform_is_not_checked(tmp_path: Path) -> None:
    # Only Windows wheels, but only needed on Windows: never selected for Lambda, so not an error.
    write(tmp_path, "uv.lock", UV_HEADER + textwrap.dedent(
        """\
        [[package]]
        name = "demo"
        version = "1.0.0"
        source = { editable = "." }
        dependencies = [{ name = "pywin32", marker = "sys_platform == 'win32'" }, { name = "six" }]

        [[package]]
        name = "pywin32"
        version = "308"
        source = { registry = "https://pypi.org/simple" }
        wheels = [{ url = "https://x.invalid/pywin32-308-cp312-cp312-win_amd64.whl", hash = "sha256:00" }]

        """
    ) + uv_package("six", "1.17.0"))
    assert pins(resolve(tmp_path)) == ["six==1.17.0"]


# --- requirements files -----------------------------------------------------------------------------------


def test_requirements_markers_includes_and_index_options(tmp_path: Path) -> None:
    write(tmp_path, "base.txt", "six==1.17.0\n")
    write(tmp_path, "requirements.txt", """\
        # pinned for Lambda
        --index-url https://pypi.example/simple
        -r base.txt
        tomli==2.0.1 ; python_version < "3.11"
        requests[socks]==2.32.3 \\
            ; sys_platform == "linux"
        """)
    resolved = resolve(tmp_path, target=X86_312)
    assert resolved.requirements == ("requests[socks]==2.32.3", "six==1.17.0")
    assert resolved.pip_options == ("--index-url", "https://pypi.example/simple")
    assert (resolved.hashed, resolved.complete) == (False, False)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("requests>=2\n", "requirements.txt, line 1: `requests>=2` is not pinned."),
        ("-e ./mylib\n", "requirements.txt, line 1: ./mylib is locked as an editable (path or VCS) dependency"),
        ("mylib @ git+https://github.com/x/mylib@v1\n",
         "requirements.txt, line 1: mylib is locked as a version-control (VCS) dependency"),
        ("mylib @ file:///home/me/mylib\n", "requirements.txt, line 1: mylib is locked as a local path dependency"),
        ("--no-binary :all:\nsix==1.17.0\n", "requirements.txt, line 1: the option `--no-binary` is not supported"),
        (f"six==1.17.0 --hash={H}\nidna==3.7\n",
         "requirements.txt: some requirements carry --hash and others do not (idna)."),
    ],
)
def test_requirements_errors(tmp_path: Path, line: str, message: str) -> None:
    write(tmp_path, "requirements.txt", line)
    with pytest.raises(LockError) as e:
        resolve(tmp_path, settings=DependencyConfig(lock="requirements.txt"))
    assert str(e.value).startswith(message)


# --- consistency with pyproject.toml ------------------------------------------------------------------------


def test_declared_but_not_locked_is_a_stale_lock(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", "six==1.17.0\n")
    with pytest.raises(LockError) as e:
        resolve(tmp_path, ("six", "idna>=3"))
    assert str(e.value) == (
        "requirements.txt does not lock idna>=3, which pyproject.toml declares for python3.12 on x86_64 "
        "(Amazon Linux 2023, glibc 2.34): the lock is out of date. Re-lock the project."
    )


def test_lock_with_some_hashes_installs_without_any(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_HEADER + textwrap.dedent(
        """\
        [[package]]
        name = "demo"
        version = "1.0.0"
        source = { editable = "." }
        dependencies = [{ name = "six" }, { name = "private" }]

        [[package]]
        name = "private"
        version = "0.1"
        source = { registry = "https://pypi.example/simple" }

        """
    ) + uv_package("six", "1.17.0"))
    log = ListReporter()
    resolved = deps.resolve(tmp_path, deps.ProjectDependencies(), DependencyConfig(), X86_312, log)
    assert (resolved.requirements, resolved.hashed) == (("private==0.1", "six==1.17.0"), False)
    assert log.of("warn") == [
        "uv.lock has no hashes for private: the dependency layer is installed without hash checking."
    ]


def test_uv_lock_of_another_project(tmp_path: Path) -> None:
    write(tmp_path, "uv.lock", UV_HEADER + uv_package("six", "1.17.0"))
    with pytest.raises(LockError, match=r"uv.lock has no entry for the project itself"):
        resolve(tmp_path)


def test_malformed_lock(tmp_path: Path) -> None:
    write(tmp_path, "poetry.lock", "[[package]\nname = ")
    with pytest.raises(LockError, match=r"^poetry.lock is not valid TOML: "):
        resolve(tmp_path)


# --- the fingerprinted payload --------------------------------------------------------------------------------


def test_payload_is_canonical_and_relative(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", f"six==1.17.0 --hash={H2} --hash={H}\nidna==3.7 --hash={H}\n")
    resolved = resolve(tmp_path)
    assert resolved.payload() == {
        "source": "requirements.txt", "locked": True, "hashed": True, "complete": True,
        "requirements": [f"idna==3.7 --hash={H}", f"six==1.17.0 --hash={H} --hash={H2}"],
        "roots": [], "pip_options": [],
    }
    assert os.fspath(tmp_path) not in canonical_bytes(resolved.payload()).decode()
    # Where it was read from is not part of it: a clone elsewhere gets the same payload.
    assert dataclasses.replace(resolved, root=Path("/elsewhere")).payload() == resolved.payload()


def test_payload_changes_with_any_hash(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", f"six==1.17.0 --hash={H}\n")
    before = resolve(tmp_path).payload()
    write(tmp_path, "requirements.txt", f"six==1.17.0 --hash={H2}\n")
    assert resolve(tmp_path).payload() != before


def test_payload_ignores_formatting_of_the_lock(tmp_path: Path) -> None:
    write(tmp_path, "requirements.txt", f"six==1.17.0 --hash={H}\nidna==3.7 --hash={H}\n")
    before = resolve(tmp_path).payload()
    write(tmp_path, "requirements.txt", f"# regenerated\nIDNA==3.7 \\\n    --hash={H}\nsix==1.17.0 --hash={H}\n")
    assert resolve(tmp_path).payload() == before
