"""The import structure of tasks/ and flows/: the layers import only downwards, no circle between project modules
(counting the imports written inside functions or under ``if TYPE_CHECKING:``, which hide a circle from Python
but not from a reader), and no import of a project module inside a function at all.

The imports are read from the source (``ast``), so the test needs nothing installed and names every offender.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tasks", "flows")

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("flows", ("flows",)),
    ("stages", ("tasks.stages",)),
    ("io.outputs", ("tasks.io.outputs",)),
    ("io.runtime", ("tasks.io.runtime",)),
    ("io.samples", ("tasks.io.samples",)),
    ("io.sources", ("tasks.io.sources", "tasks.io")),
    ("science", ("tasks.science",)),
    ("config", ("tasks.config",)),
    ("geo", ("tasks.geo",)),
    ("kernels", ("tasks.kernels",)),
    ("floor", ("tasks.constants", "tasks.environment", "tasks.errors", "tasks.model", "tasks")),
)
"""The layers, top first: a module imports from its own layer or one below, never from one above. The README's
Development section draws the same list; a new module goes into a layer's package, or this test names it. ``tasks.io``
is four rooms, each a layer here (its ``__init__`` says what it holds); only the package's own ``__init__`` sits
outside them."""

MOST_MODULES = 15
"""A package folder holds at most this many modules (``__init__`` not counted): past it, it wants rooms."""


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def _imports(modules: dict[str, Path]) -> list[tuple[str, str, bool, int]]:
    """(importer, imported project module, written inside a function, line) for every import, those only for type
    checking included."""
    out = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        in_function = {id(n) for node in ast.walk(tree)
                       if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(node)}
        for node in ast.walk(tree):  # imports under ``if TYPE_CHECKING:`` count: a loop for the types is a loop
            targets = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                       else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for target in targets:
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != name and not name.startswith(target + "."):
                    out.append((name, target, id(node) in in_function, node.lineno))
    return out


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> int:
    """Index in ``LAYERS`` of the layer that holds ``module`` (the longest matching prefix wins)."""
    best = (-1, -1)
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), i)
    return best[1]


def test_every_module_belongs_to_a_layer() -> None:
    loose = sorted(m for m in _modules() if _layer(m) < 0 or (m.count(".") == 1 and _layer(m) == len(LAYERS) - 1
                                                            and m not in LAYERS[-1][1]))
    assert not loose, (f"modules outside every layer: {loose}; move each into tasks/<layer>/ (see LAYERS and the "
                       "README's Development section)")


def test_io_has_only_rooms_and_no_folder_is_a_drawer() -> None:
    loose = sorted(p.name for p in (ROOT / "tasks" / "io").glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules directly in tasks/io/: {loose}; each goes into a room (sources, samples, outputs, runtime)"
    crowded = {str(d.relative_to(ROOT)): n for package in PACKAGES for d in (ROOT / package).rglob("*")
               if d.is_dir() and d.name != "__pycache__"
               and (n := len([p for p in d.glob("*.py") if p.name != "__init__.py"])) > MOST_MODULES}
    assert not crowded, f"folders above {MOST_MODULES} modules: {crowded}; split them into rooms that say what they hold"


def test_no_stage_imports_another_stage() -> None:
    across = [f"{a} -> {b}, line {line}" for a, b, _, line in _imports(_modules())
              if a.startswith("tasks.stages.") and b.startswith("tasks.stages.")]
    assert not across, ("stages importing stages: move what they share into tasks/io/ or tasks/science/ (a stage "
                        "drives its own tasks)\n" + "\n".join(across))


TILE_DRIVERS = {"annual_tile_layers", "write_trend_tile", "write_lpd_tile", "write_tile_layers"}
"""The public functions of the stages that are not tasks: each computes and writes one tile (a task calls it; a test
or the benchmark drives a tile through it without Prefect)."""


def test_every_public_function_of_a_stage_is_a_task_or_drives_one_tile() -> None:
    stray = []
    for name, path in _modules().items():
        if not name.startswith("tasks.stages."):
            continue
        for node in ast.parse(path.read_text()).body:
            if (isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.name not in TILE_DRIVERS
                    and not any(ast.unparse(d).startswith("task") for d in node.decorator_list)):
                stray.append(f"{name}.{node.name}, line {node.lineno}")
    assert not stray, ("public functions of stages that are neither a Prefect task nor a tile's driver: move them "
                       "to tasks/io/ (reading, writing) or tasks/science/ (the method)\n" + "\n".join(stray))


def test_the_cluster_is_one_module_of_the_flows() -> None:
    importers = sorted(name for name, path in _modules().items() if name.startswith("flows")
                       for node in ast.walk(ast.parse(path.read_text()))
                       if isinstance(node, (ast.Import, ast.ImportFrom))
                       and any(n.split(".")[0] == "distributed" for n in
                               ([node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names])))
    assert set(importers) <= {"flows.cluster"}, (f"flow modules importing distributed: {sorted(set(importers))}; start, "
                                                 "check and watch the cluster in flows/cluster.py")


def test_imports_point_down_the_layers() -> None:
    upward = [f"{a} ({LAYERS[_layer(a)][0]}) -> {b} ({LAYERS[_layer(b)][0]}), line {line}"
              for a, b, _, line in _imports(_modules()) if _layer(b) < _layer(a)]
    assert not upward, ("imports pointing up the layers (" + " > ".join(name for name, _ in LAYERS) + "): move the "
                        "shared piece down a layer\n" + "\n".join(upward))


def test_no_module_imports_itself_in_a_circle() -> None:
    modules = _modules()
    imports = _imports(modules)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for importer, imported, _, _ in imports:
        edges[importer].add(imported)
    cycles = _cycles(edges)
    detail = [f"{a} -> {b} (line {line}{', inside a function' if inner else ''})"
              for cycle in cycles for a, b, inner, line in imports if a in cycle and b in cycle]
    assert not cycles, f"import circles: {cycles}\n" + "\n".join(detail)


def test_no_import_of_a_project_module_inside_a_function() -> None:
    inner = [f"{a} -> {b} (line {line})" for a, b, inside, line in _imports(_modules()) if inside]
    assert not inner, ("project imports inside functions: import at the top of the module (move what causes a "
                       "circle down a layer instead of hiding it; the CLI loads a command's module by its line in "
                       "flows.cli._app.COMMANDS)\n" + "\n".join(inner))


def test_the_checks_see_a_circle_and_the_flows_only_look_down() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert not any(b.startswith("flows") for a, b, _, _ in _imports(_modules()) if a.startswith("tasks"))
    assert _layer("tasks.io.samples.sample_data") == 4 and _layer("tasks.io.sources.load") == 5 and _layer("tasks.io.runtime.plan") == 3 and _layer("tasks.io.outputs.catalog") == 2 and _layer("tasks.constants") == len(LAYERS) - 1 and _layer("tasks") == len(LAYERS) - 1
    assert _layer("tasks.config") == 7 and _layer("tasks.kernels.trend") == 9 and _layer("flows.cli.run") == 0 and _layer("flows.cli.run_stack") == 0


def test_modules_are_loaded_by_name_only_from_the_command_table() -> None:
    by_name = [f"{name}:{node.lineno}" for name, path in _modules().items()
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in ("import_module", "__import__")]
    assert [b.split(":")[0] for b in by_name] == ["flows.cli._app"], f"modules loaded by name: {by_name}"
