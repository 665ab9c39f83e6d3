"""Sample datasets: deterministic, small, valid descriptors, real content."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpf_flow.datasets import list_datasets, write_dataset
from gpf_flow.delivery.descriptor import collect_files, load_descriptor
from gpf_flow.delivery.md5 import md5_of, read_md5_file
from gpf_flow.errors import GpfFlowError, UsageError

NAMES = ["raster-sample", "vector-sample", "archive-sample"]


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): md5_of(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", NAMES)
def test_delivery_dataset_is_deterministic_small_and_valid(tmp_path: Path, name: str) -> None:
    first = write_dataset(name, tmp_path / "a")
    second = write_dataset(name, tmp_path / "b")
    assert first == tmp_path / "a" / name
    assert _digests(first) == _digests(second)
    assert sum(p.stat().st_size for p in first.rglob("*") if p.is_file()) < 2 * 1024 * 1024
    descriptor = load_descriptor(first / "upload_descriptor.jsonc")
    (dataset,) = descriptor.datasets
    files = collect_files(dataset)
    md5_file = first / f"{dataset.data_dirs[0]}.md5"
    listed = read_md5_file(md5_file)
    assert listed == {f.remote: md5_of(f.local) for f in files}


def test_delivery_dataset_names_follow_contracts() -> None:
    assert [d.name for d in list_datasets()] == NAMES
    uploads = {d.name: (d.upload_name, d.upload_type) for d in list_datasets()}
    assert uploads == {
        "raster-sample": ("EXAMPLE_DATASET_RASTER", "RASTER"),
        "vector-sample": ("EXAMPLE_DATASET_VECTOR", "VECTOR"),
        "archive-sample": ("EXAMPLE_DATASET_ARCHIVE", "ARCHIVE"),
    }


def test_delivery_raster_sample_is_a_visible_2154_mosaic(tmp_path: Path) -> None:
    import numpy as np
    import rasterio

    folder = write_dataset("raster-sample", tmp_path)
    tiles = sorted((folder / "tiles").glob("*.tif"))
    assert len(tiles) == 4
    bounds = []
    for tile in tiles:
        with rasterio.open(tile) as src:
            assert src.crs.to_epsg() == 2154
            assert 0.5 <= src.res[0] <= 2 and 500 <= src.width <= 1000
            assert src.compression.name.lower() in ("jpeg", "deflate")
            data = src.read()
            assert data.std() > 20  # clearly not one colour
            assert len(np.unique(data[0])) > 50
            bounds.append(src.bounds)
    lefts, tops = sorted({b.left for b in bounds}), sorted({b.top for b in bounds})
    assert len(lefts) == 2 and len(tops) == 2  # a 2x2 mosaic
    assert 100_000 < lefts[0] < 1_300_000 and 6_000_000 < tops[0] < 7_200_000  # in France


def test_delivery_vector_sample_fields_and_style(tmp_path: Path) -> None:
    import pyogrio

    folder = write_dataset("vector-sample", tmp_path)
    info = pyogrio.read_info(folder / "ZONES" / "ZONES.shp")
    assert list(info["fields"]) == ["CODE", "NOM", "POPULATION", "INSEE_DEP"]
    assert 20 <= info["features"] <= 60 and info["geometry_type"] == "Polygon" and info["crs"] == "EPSG:2154"
    descriptor = load_descriptor(folder / "upload_descriptor.jsonc")
    (static,) = descriptor.statics
    assert (static.name, static.type) == ("style_zones", "GEOSERVER-STYLE")
    sld = static.file.read_text(encoding="utf-8")
    assert "<ogc:PropertyName>insee_dep</ogc:PropertyName>" in sld and "INSEE_DEP" not in sld


def test_delivery_dataset_get_refuses_to_overwrite(tmp_path: Path) -> None:
    write_dataset("archive-sample", tmp_path)
    with pytest.raises(GpfFlowError, match="already exists"):
        write_dataset("archive-sample", tmp_path)
    assert write_dataset("archive-sample", tmp_path, overwrite=True).is_dir()
    with pytest.raises(UsageError, match="raster-sample"):
        write_dataset("raster-sampel", tmp_path)
