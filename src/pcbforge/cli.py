"""The ``pcbforge`` command: one typer app, one thin subcommand per pipeline stage.

Each subcommand loads params.yaml once and hands it to ``pcbforge.pipelines.<stage>.run``.
User errors (bad params, missing inputs, unknown options) print one line and exit 2.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pcbforge import __version__
from pcbforge.errors import PcbforgeError

app = typer.Typer(
    name="pcbforge",
    help="Build versioned training sets for one-shot PCB component inspection. "
    "Each subcommand is one DVC stage, configured by the params.yaml section of the same name.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ParamsOpt = Annotated[
    Path,
    typer.Option("--params", "-p", help="params.yaml to read; relative paths in it resolve against its directory."),
]
DEFAULT_PARAMS = Path("params.yaml")


def _run(stage: str, params_path: Path, **options: Any) -> None:
    from pcbforge.config import load_params

    params = load_params(params_path)
    module = importlib.import_module(f"pcbforge.pipelines.{stage}")
    summary = module.run(params, **options)
    if summary:
        typer.echo(f"{stage}: {summary}")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pcbforge {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    from pcbforge.logs import configure

    configure(logging.DEBUG if verbose else logging.INFO)


@app.command()
def catalog(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Generate the built-in offline catalog: a component web shop and labelled PCB boards."""
    _run("catalog", params)


@app.command()
def crawl(
    params: ParamsOpt = DEFAULT_PARAMS,
    check: Annotated[
        bool, typer.Option("--check", help="Dry run: fetch a few pages per source, print what each selector found.")
    ] = False,
) -> None:
    """Harvest component images from crawl.sources with Scrapy (the built-in site is served on 127.0.0.1)."""
    _run("crawl", params, check=check)


