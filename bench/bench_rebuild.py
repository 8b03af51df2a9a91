"""Benchmark: warm, no-change and cold `hatch build -t lambda` against hatch's no-op floor and a bare pip install.

Usage (from the repository root; the cold build and bare pip need the package index):

    python bench/bench_rebuild.py [--sample sample_projects/web_deps] [--runs 7] [--cold-runs 3]

The sample is copied to a temporary directory whose `hatch-build` environment gets this checkout's plugin and
`bench/noop_builder` (a target that does nothing), so the floor and the lambda target run in one environment.
Every scenario is run several times, interleaved, and reported by its median.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tomllib

REPO = Path(__file__).resolve().parent.parent
NOOP = REPO / "bench" / "noop_builder"
ENV_TABLE = "[tool.hatch.envs.hatch-build]"


def run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return proc


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    run(cmd, cwd, env)
    return time.perf_counter() - start


def prepare(sample: Path, work: Path, name: str = "project", with_plugin: bool = True) -> Path:
    """Copies the sample and points its hatch-build environment at this checkout and the no-op target."""
    project = work / name
    shutil.copytree(sample, project, ignore=shutil.ignore_patterns("dist", ".venv", "__pycache__", "*.egg-info"))
    text = (project / "pyproject.toml").read_text("utf-8")
    plugins = [f"hatch-lambda @ {REPO.as_uri()}"] if with_plugin else []
    plugins.append(f"hatch-noop-builder @ {NOOP.as_uri()}")
    deps_line = "dependencies = [" + ", ".join(f'"{p}"' for p in plugins) + "]"
    if ENV_TABLE in text:
        head, _, tail = text.partition(ENV_TABLE)
        tail = re.sub(r"(?ms)^dependencies\s*=\s*\[.*?\]\s*$", deps_line, tail, count=1)
        text = head + ENV_TABLE + tail
    else:
        text += f"\n{ENV_TABLE}\n{deps_line}\n"
    (project / "pyproject.toml").write_text(text, "utf-8")
    return project


def handler_file(project: Path, config: dict[str, Any]) -> Path:
    module = str(config["handler"]).rpartition(".")[0].replace(".", "/")
    for base in (project / "src", project):
        for candidate in (base / f"{module}.py", base / module / "__init__.py"):
            if candidate.is_file():
                return candidate
    raise SystemExit(f"cannot find the handler module {module} in {project}")


def manifest(project: Path) -> dict[str, Any]:
    found = sorted((project / "dist").glob("*-lambda.json"))
    return dict(json.loads(found[0].read_text("utf-8")))


def bare_pip_command(project: Path, config: dict[str, Any], target_dir: Path, req_file: Path) -> list[str]:
    """`pip install --target` of the exact set the layer holds, for the target's tags; no zip, no checks."""
    from hatch_lambda import config as config_mod
    from hatch_lambda import deps
    from hatch_lambda.reporting import ListReporter
    from hatch_lambda.runtimes import Target

    data = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    parsed = config_mod.parse_config(config, source=str(project / "pyproject.toml"))
    target = Target.of(parsed.runtime, parsed.architecture)
    meta = data.get("project", {})
    declared = deps.ProjectDependencies(
        dependencies=tuple(meta.get("dependencies", [])),
        optional={k: tuple(v) for k, v in meta.get("optional-dependencies", {}).items()},
        groups=data.get("dependency-groups", {}),
    )
    resolved = deps.resolve(project, declared, parsed.dependencies, target, ListReporter())
    req_file.write_text("\n".join(resolved.requirements) + "\n", "utf-8")
    cmd = [sys.executable, "-m", "pip", "install", "--target", str(target_dir), "--only-binary=:all:",
           "--implementation", "cp", "--python-version", target.runtime.python_version]
    for tag in target.platform_tags:
        cmd += ["--platform", tag]
    if getattr(resolved, "complete", False):
        cmd.append("--no-deps")
    return [*cmd, "-r", str(req_file)]


