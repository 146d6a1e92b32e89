"""Camera-twin commands, mounted by simulators/cli.py as ``iiot sim export-images|contact-sheet``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import click

from simulators.camera.lighting import HELDOUT_LIGHTING, LIGHTINGS, TRAIN_LIGHTINGS
from simulators.camera.materials import HELDOUT_MATERIAL, MATERIALS, TRAIN_MATERIALS


def _names(value: str, known: Mapping[str, object], option: str) -> tuple[str, ...]:
    """A comma-separated list of known names."""
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown {', '.join(unknown)}; known: {', '.join(known)}", param_hint=option
        )
    return names


@click.command("export-images")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Dataset folder.",
)
@click.option(
    "--n",
    "n_images",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Train+val+test images.",
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the whole dataset."
)
@click.option(
    "--size", type=click.IntRange(64, 4096), default=640, show_default=True, help="Image width and height."
)
@click.option(
    "--heldout-n", type=click.IntRange(min=0), default=200, show_default=True, help="Held-out images."
)
@click.option("--materials", default=",".join(TRAIN_MATERIALS), show_default=True, help="Training materials.")
@click.option("--lightings", default=",".join(TRAIN_LIGHTINGS), show_default=True, help="Training lightings.")
@click.option("--heldout-materials", default=HELDOUT_MATERIAL, show_default=True, help="Held-out materials.")
@click.option("--heldout-lightings", default=HELDOUT_LIGHTING, show_default=True, help="Held-out lightings.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def export_images_command(
    out_dir: Path,
    n_images: int,
    seed: int,
    size: int,
    heldout_n: int,
    materials: str,
    lightings: str,
    heldout_materials: str,
    heldout_lightings: str,
    quiet: bool,
) -> None:
    """Render a YOLO defect dataset (train/val/test split by seed, plus a held-out material and light)."""
    from simulators.camera.export import export_images

    try:
        manifest = export_images(
            out_dir,
            n_images,
            seed,
            _names(materials, MATERIALS, "--materials"),
            _names(lightings, LIGHTINGS, "--lightings"),
            heldout_n=heldout_n,
            heldout_materials=_names(heldout_materials, MATERIALS, "--heldout-materials"),
            heldout_lightings=_names(heldout_lightings, LIGHTINGS, "--heldout-lightings"),
            size=size,
            progress=not quiet,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    summary = {
        name: {"images": s["images"], "boxes": s.get("boxes", 0)} for name, s in manifest["splits"].items()
    }
    click.echo(f"wrote {out_dir}/data.yaml: {json.dumps(summary)}")


@click.command("contact-sheet")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("contact_sheet.png"),
    show_default=True,
)
@click.option("--n", type=click.IntRange(1, 400), default=16, show_default=True, help="Frames on the sheet.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--size", type=click.IntRange(64, 2048), default=640, show_default=True, help="Frame width and height."
)
@click.option(
    "--columns", type=click.IntRange(min=1), default=None, help="Frames per row (default: square grid)."
)
@click.option(
    "--tile", type=click.IntRange(min=0), default=0, help="Shrink each frame to this width (0: keep)."
)
def contact_sheet_command(out: Path, n: int, seed: int, size: int, columns: int | None, tile: int) -> None:
    """Draw rendered frames with their defect boxes and class names into one PNG (last quarter held out)."""
    import cv2

    from simulators.camera.contact_sheet import contact_sheet

    sheet = contact_sheet(n, seed, size, columns, tile_width=tile or None)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), sheet):
        raise click.ClickException(f"could not write {out}")
    click.echo(f"wrote {out} ({sheet.shape[1]}x{sheet.shape[0]}, {n} frames)")
