"""The process settings (``tasks.environment``): importing the library leaves the environment alone, loading the
application (``flows``, so ``ldn`` too) sets the defaults, and a value the user set wins."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tasks.environment import ENVIRONMENT_DEFAULTS
from tests.helpers import REPO

SHOW = "import json, os; print(json.dumps({k: os.environ.get(k) for k in %r}))" % sorted(ENVIRONMENT_DEFAULTS)


def _environment_after(imports: str, **preset: str) -> dict[str, str | None]:
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_DEFAULTS} | preset
    out = subprocess.run([sys.executable, "-c", f"{imports}\n{SHOW}"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_library_sets_nothing() -> None:
    seen = _environment_after("import tasks, tasks.io.outputs.layers, tasks.io.sources.load, tasks.stages.report")
    assert seen == dict.fromkeys(ENVIRONMENT_DEFAULTS)


def test_loading_the_application_sets_every_default_and_keeps_what_the_user_set() -> None:
    assert _environment_after("import flows.cli") == ENVIRONMENT_DEFAULTS
    assert _environment_after("import flows", GDAL_CACHEMAX="512") == ENVIRONMENT_DEFAULTS | {"GDAL_CACHEMAX": "512"}


def test_the_defaults_come_before_prefect_is_imported() -> None:
    seen = _environment_after("import sys, flows; assert 'prefect' not in sys.modules, 'prefect came first'")
    assert seen == ENVIRONMENT_DEFAULTS
