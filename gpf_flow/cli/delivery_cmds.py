"""``gpf-flow upload`` (deliver datasets from an upload descriptor) and ``gpf-flow dataset list|get``."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gpf_flow.cli.common import ConfigOption, HomeOption, StoreOption

if TYPE_CHECKING:
    from gpf_flow.delivery.descriptor import UploadDescriptor
    from gpf_flow.delivery.events import DeliveryReport
    from gpf_flow.store.base import Store

OUTPUTS = ("rich", "json")
BEHAVIOR_HELP = (
    "When an upload with the same name exists: STOP (error, default), DELETE (replace it), "
    "CONTINUE (send what is missing, or just follow its checks), RESUME (like CONTINUE, and "
    "re-open it when its checks failed)."
)


def upload(
    file: Annotated[
        Path,
        typer.Option(
            "--file", "-f", help="Upload descriptor (JSON or JSONC, official SDK format).", dir_okay=False
        ),
    ],
    behavior: Annotated[str, typer.Option("--behavior", "-b", help=BEHAVIOR_HELP)] = "STOP",
    home: HomeOption = None,
    store: StoreOption = None,
    config: ConfigOption = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="rich (progress bars) or json (one event per line).")
    ] = "rich",
) -> None:
    """Deliver the datasets of an upload descriptor: send the files, close, follow the checks to the end.

    Exit code 0 only when every upload ends CLOSED (all its checks passed) and every static is sent.
    """
    from gpf_flow.cli.common import open_store_from_options
    from gpf_flow.delivery import load_descriptor
    from gpf_flow.delivery.uploader import normalize_behavior
    from gpf_flow.errors import UsageError

    if output not in OUTPUTS:
        raise UsageError(f"unknown output {output!r}", hint="use --output rich or --output json")
    chosen = normalize_behavior(behavior)
    descriptor = load_descriptor(file)
    with open_store_from_options(store, home, config) as opened:
        if output == "json":
            report = _deliver_json(opened, chosen, descriptor)
        else:
            report = _deliver_rich(opened, chosen, descriptor)
    if not report.ok:
        raise typer.Exit(code=1)


def _deliver_rich(store: "Store", behavior: str, descriptor: "UploadDescriptor") -> "DeliveryReport":
    from gpf_flow.cli.common import console
    from gpf_flow.delivery import Uploader
    from gpf_flow.render.delivery import DeliveryRenderer, render_delivery_summary

    with DeliveryRenderer(console()) as renderer:
        report = Uploader(store, behavior=behavior, on_event=renderer).deliver(descriptor)
    render_delivery_summary(report, console())
    return report


def _deliver_json(store: "Store", behavior: str, descriptor: "UploadDescriptor") -> "DeliveryReport":
    from gpf_flow.cli.common import stdout
    from gpf_flow.delivery import Uploader
    from gpf_flow.render.jsonlines import JsonLinesRenderer, delivery_summary

    renderer = JsonLinesRenderer(stdout())
    report = Uploader(store, behavior=behavior, on_event=renderer).deliver(descriptor)
    renderer.summary(delivery_summary(report))
    return report


def dataset_list(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List the sample datasets that ship with gpf-flow."""
    from gpf_flow.cli.common import console
    from gpf_flow.datasets import list_datasets

    samples = list_datasets()
    if json_output:
        import json

        rows: list[dict[str, Any]] = [
            {"name": s.name, "upload": s.upload_name, "type": s.upload_type, "description": s.description}
            for s in samples
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from gpf_flow.render.tables import datasets_table

    console().print(datasets_table(samples))


def dataset_get(
    name: Annotated[str, typer.Argument(help="Sample dataset name (see gpf-flow dataset list).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder in which NAME/ is written.", file_okay=False)
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing NAME/ folder.")] = False,
) -> None:
    """Write a sample dataset (data, md5 file, upload_descriptor.jsonc) into OUTPUT/NAME."""
    from gpf_flow.cli.common import console
    from gpf_flow.datasets import write_dataset

    folder = write_dataset(name, output, overwrite=force)
    console().print(f"wrote {folder}")
    console().print(f"send it with: gpf-flow upload -f {folder / 'upload_descriptor.jsonc'}")


def register(app: typer.Typer) -> None:
    """Add ``upload`` and the ``dataset`` group to the app."""
    app.command("upload")(upload)
    group = typer.Typer(
        help="Sample datasets made by gpf-flow: list them, write one to disk.",
        no_args_is_help=True,
        rich_markup_mode=None,  # plain click help: rich's help renderer costs ~0.2 s of start-up
    )
    group.command("list")(dataset_list)
    group.command("get")(dataset_get)
    app.add_typer(group, name="dataset")
