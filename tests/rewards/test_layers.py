"""The rewards modules stand on each other in one direction: no import circle, and the
domain modules import none of the app's interfaces (tasks, API, console)."""

import ast
from pathlib import Path

import sarafan.rewards

PACKAGE = "sarafan.rewards"
ROOT = Path(sarafan.rewards.__file__).parent
INTERFACES = ("tasks", "admin", "api", "console")


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] == "migrations":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The rewards modules that `name` imports, at the top or inside functions."""
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif (node.module or "").startswith(PACKAGE + "."):
                module = (node.module or "").removeprefix(PACKAGE + ".")
            else:
                continue
            for alias in node.names:
                child = f"{module}.{alias.name}" if module else alias.name
                found.add(child if child in known else module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name.removeprefix(PACKAGE + "."))
    return {module for module in found if module in known and module != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_rewards_modules_have_no_import_circle():
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import circle: " + " -> ".join([*trail, name]))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_rewards_domain_modules_import_no_interface():
    for name, imported in _graph().items():
        if name.split(".")[0] in INTERFACES:
            continue
        back = sorted(m for m in imported if m.split(".")[0] in INTERFACES)
        assert not back, f"{name} imports {back}"
