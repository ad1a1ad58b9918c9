"""The import contract of ARCHITECTURE.md, read from its `layers` block and checked over the
import graph of src/genlab (every `import`, also those inside functions): commands → sweeps
→ runtime → callbacks / apps → models → metrics | data → nets → config (torch-free) →
errors, console, run_dir. Callbacks sit above the models because they use the models'
contract (genlab/models/generative.py). A module imports only from its own layer or from
layers below; there are no import cycles; at most six loose modules sit at the top of the
package. ARCHITECTURE.md's links must name files that exist, so the document cannot
describe a layout the code has left."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import genlab

PACKAGE = Path(genlab.__file__).parent
ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "ARCHITECTURE.md"


def read_layers(text: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """ARCHITECTURE.md's `layers` block → (layers top to bottom, groups of packages of one
    layer that must not import each other: those joined by `|`)."""
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "ARCHITECTURE.md has no ```layers block"
    layers, independent = [], []
    for line in block.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            layers.append(tuple(line.replace("|", " ").split()))
            if "|" in line:
                independent.append(tuple(p.strip() for p in line.split("|")))
    return layers, independent


# top to bottom; a module may import its own group and any group below
LAYERS, INDEPENDENT = read_layers(ARCHITECTURE.read_text())


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module → the genlab modules it imports (from-imports of names resolved to modules)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "conf" not in p.parts}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("genlab")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genlab"):
                for alias in node.names:  # `from genlab import run_dir` names a module
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
        graph[name] = {d for d in deps if d != name}
    return graph


def layer_of(module: str) -> int:
    best = max((len(p), i) for i, group in enumerate(LAYERS) for p in group
               if module == p or module.startswith(p + "."))
    return best[1]


def group_of(module: str) -> str:
    return next(p for group in LAYERS for p in sorted(group, key=len, reverse=True)
                if module == p or module.startswith(p + "."))


def test_no_module_imports_upward() -> None:
    upward = [f"{m} → {d}" for m, deps in import_graph().items() for d in deps
              if layer_of(d) < layer_of(m)]
    assert not upward, "imports against the layers of ARCHITECTURE.md:\n" + "\n".join(upward)


def test_packages_of_one_layer_are_independent() -> None:
    crossing = [f"{m} → {d}" for m, deps in import_graph().items() for d in deps
                for pair in INDEPENDENT if {group_of(m), group_of(d)} == set(pair)]
    assert not crossing, "\n".join(crossing)


def test_no_import_cycles() -> None:
    graph = import_graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep):], dep] if dep in path else [node, dep]
            if dep not in state and (cycle := visit(dep, [*path, dep])):
                return cycle
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module, [module])):
            raise AssertionError("import cycle: " + " → ".join(cycle))


def test_contract_covers_every_module_and_top_stays_small() -> None:
    for module in import_graph():
        layer_of(module)  # raises for a module outside every layer
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= 6, loose


def test_config_layer_imports_no_torch() -> None:
    code = ("import sys, genlab.config, genlab.config.schema, genlab.config.preflight, "
            "genlab.config.redaction, genlab.config.naming, genlab.config.instantiate, "
            "genlab.config.choices, genlab.config.moved, genlab.run_dir; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'lightning')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out


def test_layers_block_is_read_as_written() -> None:
    """Rules out a parser that drops a layer or the `|` rule (the contract would then check
    less than the document says)."""
    layers, independent = read_layers(
        "```layers\na.x a.y  # top\na.m | a.d\n\na.n\n```")
    assert layers == [("a.x", "a.y"), ("a.m", "a.d"), ("a.n",)]
    assert independent == [("a.m", "a.d")]
    assert len(LAYERS) >= 8 and ("genlab.metrics", "genlab.data") in INDEPENDENT


def test_architecture_names_real_paths() -> None:
    """Every relative link of ARCHITECTURE.md points at a file or folder that exists: a
    module moved or renamed without the document fails here."""
    links = re.findall(r"\]\(([^)#]+)\)", ARCHITECTURE.read_text())
    assert len(links) > 20, links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"ARCHITECTURE.md links to missing paths: {missing}"
