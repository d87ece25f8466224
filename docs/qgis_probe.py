"""Open published COGs with QGIS's own API, as QGIS does when a user adds them, and say how QGIS draws them.

Runs under the Python that has PyQGIS (Debian: ``/usr/bin/python3`` with ``python3-qgis``), not the project's:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 docs/qgis_probe.py LAYER.tif [...] [--png OUT.png]

Prints one JSON object per layer: the renderer QGIS chose (``paletted`` when the ``.qml`` beside the COG was
applied), its classes (value, colour, label) or its colour ramp, the nodata colour and the CRS's name. With
``--png`` it also draws the layers (the first on top) into a 900 px wide map, the way QGIS's canvas would.
"""
from __future__ import annotations

import json
import os
import sys


def describe(layer) -> dict:  # noqa: ANN001 (a QgsRasterLayer; PyQGIS is not importable where this is linted)
    renderer = layer.renderer()
    doc = {"valid": layer.isValid(), "renderer": renderer.type(), "crs": layer.crs().description(),
           "nodata_colour": renderer.nodataColor().name() if renderer.nodataColor().isValid() else None}
    if renderer.type() == "paletted":
        doc["classes"] = [[int(c.value), c.color.name(), c.label] for c in renderer.classes()]
    elif renderer.type() == "singlebandpseudocolor":
        shader = renderer.shader().rasterShaderFunction()
        doc["ramp"] = [[i.value, i.color.name()] for i in shader.colorRampItemList()]
        doc["range"] = [renderer.classificationMin(), renderer.classificationMax()]
    return doc


def main(argv: list[str]) -> int:
    from qgis.core import QgsApplication, QgsMapRendererSequentialJob, QgsMapSettings, QgsRasterLayer, QgsRectangle
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    png = None
    if "--png" in argv:
        i = argv.index("--png")
        png = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    app = QgsApplication([], False)
    app.initQgis()
    try:
        layers = [QgsRasterLayer(path, os.path.basename(path)) for path in argv]
        for layer in layers:
            print(json.dumps(describe(layer)))
        if png and layers:
            extent = QgsRectangle(layers[0].extent())
            settings = QgsMapSettings()
            settings.setLayers(layers)
            settings.setDestinationCrs(layers[0].crs())
            settings.setExtent(extent)
            width = 900
            settings.setOutputSize(QSize(width, max(1, round(width * extent.height() / extent.width()))))
            settings.setBackgroundColor(QColor("white"))
            job = QgsMapRendererSequentialJob(settings)
            job.start()
            job.waitForFinished()
            if not job.renderedImage().save(png, "png"):
                print(f"could not write {png}", file=sys.stderr)
                return 1
    finally:
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)  # QgsApplication's teardown with layers still referenced crashes PyQGIS 3.22; nothing is left to save
