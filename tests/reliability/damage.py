"""Damage that GDAL decodes: a scene whose bytes changed in a way no error reports."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

REPEATED = 0x10
"""The byte the damage repeats: int16 0x1010 = 4112, an NDVI of 0.41, a value any intact composite could hold."""


def decodes_with_a_warning(path: Path) -> None:
    """Rewrite the one-band int16 GeoTIFF ``path`` as one PackBits strip (valid TIFF, if rare) and change two bytes of
    it so that GDAL decodes it with nothing but a warning: the header of a run that starts at a pixel less than 128
    bytes before the end now says "repeat the next byte 128 times", the next byte is ``REPEATED``; libtiff fills the
    image's last pixels with 4112 and discards what would overrun the strip ("PackBitsDecode: Discarding N bytes")."""
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read(1)
    assert data.dtype == np.int16, data.dtype
    for key in ("predictor", "blockxsize", "blockysize"):
        profile.pop(key, None)
    profile.update(compress="packbits", tiled=False, blockysize=data.shape[0])  # one strip: no padding to decode
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    with rasterio.open(path) as src:
        start = int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=1))
    raw = bytearray(path.read_bytes())
    end, decoded, pos = data.nbytes, 0, start
    runs = []  # (header position, decoded bytes before it)
    while pos < start + size and decoded < end:
        runs.append((pos, decoded))
        header = int(np.int8(np.uint8(raw[pos])))
        if header >= 0:
            decoded, pos = decoded + header + 1, pos + header + 2
        elif header > -128:
            decoded, pos = decoded + 1 - header, pos + 2
        else:
            pos += 1
    header_at = next(p for p, before in reversed(runs) if before % 2 == 0 and 0 < end - before < 128)
    raw[header_at], raw[header_at + 1] = 0x81, REPEATED  # -127: the next byte 128 times
    path.write_bytes(bytes(raw))
