"""Finding scenes: search a STAC API for a source's items over an area and years.

Queries stay within what every STAC API answers (collections, bbox, datetime); property rules
such as ``platform: terra`` are applied client-side, since not every API (rustac among them)
implements CQL2 filters. A composite belongs to the calendar year of its ``start_datetime``.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import pystac
from prefect import get_run_logger, task
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3 import Retry

from tasks.config import Source, env_seconds
from tasks.errors import CollectionNotFound, NoScenesFound, OutsideCollection, StacBadPaging, StacUnreachable
from tasks.geo.grid import bboxes_intersect, split_bbox
from tasks.io.sources.deadline import DeadlineAdapter, RequestTooSlow, within
from tasks.io.sources.integrity import file_fingerprint, scene_fingerprints
from tasks.io.sources.run import RunContext

__all__ = [
    "open_api",
    "search_items",
    "run_items",
    "items_by_year",
    "item_year",
    "modis_start_date",
    "source_fingerprints",
    "precipitation_fingerprints",
    "find_inputs_task",
    "find_scenes_task",
    "FoundScenes",
    "STATIC_YEARS",
    "find_people_task",
    "retry_unreachable",
    "incomplete_years",
    "STAC_TIMEOUT",
    "STAC_CONNECT_TIMEOUT",
    "STAC_MAX_PAGES",
    "STAC_RETRIES",
    "STAC_DEADLINE",
    "stac_timeout",
]

STATIC_YEARS: tuple[int, int] = (1950, 2100)
"""Years searched for single-item layers (SOC stock, climate zones) whatever their nominal date."""

STAC_TIMEOUT: float = 30.0
"""Seconds before one STAC API request is abandoned (the read timeout; ``LDN_STAC_TIMEOUT`` overrides it)."""

STAC_CONNECT_TIMEOUT: float = 10.0
"""Seconds to open a connection to the STAC API (at most the read timeout)."""

STAC_MAX_PAGES: int = 10_000
"""Pages of one search before it is called endless: 10,000 pages of the default 10-250 items."""

STAC_DEADLINE: float = 120.0
"""Seconds one STAC request may take in all, its retries and the reading of its answer included
(``LDN_STAC_DEADLINE`` overrides it): the read timeout bounds the wait between two bytes only."""


def stac_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every STAC request: ``STAC_TIMEOUT`` or ``$LDN_STAC_TIMEOUT``."""
    read = env_seconds("LDN_STAC_TIMEOUT", STAC_TIMEOUT)
    return min(STAC_CONNECT_TIMEOUT, read), read


