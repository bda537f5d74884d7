"""The modules a source file imports, read from its import statements (not by importing
it): the layering tests' one resolver (tests/test_layering.py, tests/test_import_cost.py)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path):
    """Absolute names of the modules ``path`` (a file below the repository root) imports,
    relative imports resolved against its package."""
    package = list(Path(path).resolve().relative_to(ROOT).parent.parts)
    names = []
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            names.append('.'.join(base + ([node.module] if node.module else [])))
    return names