@app.command()
def dedup(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Find exact (sha256) and near (perceptual hash) duplicates; keep one image per cluster."""
    _run("dedup", params)


@app.command()
def quality(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Flag unreadable, tiny, blank, blurry, odd-aspect and grayscale images, with measured values."""
    _run("quality", params)


@app.command()
def review(
    params: ParamsOpt = DEFAULT_PARAMS,
    build: Annotated[bool, typer.Option("--build", help="(Re)build the FiftyOne review dataset and saved views.")] = False,
    launch: Annotated[bool, typer.Option("--launch", help="Build the dataset and open the FiftyOne App on review.address:port.")] = False,
    pull: Annotated[bool, typer.Option("--pull", help="Export annotators' tags from FiftyOne into the decisions file.")] = False,
) -> None:
    """Apply review decisions to produce the accepted set; with flags, work with the FiftyOne App."""
    _run("review", params, build=build, launch=launch, pull=pull)


@app.command()
def annotate(
    params: ParamsOpt = DEFAULT_PARAMS,
    build: Annotated[bool, typer.Option("--build", help="(Re)load the boards' boxes into FiftyOne with the saved views.")] = False,
    launch: Annotated[bool, typer.Option("--launch", help="Build, then open the FiftyOne App on annotate.address:port.")] = False,
    pull: Annotated[bool, typer.Option("--pull", help="Write the boxes reviewed in FiftyOne back to the YOLO label files.")] = False,
) -> None:
    """Review the boards' YOLO boxes in the FiftyOne App and write the fixes back to the label files."""
    _run("annotate", params, build=build, launch=launch, pull=pull)


@app.command()
def crop(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Crop YOLO-labelled boards and accepted photos to square component views (base.image_size px; context patch kept)."""
    _run("crop", params)


@app.command()
def split(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Assign train/val/test: unseen classes held out, boards and dup clusters never split."""
    _run("split", params)


@app.command()
def triplets(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Build anchor/positive/negative triplets with synthetic defects."""
    _run("triplets", params)


@app.command()
def simulate(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Make SSDS-style template/defect pairs with masks from random simulated shapes."""
    _run("simulate", params)


@app.command()
def train(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Train the Siamese embedding model with a triplet margin loss (GPU when present)."""
    _run("train", params)


@app.command()
def evaluate(params: ParamsOpt = DEFAULT_PARAMS) -> None:
    """Score the model on held-out triplets: ROC/PR, per-defect AUC, plots for `dvc plots`."""
    _run("evaluate", params)


@app.command()
def export(
    params: ParamsOpt = DEFAULT_PARAMS,
    fiftyone: Annotated[
        str | None,
        typer.Option("--fiftyone", help="Instead of the files: load the triplets as the persistent FiftyOne dataset NAME "
                     "(e.g. pcbforge-triplets), in review.database_dir.", metavar="NAME"),
    ] = None,
    yolo_boards: Annotated[
        Path | None,
        typer.Option("--yolo-boards", help="Instead of the files: write every board (as reviewed) as one Ultralytics "
                     "YOLO dataset in DIR, named by the taxonomy.", metavar="DIR"),
    ] = None,
) -> None:
    """Export triplets and pairs as contrastive pairs, MVTec/anomalib folders and WebDataset shards."""
    if fiftyone is None and yolo_boards is None:
        _run("export", params)
        return
    from pcbforge.config import load_params

    cfg = load_params(params)
    if fiftyone is not None:
        from pcbforge.datasets import fiftyone_triplets

        typer.echo(f"export: {fiftyone_triplets.run(cfg, fiftyone)}")
    if yolo_boards is not None:
        from pcbforge.datasets import yolo_boards as yolo

        typer.echo(f"export: {yolo.run(cfg, yolo_boards)}")


@app.command("inspect")
def inspect_cmd(
    reference: Annotated[Path, typer.Argument(help="Reference image of a good part (or a folder: one image per class, <class>.png).")],
    sample: Annotated[Path, typer.Argument(help="Image to check (or a folder of <class>/ subfolders of images).")],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="model.pt to use [default: <train.out>/model.pt of --params].")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", "-t", help="Decision threshold; default: the one calibrated in the model file.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder mode: the CSV to write.")] = Path("inspect.csv"),
    params: ParamsOpt = DEFAULT_PARAMS,
) -> None:
    """Compare a sample with a reference: prints the distance and a verdict; exit 0 conform, 1 defect, 2 error."""
    from pcbforge.config import Params, load_params
    from pcbforge.train import inspect as insp

    if model is None:
        cfg = load_params(params) if params.is_file() else Params()
        model = cfg.path(cfg.train.out) / "model.pt"
    inspector = insp.open_inspector(model, threshold)
    if reference.is_dir() or sample.is_dir():
        counts = insp.inspect_folder(inspector, reference, sample, out)
        typer.echo(f"inspect: {counts['conform']} conform, {counts['defect']} defect, {counts['error']} error "
                   f"at threshold {inspector.threshold:.4f} ({inspector.threshold_source}); rows in {out}")
        worst = max((v for v, n in counts.items() if n), key=insp.Verdict.EXIT.__getitem__, default="conform")
        raise typer.Exit(insp.Verdict.EXIT[worst])
    distance, verdict = insp.inspect_pair(inspector, reference, sample)
    typer.echo(f"{verdict}: distance {distance:.4f} {'>' if verdict == insp.Verdict.DEFECT else '<='} "
               f"threshold {inspector.threshold:.4f} ({inspector.threshold_source}; model {model})")
    raise typer.Exit(insp.Verdict.EXIT[verdict])


def _click_error(exc: BaseException, name: str) -> bool:
    """True if ``exc`` is a click exception of ``name`` (typer may vendor its own click)."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors and exit code 2 for anything the user can fix."""
    try:
        # Outside standalone mode click returns a typer.Exit's code instead of exiting.
        rc = app(args=argv, prog_name="pcbforge", standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except PcbforgeError as exc:
        typer.echo(f"pcbforge: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("pcbforge: interrupted; re-run the stage to continue", err=True)
        sys.exit(130)
    except Exception as exc:
        if _click_error(exc, "NoArgsIsHelpError"):  # `pcbforge` alone prints help
            typer.echo(exc.ctx.get_help())  # type: ignore[attr-defined]
            sys.exit(0)
        if _click_error(exc, "UsageError"):
            ctx = getattr(exc, "ctx", None)
            where = f"pcbforge {ctx.info_name}" if ctx is not None and ctx.info_name != "pcbforge" else "pcbforge"
            typer.echo(f"{where}: error: {exc.format_message()} (see --help)", err=True)  # type: ignore[attr-defined]
            sys.exit(2)
        if _click_error(exc, "Exit"):
            sys.exit(getattr(exc, "exit_code", 0))
        if _click_error(exc, "Abort"):
            typer.echo("pcbforge: aborted", err=True)
            sys.exit(130)
        if _click_error(exc, "ClickException"):
            typer.echo(f"pcbforge: error: {exc.format_message()}", err=True)  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 1))
        raise


if __name__ == "__main__":
    main()
