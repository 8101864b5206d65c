"""How the package is put together: importing it stays light, and its modules import one another one way only."""

import ast
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "hf_seqmodels"
HEAVY = ("transformers.trainer", "datasets", "sklearn", "matplotlib", "hf_seqmodels.benchmark", "hf_seqmodels.compare")


def modules_imported_by(code: str) -> list[str]:
    script = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return result.stdout.split()


@pytest.mark.slow
def test_importing_the_package_registers_the_models_and_loads_nothing_heavy():
    code = (
        "import hf_seqmodels\n"
        "from transformers import AutoConfig\n"
        "assert type(AutoConfig.for_model('seqmodels_gru')).__name__ == 'GRUConfig'"
    )
    assert modules_imported_by(code) == []


@pytest.mark.slow
def test_predict_loads_no_trainer_data_sets_benchmark_or_comparison():
    assert modules_imported_by("import hf_seqmodels.cli, hf_seqmodels.inference") == []


def test_public_names_are_still_found_on_the_package():
    import hf_seqmodels
    from hf_seqmodels import vectors
    from hf_seqmodels.training.jobs import train

    assert hf_seqmodels.train is train
    assert hf_seqmodels.initialize_embeddings is vectors.initialize_embeddings
    assert hf_seqmodels.WordVectorsError is vectors.WordVectorsError
    assert callable(hf_seqmodels.parse_args) and callable(hf_seqmodels.train_tokenizer)
    assert {"train", "parse_args", "load_newsgroups", "train_tokenizer", "ModelArguments"} <= set(dir(hf_seqmodels))


def import_graph() -> dict[str, set[str]]:
    """`hf_seqmodels.x.y` -> the package modules it imports (at any depth of its code; `TYPE_CHECKING` blocks aside)."""
    names = {
        ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }
    graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        type_checking = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
            for node in ast.walk(block)
        }
        edges = set()
        for node in ast.walk(tree):
            if id(node) in type_checking or not isinstance(node, ast.ImportFrom | ast.Import):
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                module = ".".join(part for part in (base, node.module) if part)
                # `from . import training` names a module; `from .training import UsageError` an attribute.
                targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in names else module for alias in node.names]
            edges |= {target for target in targets if target in names and target != name}
        graph[name] = edges
    return graph


def test_no_two_modules_of_the_package_import_each_other_even_through_others():
    graph = import_graph()
    assert "hf_seqmodels.training.errors" in graph["hf_seqmodels.training.building"]  # the graph is read at all

    def cycle_from(start, path):
        for target in graph[path[-1]]:
            if target == start:
                return path + [start]
            if target not in path and (found := cycle_from(start, path + [target])):
                return found
        return None

    cycles = [cycle for name in graph if (cycle := cycle_from(name, [name]))]
    assert cycles == []
