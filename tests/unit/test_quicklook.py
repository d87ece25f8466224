"""Quick-look maps of people layers: decades of people per pixel, reds where the signed layer is negative, by hand,
and a map drawn from a real GeoTIFF."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from tasks.constants import SIGNED_PEOPLE_INDICATORS
from tasks.io.outputs.quicklook import binned_png, people_bins, people_classes


def test_people_bins_by_hand() -> None:
    signed = np.array([0.0, np.nan, 0.4, 9.99, 10.0, 99.9, 100.0, 999.0, 1000.0, 12_000.0, -0.4, -10.0, -1000.0])
    assert people_bins(signed).tolist() == [0, -32768, 1, 1, 2, 2, 3, 3, 4, 4, -1, -2, -4]  # 0: no one, not nodata


def test_people_classes_say_what_each_sign_means() -> None:
    classes = people_classes(*SIGNED_PEOPLE_INDICATORS["sdg-population"])
    assert list(classes) == [-4, -3, -2, -1, 0, 1, 2, 3, 4] and classes[0][0] == "no one"
    assert classes[-1][0] == "under 10, on degraded land" and classes[4][0] == "1,000 or more, on other land"
    assert set(SIGNED_PEOPLE_INDICATORS) == {"drought-exposure", "drought-exposure-worst", "sdg-population"}


def test_a_binned_map_shows_a_town_and_its_herders_in_their_own_colours(tmp_path: Path) -> None:
    """A town of 5,000 people per pixel and herders of 3: a linear ramp draws the herders as empty land; in decades
    both have their colour (the map's pixels, away from the legend)."""
    people = np.zeros((60, 60), "float32")
    people[25:35, 25:35] = 5000.0
    people[5:10, 5:10] = -3.0  # herders under drought
    tif = tmp_path / "people.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=60, height=60, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(110.0, 44.0, 0.01, 0.01), nodata=np.nan) as dst:
        dst.write(people, 1)
    classes = people_classes("under drought", "no drought")
    png = binned_png(tif, tmp_path / "map.png", title="people", classes=classes, codes=people_bins, outlines=[])
    pixels = np.asarray(Image.open(png).convert("RGB"))
    counts = {code: int(np.all(pixels == tuple(bytes.fromhex(colour)), axis=-1).sum())
              for code, (_, colour) in classes.items()}
    legend = min(counts.values())  # every class has its legend patch
    assert counts[4] > legend + 100 and counts[-1] > legend + 20, counts


def test_a_binned_map_of_a_layer_wider_than_a_map_reads_it_decimated(tmp_path: Path) -> None:
    """A 2,000 px wide people layer (a continent's, in small) is read at most ``MAX_PIXELS`` a side, as every quick
    look is: each map pixel classed by the mean people per pixel under it. A checkerboard of empty pixels and pixels
    of 200 (half "no one" at full resolution) is drawn as 100-1,000 only; herders of 3, and of 3 under drought, show
    in their own colours."""
    from tasks.io.outputs.quicklook import MAX_PIXELS

    people = np.full((1000, 2000), 3.0, "float32")
    rows, cols = np.indices((1000, 1000))
    people[:, :1000] = np.where((rows + cols) % 2 == 0, 0.0, 200.0)
    people[:400, 1500:] = -3.0
    people[900:, :] = np.nan
    tif = tmp_path / "people.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=2000, height=1000, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(100.0, 50.0, 0.01, 0.01), nodata=np.nan, tiled=True) as dst:
        dst.write(people, 1)
        dst.build_overviews([2, 4], rasterio.enums.Resampling.average)
    classes = people_classes("under drought", "no drought")
    png = binned_png(tif, tmp_path / "map.png", title="people", classes=classes, codes=people_bins, outlines=[])
    pixels = np.asarray(Image.open(png).convert("RGB"))
    counts = {code: int(np.all(pixels == tuple(bytes.fromhex(colour)), axis=-1).sum())
              for code, (_, colour) in classes.items()}
    legend = min(counts.values())
    assert counts[3] > legend + 1000 and counts[1] > legend + 1000 and counts[-1] > legend + 1000, counts
    # no empty pixel drawn alone (a map pixel is the mean of several): the legend's patch and a few grey pixels of
    # the figure's text, where reading the layer whole drew 26,721
    assert counts[0] < legend + 100, counts
    assert max(np.asarray(Image.open(png)).shape[:2]) < 2000 and MAX_PIXELS == 800
