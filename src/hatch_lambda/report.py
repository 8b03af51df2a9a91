"""The table printed at the end of a build: each artifact, its size, and whether it was built or reused."""

from __future__ import annotations

from hatch_lambda.manifest import Manifest


def human_size(size: int) -> str:
    """1536 -> "1.5 KB" (binary units, as `du -h` and the AWS console count)."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def render_table(manifest: Manifest) -> str:
    """Artifact, zipped and unzipped size, built/reused; then, per rebuilt layer, which input changed."""
    rows = [("artifact", "zipped", "unzipped", "status")]
    notes: list[str] = []
    for artifact in manifest.artifacts:
        rows.append((artifact.file, human_size(artifact.size), human_size(artifact.unzipped_size), artifact.status))
        if artifact.status == "built" and artifact.changes:
            notes.append(f"  {artifact.name}: " + "; ".join(artifact.changes))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i in (0, 3) else cell.rjust(widths[i]) for i, cell in enumerate(row))
        .rstrip()
        for row in rows
    ]
    header = f"{manifest.name} {manifest.version} for {manifest.runtime} {manifest.architecture}"
    body = "\n".join([header, *lines])
    if notes:
        body += "\nlayers rebuilt because:\n" + "\n".join(notes)
    reused = [a for a in manifest.layers if a.status == "reused"]
    if manifest.layers and len(reused) == len(manifest.layers):
        what = "the layer was" if len(reused) == 1 else f"all {len(reused)} layers were"
        body += f"\n{what} reused from the layer store: no installer ran"
    return body
