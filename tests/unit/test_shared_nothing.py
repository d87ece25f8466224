"""How a path of the flow's machine is translated on a worker that shares no disk with it
(``tasks.io.runtime.shared_nothing``): the cache before the run's folder (it may sit inside it), nothing else touched,
and back again exactly; the whole sample through real workers is ``tests/integration/test_shared_nothing.py``."""
from __future__ import annotations

from pathlib import Path

from tasks.config import RunConfig
from tasks.io.runtime.shared_nothing import Places, _map_paths, _paths_in, shares_nothing
from tasks.model import AssetSummary, LayerSummary, TileYear


def _places(tmp_path: Path) -> Places:
    cfg = RunConfig(native_bounds=(0, 0, 1000, 1000), out_dir=tmp_path / "out", cache_url="s3://bucket/cache", publish_url="s3://bucket/layers")
    return Places.of(cfg, tmp_path / "worker")


def test_a_run_shares_nothing_only_with_its_catalog_and_cache_in_object_storage(tmp_path: Path) -> None:
    both = RunConfig(native_bounds=(0, 0, 1000, 1000), out_dir=tmp_path, cache_url="s3://b/c", publish_url="s3://b/l")
    assert shares_nothing(both)
    assert not shares_nothing(both.model_copy(update={"cache_url": None}))
    assert not shares_nothing(both.model_copy(update={"publish_url": None}))
    assert not shares_nothing(both.model_copy(update={"use_cache": False}))


def test_paths_go_to_the_worker_and_come_back_exactly(tmp_path: Path) -> None:
    places = _places(tmp_path)
    out, cache = str(tmp_path / "out"), str(tmp_path / "out" / ".cache")
    staged = f"{out}/.staging/v1-abc-1/lpd/lpd-x-baseline/lpd-x-baseline.tif"
    entry = f"{cache}/ndvi-tile/0123abcd/tile.tif"
    assert places.split(entry) == ("cache", "ndvi-tile/0123abcd/tile.tif"), "the cache first: it is inside --out"
    assert places.split(staged) == ("out", ".staging/v1-abc-1/lpd/lpd-x-baseline/lpd-x-baseline.tif")
    assert places.here(entry) == str(tmp_path / "worker" / "cache" / "ndvi-tile" / "0123abcd" / "tile.tif")
    assert places.here(staged).startswith(str(tmp_path / "worker" / "out" / ".staging" / "v1-abc-1"))
    for path in (staged, entry):
        assert places.there(places.here(path)) == path
    for other in ("h26v04", "/elsewhere/file.tif", f"{out}-other/x.tif", out):  # not inside a place: untouched
        assert places.split(other) is None and places.here(other) == other


def test_layers_and_tiles_are_translated_field_by_field_and_the_rest_kept(tmp_path: Path) -> None:
    places = _places(tmp_path)
    out = str(tmp_path / "out")
    asset = AssetSummary(key="data", path=f"{out}/.staging/v/sdg/i/i.tif", categorical=True, attrs={"a": "b"},
                         valid_pixels=1, total_pixels=2, mean=None, minimum=None, maximum=None)
    layer = LayerSummary(indicator="sdg", item_id="i", year=None, attrs={"long_name": "x"}, source_items=["s1"],
                         assets=[asset], tables={"areas": f"{out}/.staging/v/sdg/i/i_areas.csv"}, quicklook=None)
    tile = TileYear(tile="h26v04", year=2001, path=f"{out}/.cache/ndvi-tile/k/tile.tif", key="k", source_items=["a"],
                    attrs={}, from_cache=False, bytes_decoded=0, bytes_checked=0, seconds=1.0)
    moved = _map_paths([layer, tile], places.here)
    assert moved[0].assets[0].path == str(tmp_path / "worker" / "out" / ".staging/v/sdg/i/i.tif")
    assert moved[0].tables["areas"].startswith(str(tmp_path / "worker" / "out"))
    assert moved[0].source_items == ["s1"] and moved[0].attrs == {"long_name": "x"} and moved[1].tile == "h26v04"
    assert _map_paths(moved, places.there) == [layer, tile]
    assert _paths_in([layer, tile], places) == sorted([asset.path, layer.tables["areas"], tile.path])
    unchanged = LayerSummary(indicator="x", item_id="y", year=1, attrs={}, source_items=[], assets=[])
    assert _map_paths(unchanged, places.here) is unchanged


def test_tasks_overlapping_on_one_worker_keep_their_graphs_on_its_threads() -> None:
    """Dask's scheduler setting is one per process: a task leaving while another on the same worker still computes must
    not hand the other's graphs back to the cluster (whose workers cannot see this worker's files)."""
    import threading
    import time

    import dask

    from tasks.io.runtime.cluster import computes_here, computing_here

    before = dask.config.get("scheduler", None)
    seen: dict[str, tuple[object, bool]] = {}
    entered = threading.Event()

    def task(name: str, hold: float) -> None:
        with computing_here():
            entered.set()
            time.sleep(hold)
            seen[name] = (dask.config.get("scheduler", None), computes_here())

    short, long = threading.Thread(target=task, args=("short", 0.05)), threading.Thread(target=task, args=("long", 0.3))
    long.start()
    entered.wait()
    short.start()
    short.join()
    assert dask.config.get("scheduler", None) == "threads", "the long task is still inside"
    long.join()
    assert seen == {"short": ("threads", True), "long": ("threads", True)}
    assert dask.config.get("scheduler", None) == before and not computes_here()