def pip_config(env: dict[str, str]) -> list[str]:
    lines = [f"PIP_FIND_LINKS={env.get('PIP_FIND_LINKS', '(unset)')}",
             f"PIP_INDEX_URL={env.get('PIP_INDEX_URL', '(unset: https://pypi.org/simple)')}",
             f"PIP_NO_INDEX={env.get('PIP_NO_INDEX', '(unset)')}"]
    proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                          env=env, check=False)
    lines.append("pip config list: " + ("; ".join(proc.stdout.split()) or "(empty)"))
    for key in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        if env.get(key):
            lines.append(f"{key} is set (the index is reached through a proxy)")
            break
    return lines


def other_tools() -> list[str]:
    """SAM and poetry-plugin-lambda-build are only reported here: running them needs their own project files."""
    notes = []
    sam = shutil.which("sam")
    notes.append(f"sam: installed at {sam}, not run by this script" if sam else "sam: not installed")
    poetry = shutil.which("poetry")
    if poetry and subprocess.run([poetry, "build-lambda", "--help"], capture_output=True, check=False).returncode == 0:
        notes.append(f"poetry build-lambda: installed at {poetry}, not run by this script")
    else:
        notes.append("poetry build-lambda: not installed")
    return notes


def fmt_row(name: str, times: list[float], floor: float, pip: float | None) -> str:
    med = statistics.median(times)
    vs_pip = f"{med / pip:.2f}x" if pip else "n/a"
    return (f"| {name} | {med:.3f} | {min(times):.3f} | {max(times):.3f} | {med / floor:.2f}x | {vs_pip} | "
            f"{len(times)} |")


def bench_env(work: Path, keep_bytecode_setting: bool) -> tuple[dict[str, str], str]:
    env = dict(os.environ)
    note = "PYTHONDONTWRITEBYTECODE: unset"
    if keep_bytecode_setting and env.get("PYTHONDONTWRITEBYTECODE"):
        note = "PYTHONDONTWRITEBYTECODE: set (kept, --as-is): every run compiles hatchling and the plugins"
    elif env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        # Hatch's build environment is installed without .pyc files; with this set, every run would compile
        # hatchling, pluggy, packaging and the plugins from source, which no user machine does.
        note = "PYTHONDONTWRITEBYTECODE: was set in this shell, unset for the measured commands"
    for name in ("HATCH_LAMBDA_FORCE_REBUILD", "SOURCE_DATE_EPOCH", "HATCH_LAMBDA_RUNTIME",
                 "HATCH_LAMBDA_ARCHITECTURE"):
        env.pop(name, None)
    env["HATCH_DATA_DIR"] = str(work / "hatch-data")
    env["HATCH_LAMBDA_STORE"] = str(work / "store")
    return env, note


def measure_fast(project: Path, bare_project: Path, env: dict[str, str], hatch: str, runs: int,
                 handler: Path) -> dict[str, Any]:
    """Floor, no-change and warm-after-edit builds, interleaved; checks the manifest after every edit.

    `bare_project` is the same sample whose build environment has only the no-op target: hatchling imports
    every installed builder plugin on every build, so the difference is what installing hatch-lambda costs
    any target (the floor itself includes it, as the issue's floor runs in the same environment).
    """
    noop = [hatch, "build", "-t", "noop"]
    lam = [hatch, "build", "-t", "lambda"]
    original = handler.read_text("utf-8")
    # Create the hatch-build environments, fill the store, and bring the manifest to its steady state.
    run(noop, bare_project, env)
    run(noop, project, env)
    run(lam, project, env)
    run(lam, project, env)
    before = manifest(project)
    times: dict[str, list[float]] = {"floor": [], "nochange": [], "warm": [], "bare_floor": []}
    problems: list[str] = []
    for i in range(runs):
        times["bare_floor"].append(timed(noop, bare_project, env))
        times["floor"].append(timed(noop, project, env))
        times["nochange"].append(timed(lam, project, env))
        handler.write_text(original + f"BENCH_EDIT = {i}  # a one-line handler edit\n", "utf-8")
        times["warm"].append(timed(lam, project, env))
        after = manifest(project)
        statuses = sorted({layer["status"] for layer in after["layers"]})
        changed = after["function"]["sha256"] != before["function"]["sha256"]
        if statuses not in ([], ["reused"]) or not changed:
            problems.append(f"run {i}: layers {statuses}, function sha256 changed: {changed}")
        before = after
    handler.write_text(original, "utf-8")
    return {"times": times, "problems": problems, "manifest": before}


