"""Import layering of a package, from its source (AST): which module imports which, cycles, upward imports."""

from __future__ import annotations

import ast
from pathlib import Path


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(root: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports (at any depth of the file: function-level imports count)."""
    modules = {module_name(root, p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in modules]
                candidates = submodules or [target]  # `from . import x` imports module x, not the package
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            found |= {c for c in candidates if c in modules and c != name}
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk (each reported once, from where it was entered)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def upward(graph: dict[str, set[str]], layers: list[set[str]], package: str) -> list[str]:
    """Imports from a module to one in a higher layer. A module's layer is that of its first name under the
    package (`io.images` -> `io`)."""
    rank = {name: i for i, names in enumerate(layers) for name in names}

    def layer(module: str) -> int:
        short = module[len(package) + 1:].split(".")[0] if module != package else "__init__"
        if short not in rank:
            raise AssertionError(f"{module} is in no layer: add it to the layer table")
        return rank[short]

    return [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
            for a, targets in sorted(graph.items()) for b in sorted(targets) if layer(b) > layer(a)]