class _StacIO(StacApiIO):
    """pystac-client's IO with paging that stops: a ``next`` link to a page already read, or more than
    ``STAC_MAX_PAGES`` pages, is a one-line ``StacBadPaging`` instead of a search that never ends; and requests
    that end: each has a whole-request deadline (``STAC_DEADLINE``, ``tasks.io.sources.deadline``), past which it is a
    one-line ``StacUnreachable`` naming the server."""

    def __init__(self, *, max_retries: Retry, timeout: tuple[float, float]) -> None:
        super().__init__(max_retries=max_retries, timeout=timeout)
        for scheme in ("http://", "https://"):  # sockets under the deadline of `within`
            self.session.mount(scheme, DeadlineAdapter(max_retries=max_retries))

    def request(self, href: str, method: str | None = None, headers: dict[str, str] | None = None,
                parameters: dict[str, Any] | None = None) -> str:
        seconds = env_seconds("LDN_STAC_DEADLINE", STAC_DEADLINE)
        try:
            with within(seconds, f"the STAC API at {_server(href)}"):
                return super().request(href, method=method, headers=headers, parameters=parameters)
        except RequestTooSlow as err:
            raise StacUnreachable(f"{err}: retry later, or give it longer with LDN_STAC_DEADLINE=<seconds> if the "
                                  "service is slow but working") from None

    def get_pages(self, url: str, method: str | None = None,
                  parameters: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for n, page in enumerate(self._pages(url, method, parameters)):
            nxt = next((link for link in page.get("links", []) if link.get("rel") == "next"), None)
            if nxt is not None:
                key = json.dumps([nxt.get("href"), nxt.get("method"), nxt.get("body")], sort_keys=True, default=str)
                if key in seen or n + 1 >= STAC_MAX_PAGES:
                    why = (f"its `next` link goes back to a page it already gave ({nxt.get('href')})" if key in seen
                           else f"it gave {STAC_MAX_PAGES} pages and still has a `next` link")
                    raise StacBadPaging(f"the STAC API at {url} pages without end: {why}; report it to the API's "
                                        "provider, or narrow the search (--years, the area)")
                seen.add(key)
            yield page

    def _pages(self, url: str, method: str | None, parameters: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        return super().get_pages(url, method=method, parameters=parameters)

STAC_RETRIES: int = 3
"""Retries of a STAC request that fails with a transient HTTP status (429, 5xx) or a lost connection, about 0.5, 1
and 2 s apart (a server's Retry-After wins), searches by POST included: a search only reads."""


def _retries() -> Retry:
    return Retry(total=STAC_RETRIES, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504),
                 allowed_methods=None, respect_retry_after_header=True, raise_on_status=False)

_NETWORK_ERRORS = (OSError, APIError)


def open_api(url: str) -> Client:
    """Open the STAC API at ``url``; an API that does not answer is a one-line ``StacUnreachable``."""
    timeout = stac_timeout()
    io = _StacIO(max_retries=_retries(), timeout=timeout)
    try:  # pystac-client resets the IO's timeout to Client.open's own argument, so it is given there too
        return Client.open(url, stac_io=io, timeout=timeout)
    except StacUnreachable:  # said already (a request past its deadline)
        raise
    except APIError as err:
        status = getattr(err, "status_code", None)
        if status is None:  # pystac-client wraps connection failures in APIError too
            raise StacUnreachable(
                f"cannot reach the STAC API at {url} ({_reason(err)}): check the `api` URL in the sources file "
                "(or --stac-api) and your network, or run `ldn run` without --sources for the offline sample"
            ) from None
        raise StacUnreachable(
            f"the STAC API at {url} answered HTTP {status}: check the `api` URL in the sources file, "
            "or retry later if the service is down"
        ) from None
    except Exception as err:  # requests wraps connection failures in several exception types
        reason = type(err).__name__
        raise StacUnreachable(
            f"cannot reach the STAC API at {url} ({reason}): check the URL and your network, "
            "or run `ldn run` without --sources to use the bundled offline sample"
        ) from None


def _server(href: str) -> str:
    """The scheme and host of ``href``, as a message names a server (no path, query or credentials)."""
    parts = urlsplit(href)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts.hostname else href


def _reason(err: Exception) -> str:
    text = str(err)
    for needle in ("Connection refused", "Name or service not known", "timed out", "Max retries exceeded"):
        if needle in text:
            return needle.lower()
    return type(err).__name__


_MODIS_DATE = re.compile(r"\.A(\d{4})(\d{3})(?:\.|$)")


def modis_start_date(name: str) -> date:
    """Start date of a MODIS composite from a name holding ``.AYYYYDDD`` (e.g. ``MOD13Q1.A2000049.h26v04.061``).

    Examples
    --------
    >>> modis_start_date("slovenia.EVI.MOD13Q1.A2000049.tif")
    datetime.date(2000, 2, 18)
    """
    m = _MODIS_DATE.search(name)
    if m is None:
        raise ValueError(f"{name!r} holds no MODIS date '.AYYYYDDD': name the composite like MOD13Q1.A2001001...")
    year, doy = int(m.group(1)), int(m.group(2))
    if not 1 <= doy <= 366:
        raise ValueError(f"{name!r} has day of year {doy}, outside 1..366")
    return date(year, 1, 1) + timedelta(days=doy - 1)


def item_year(item: pystac.Item | dict[str, Any]) -> int:
    """Calendar year of a composite: of its ``start_datetime``, else ``datetime``, else the ``.AYYYYDDD`` in its id."""
    props = item.properties if isinstance(item, pystac.Item) else item["properties"]
    stamp = props.get("start_datetime") or props.get("datetime")
    if stamp:
        return int(str(stamp)[:4])
    return modis_start_date(item.id if isinstance(item, pystac.Item) else item["id"]).year


def search_items(
    client: Client,
    source: Source,
    *,
    bbox: tuple[float, float, float, float],
    years: tuple[int, int],
) -> list[pystac.Item]:
    """Items of ``source`` over ``bbox`` whose composites start within ``years``, property rules applied.

    The collection must exist and its spatial extent must intersect ``bbox``; an empty result is a
    ``NoScenesFound`` error saying what was searched.
    """
    assert source.stac is not None
    cid = source.stac.collection
    try:
        collection = client.get_collection(cid)
    except _NETWORK_ERRORS as err:
        status = getattr(err, "status_code", None)
        if status != 404 and "404" not in str(err)[:200]:
            raise StacUnreachable(
                f"the STAC API {client.self_href} failed while reading collection {cid!r}: retry later"
            ) from None
        collection = None
    if collection is None:
        raise CollectionNotFound(
            f"collection {cid!r} is not on the STAC API {client.self_href}; it has {_collection_ids(client)}: "
            "fix `collection` in the sources file"
        )
    extents = collection.extent.spatial.bboxes
    if extents and not any(bboxes_intersect(bbox, e) for e in extents):
        raise OutsideCollection(
            f"bbox {[round(v, 4) for v in bbox]} does not intersect collection {cid!r}, whose extent is "
            f"{[[round(v, 4) for v in e] for e in extents]}: choose an area inside it"
        )
    first, last = years
    try:
        found_by_id: dict[str, pystac.Item] = {}
        for box in split_bbox(bbox):  # a box across the antimeridian is searched as its two halves
            search = client.search(
                collections=[cid], bbox=list(box), datetime=f"{first}-01-01T00:00:00Z/{last}-12-31T23:59:59Z"
            )
            found_by_id.update((it.id, it) for it in search.items())
        found = list(found_by_id.values())
    except _NETWORK_ERRORS as err:
        raise StacUnreachable(
            f"searching {cid!r} on {client.self_href} failed ({_reason(err)}): retry later"
        ) from None
    except ValueError as err:  # a page that is not JSON (a proxy's HTML error page, a truncated answer)
        raise StacUnreachable(
            f"searching {cid!r} on {client.self_href} failed: a page of results is not JSON ({type(err).__name__}: "
            f"{str(err)[:80]}); retry later, or check the `api` URL in the sources file"
        ) from None
    wanted = source.stac.properties
    items = [
        it for it in found
        if first <= item_year(it) <= last and all(it.properties.get(k) == v for k, v in wanted.items())
    ]
    if not items:
        rule = f" with {wanted}" if wanted else ""
        raise NoScenesFound(
            f"no items in {cid!r}{rule} for bbox {[round(v, 4) for v in bbox]} and years {first}-{last} "
            f"({len(found)} before the property filter): widen the years or the area, or check `properties`"
        )
    return sorted(items, key=lambda it: (it.properties.get("start_datetime") or "", it.id))


def _collection_ids(client: Client) -> list[str]:
    try:
        return sorted(c.id for c in client.get_collections())
    except Exception:
        return []


def run_items(run: RunContext, source: Source, years: tuple[int, int], *,
              keep_excluded: bool = False) -> list[pystac.Item]:
    """Items of ``source`` over the run's area (its lon/lat search box: the run's bounds are in the NDVI grid's
    CRS) whose composites start within ``years``, without the scenes the run leaves out (``exclude_scenes``; with
    ``keep_excluded``, with them): the one search every stage makes of a source."""
    found = search_items(open_api(run.cfg.api_url(source)), source, bbox=run.search_bbox, years=years)
    left_out = set(run.cfg.exclude_scenes)
    return found if keep_excluded or not left_out else [it for it in found if it.id not in left_out]


def items_by_year(items: list[pystac.Item]) -> dict[int, list[pystac.Item]]:
    """Group items by the calendar year of their composite start."""
    groups: dict[int, list[pystac.Item]] = defaultdict(list)
    for it in items:
        groups[item_year(it)].append(it)
    return dict(sorted(groups.items()))


@dataclass(frozen=True)
class FoundScenes:
    """The NDVI composites of a run, by year (item dicts), and the ids of those it leaves out (``exclude_scenes``)."""

    by_year: dict[int, list[dict[str, Any]]]
    left_out: dict[int, list[str]] = field(default_factory=dict)


@task(name="find-scenes", retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=lambda task, run, state: retry_unreachable(state))
def find_scenes_task(run: RunContext) -> FoundScenes:
    """Search the NDVI source for the run's area and years; return item dicts grouped by year, without the scenes
    the run leaves out (which count as present when a year's completeness is judged: the provider has them)."""
    cfg, source = run.cfg, run.ndvi
    assert source.stac is not None  # the NDVI source is searched (validated with the sources file)
    found = run_items(run, source, cfg.years, keep_excluded=True)
    asked = set(cfg.exclude_scenes)
    groups = items_by_year(found)
    left_out = {y: sorted(it.id for it in group if it.id in asked) for y, group in groups.items()}
    left_out = {y: ids for y, ids in left_out.items() if ids}
    if asked:
        log = get_run_logger()
        for year, ids in left_out.items():
            log.warning("%d: %d composite(s) left out as asked (exclude_scenes): %s", year, len(ids), ", ".join(ids))
        if unknown := sorted(asked - {i for ids in left_out.values() for i in ids}):
            log.warning("exclude_scenes names %d scene(s) the search did not find in %s %d-%d: %s (a typo, or "
                        "another source's)", len(unknown), source.stac.collection, *cfg.years, ", ".join(unknown))
    gaps = incomplete_years(groups, cfg.years, source.stac.composites_per_year)
    groups = {y: kept for y, group in groups.items() if (kept := [it for it in group if it.id not in asked])}
    if gaps:
        last = cfg.years[1]
        if last in gaps:
            raise NoScenesFound(
                f"{source.stac.collection} {last} composites not yet complete in the source: {gaps[last]} of "
                f"{source.stac.composites_per_year} found: run with --years {cfg.years[0]}-{last - 1}, or wait for the rest")
        get_run_logger().warning("years with fewer composites than %s: %s (their pixels need --min-valid valid ones)",
                                 source.stac.composites_per_year, {y: n for y, n in gaps.items()})
    return FoundScenes({year: [it.to_dict() for it in group] for year, group in groups.items()}, left_out)


def incomplete_years(groups: dict[int, list[pystac.Item]], years: tuple[int, int], expected: int | None) -> dict[int, int]:
    """Years of ``years`` with fewer distinct composite dates than ``expected``: year -> dates found."""
    if expected is None:
        return {}
    found = {y: len({it.properties.get("start_datetime") or it.datetime for it in groups.get(y, [])})
             for y in range(years[0], years[1] + 1)}
    return {y: n for y, n in found.items() if n < expected}


def retry_unreachable(state: Any) -> bool:
    """Whether a failed STAC task's state is worth a retry: only an unreachable API is; configuration and
    empty-result errors are deterministic (Prefect's ``retry_condition_fn`` of the search tasks)."""
    try:
        state.result()
    except StacUnreachable:
        return True
    except Exception:
        return False
    return False


def source_fingerprints(run: RunContext) -> dict[str, Any]:
    """What the run's land cover, SOC, climate-zone, land-unit (and LDN balance land type) and precipitation inputs are now: item fingerprints or file hashes.

    One STAC search per source (no pixel is read; an asset without ``file:checksum`` costs an HTTP HEAD), so
    the per-period layers are keyed on their inputs' bytes as the annual ones are: a file by its hash
    (``{"file": ...}``), a collection's items by year (``{"years": {"2015": [...]}}``), so each layer's key keeps
    the years it reads (``tasks.io.runtime.cache_keys.inputs_of``).
    """
    cfg = run.cfg
    roles = [(cfg.land_cover_source, "land_cover"), (cfg.soc_source, "soc")]
    if cfg.climate_source is not None and cfg.soc_single_f is None:
        roles.append((cfg.climate_source, "climate_zones"))
    if cfg.productivity.land_unit_source is not None:
        roles.append((cfg.productivity.land_unit_source, "land_units"))
    if cfg.ldn_balance_land_types is not None:
        roles.append((cfg.ldn_balance_land_types, "land_units"))
    if run.precipitation is not None:
        roles.append((run.precipitation[0], "precipitation"))
    return _fingerprints(run, roles)


def _fingerprints(run: RunContext, roles: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, role in dict.fromkeys(roles):
        source = run.source(name, role)
        if source.file is not None:
            out[name] = {"file": file_fingerprint(source.file)}
            continue
        if source.zarr is not None:  # a Zarr store, never searched: the drought stage keys it by its chunks
            continue
        groups = items_by_year(run_items(run, source, STATIC_YEARS))
        out[name] = {"years": {str(year): scene_fingerprints([it.to_dict() for it in items], source)
                               for year, items in groups.items()}}
    return out


@task(name="find-inputs", retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=lambda task, run, state: retry_unreachable(state))
def find_inputs_task(run: RunContext) -> dict[str, Any]:
    """Fingerprints of the land cover, SOC, climate and land-unit inputs (item ids, ``updated``, checksums)."""
    return source_fingerprints(run)


def precipitation_fingerprints(run: RunContext) -> dict[str, Any]:
    """Fingerprints of the run's monthly precipitation items by year (``source_fingerprints`` of that source alone;
    a Zarr store has none here: ``tasks.stages.drought.find_precipitation_task`` keys it by its chunks)."""
    assert run.precipitation is not None
    return _fingerprints(run, [(run.precipitation[0], "precipitation")])


@task(name="find-people-inputs", retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=lambda task, run, state: retry_unreachable(state))
def find_people_task(run: RunContext) -> dict[str, Any]:
    """Fingerprints of the population items by year and of the vulnerability index (``source_fingerprints`` of those
    sources alone)."""
    roles = [(name, role) for role, chosen in (("population", run.population), ("vulnerability", run.vulnerability))
             if chosen is not None for name in [chosen[0]]]
    return _fingerprints(run, roles)