def measure_cold(project: Path, config: dict[str, Any], env: dict[str, str], hatch: str, runs: int,
                 work: Path) -> tuple[list[float], list[float], list[str]]:
    """Cold builds (each with its own empty store) and bare pip installs, alternating."""
    cold: list[float] = []
    bare: list[float] = []
    pip_cmd: list[str] = []
    for i in range(runs):
        cold_env = {**env, "HATCH_LAMBDA_STORE": str(work / f"cold-store-{i}")}
        shutil.rmtree(project / "dist", ignore_errors=True)
        cold.append(timed([hatch, "build", "-t", "lambda"], project, cold_env))
        pip_cmd = bare_pip_command(project, config, work / f"bare-pip-{i}", work / "requirements.txt")
        bare.append(timed(pip_cmd, work, env))
    return cold, bare, pip_cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sample", type=Path, default=REPO / "sample_projects" / "web_deps")
    parser.add_argument("--runs", type=int, default=7, help="runs of each fast scenario (default 7)")
    parser.add_argument("--cold-runs", type=int, default=3, help="runs of the cold build and bare pip (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--as-is", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE if set (default: unset it, as on a typical machine)")
    args = parser.parse_args(argv)

    sample = args.sample.resolve()
    if not (sample / "pyproject.toml").is_file():
        raise SystemExit(f"no sample project at {sample}")
    hatch = shutil.which("hatch")
    if hatch is None:
        raise SystemExit("hatch is not installed")
    work = Path(tempfile.mkdtemp(prefix="hatch-lambda-bench-"))
    project = prepare(sample, work)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    config = pyproject["tool"]["hatch"]["build"]["targets"]["lambda"]
    env, bytecode_note = bench_env(work, args.as_is)

    print(f"sample: {sample.relative_to(REPO) if sample.is_relative_to(REPO) else sample} "
          f"(runtime {config.get('runtime')}, architecture {config.get('architecture')}), copied to a temp dir")
    print(f"python {sys.version.split()[0]}, {run([hatch, '--version'], project, env).stdout.strip()}, "
          f"{os.cpu_count()} CPUs")
    print(bytecode_note)
    for line in pip_config(env):
        print(line)

    bare_project = prepare(sample, work, "project-without-plugin", with_plugin=False)
    fast = measure_fast(project, bare_project, env, hatch, args.runs, handler_file(project, config))
    cold, bare, pip_cmd = measure_cold(project, config, env, hatch, args.cold_runs, work)
    times = fast["times"]
    floor = statistics.median(times["floor"])
    pip = statistics.median(bare) if bare else None
    print()
    print("| scenario | median s | min s | max s | vs floor | vs bare pip | runs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [
        ("hatch no-op floor (`hatch build -t noop`)", times["floor"]),
        ("(no-op floor in an environment without hatch-lambda)", times["bare_floor"]),
        ("warm rebuild after a one-line handler edit", times["warm"]),
        ("no-change rebuild", times["nochange"]),
        ("cold build, empty layer store", cold),
        ("bare `pip install --target` of the same set", bare),
    ]
    for name, values in rows:
        if values:
            print(fmt_row(name, values, floor, pip))
    print()
    final = fast["manifest"]
    function_size = int(final["function"]["size"])
    total = function_size + sum(int(layer["size"]) for layer in final["layers"])
    layers = ", ".join(f"{layer['name']} {int(layer['size']):,}" for layer in final["layers"])
    print(f"upload after a code-only edit: function zip {function_size:,} bytes; all artifacts {total:,} bytes "
          f"(layers: {layers or 'none'})")
    print(f"warm rebuild / floor = {statistics.median(times['warm']) / floor:.3f} (goal <= 1.15)")
    problems = fast["problems"]
    print("manifest after every edit: " + ("every layer reused, function sha256 changed" if not problems
                                           else "; ".join(problems)))
    print("bare pip: " + " ".join(pip_cmd).replace(str(work), "$WORK"))
    for note in other_tools():
        print(note)
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
