"""A tile reads the composites whose scenes lie on it, not every composite whose lon/lat box touches its own."""
from __future__ import annotations

from tasks.constants import MODIS_GRID_ORIGIN, MODIS_PIXEL_SIZE, MODIS_SINUSOIDAL_WKT, MODIS_TILE_SIZE
from tasks.geo.tiles import Tile, tile_lonlat_bbox
from tasks.io.sources.ingest import item_native_bounds
from tasks.io.sources.inputs import tile_items


def _cell(h: int, v: int) -> tuple[float, float, float, float]:
    x0, y0 = MODIS_GRID_ORIGIN
    return x0 + h * MODIS_TILE_SIZE, y0 - (v + 1) * MODIS_TILE_SIZE, x0 + (h + 1) * MODIS_TILE_SIZE, y0 - v * MODIS_TILE_SIZE


def _item(h: int, v: int, *, proj: bool = True) -> dict:
    left, bottom, right, top = _cell(h, v)
    props = {"proj:wkt2": MODIS_SINUSOIDAL_WKT, "proj:shape": [4800, 4800],
             "proj:transform": [MODIS_PIXEL_SIZE, 0.0, left, 0.0, -MODIS_PIXEL_SIZE, top]} if proj else {}
    bbox = tile_lonlat_bbox(Tile(name=f"h{h:02d}v{v:02d}", bounds=_cell(h, v)), MODIS_SINUSOIDAL_WKT)
    return {"id": f"MOD13Q1.A2024001.h{h:02d}v{v:02d}.061", "bbox": list(bbox), "properties": props, "assets": {}}


def test_at_70_north_a_tile_takes_its_own_scene_not_its_neighbours() -> None:
    tile = Tile(name="h23v02", bounds=_cell(23, 2))
    items = [_item(h, v) for h in (22, 23, 24, 25) for v in (2, 3)]
    # the lon/lat boxes of the neighbours overlap the tile's (the sinusoidal shear at high latitude) ...
    box = tile_lonlat_bbox(tile, MODIS_SINUSOIDAL_WKT)
    assert sum(1 for it in items if it["bbox"][0] <= box[2] and box[0] <= it["bbox"][2]
               and it["bbox"][1] <= box[3] and box[1] <= it["bbox"][3]) > 3
    # ... but on the grid only its own scene touches it
    assert [it["id"] for it in tile_items(tile, items, MODIS_SINUSOIDAL_WKT)] == ["MOD13Q1.A2024001.h23v02.061"]


def test_items_without_a_footprint_are_chosen_by_their_lonlat_box() -> None:
    tile = Tile(name="h26v04", bounds=_cell(26, 4))
    own, far = _item(26, 4, proj=False), _item(21, 2, proj=False)
    assert item_native_bounds(own, MODIS_SINUSOIDAL_WKT) is None
    assert tile_items(tile, [own, far], MODIS_SINUSOIDAL_WKT) == [own]


def test_a_footprint_on_another_crs_is_not_compared_on_this_grid() -> None:
    item = _item(26, 4)
    item["properties"]["proj:wkt2"] = None
    item["properties"]["proj:epsg"] = 4326
    assert item_native_bounds(item, MODIS_SINUSOIDAL_WKT) is None
