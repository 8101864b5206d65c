"""How the package is put together: importing it stays light, and its modules import one another one way only."""

import ast
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

PACKAGE = REPO_ROOT / "hf_seqmodels"
HEAVY = ("transformers.trainer", "datasets", "sklearn", "matplotlib", "hf_seqmodels.benchmark", "hf_seqmodels.compare")
# The applications (README.md, "Layers"): the library below them imports none of these.
APPLICATIONS = ("hf_seqmodels.training", "hf_seqmodels.compare", "hf_seqmodels.benchmark", "hf_seqmodels.cli")


def modules_imported_by(code: str, watched: tuple[str, ...] = HEAVY) -> list[str]:
    """The modules of `watched` (or their submodules) that running `code` in a fresh process imports."""
    script = (
        f"import sys\n{code}\n"
        f"print(' '.join(m for m in {watched!r} if any(n == m or n.startswith(m + '.') for n in sys.modules)))"
    )
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
    assert modules_imported_by("import hf_seqmodels.cli, hf_seqmodels.serving.prediction") == []


@pytest.mark.slow
def test_predicting_serving_and_exporting_import_no_application_code():
    """A user who only predicts, serves or exports imports nothing of training, the comparison or the benchmark
    (nor Trainer, data sets, scikit-learn or matplotlib, which only those need)."""
    pytest.importorskip("onnx")
    code = (
        "import hf_seqmodels, hf_seqmodels.serving\n"
        "from hf_seqmodels.serving import ensemble, export, loading, onnx_inference, prediction\n"
        "from hf_seqmodels import predict, predict_ensemble, load_classifier, open_classifier"
    )
    assert modules_imported_by(code, APPLICATIONS + HEAVY) == []
    # The watch itself works: training is an application, and it does import Trainer.
    assert modules_imported_by("import hf_seqmodels.training", APPLICATIONS + HEAVY)[:1] == ["hf_seqmodels.training"]


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
    assert "hf_seqmodels.errors" in graph["hf_seqmodels.training.building"]  # the graph is read at all

    def cycle_from(start, path):
        for target in graph[path[-1]]:
            if target == start:
                return path + [start]
            if target not in path and (found := cycle_from(start, path + [target])):
                return found
        return None

    cycles = [cycle for name in graph if (cycle := cycle_from(name, [name]))]
    assert cycles == []


def is_application(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in APPLICATIONS)


def test_no_library_module_imports_an_application_module():
    """The library (models, tokenizer, data, metrics, options, errors, serving, ...) stands on its own: none of
    its modules imports training, the comparison, the benchmark or the command line, at any depth of its code."""
    graph = import_graph()
    library = [name for name in graph if not is_application(name)]
    assert {"hf_seqmodels.serving.loading", "hf_seqmodels.data", "hf_seqmodels.models"} <= set(library)
    assert "hf_seqmodels.serving.loading" in graph["hf_seqmodels.training.building"]  # applications do use it
    upward = {name: sorted(filter(is_application, graph[name])) for name in library}
    assert {name: targets for name, targets in upward.items() if targets} == {}
