"""scripts/scaling_benchmark.py on a tiny corpus: the corpora it writes (training posts only), every measurement
made in a process of its own, and the JSON, table and plot it leaves. No timing or memory figure is compared:
how they scale is the benchmark's finding, run on a quiet machine."""

import importlib.util
import json
import subprocess
import sys

import pytest

from helpers import REPO_ROOT
from hf_seqmodels import train_tokenizer
from hf_seqmodels.data import load_newsgroups

SCRIPT = REPO_ROOT / "scripts" / "scaling_benchmark.py"


@pytest.fixture(scope="module")
def scaling_benchmark():
    spec = importlib.util.spec_from_file_location("scaling_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flattened(post: str) -> str:
    return " ".join(post.splitlines())


def test_both_vocabulary_fits_are_measured_at_every_size_on_training_posts_only(scaling_benchmark, newsgroups_home, tmp_path, capsys):
    options = ["--sizes", "1,2", "--posts", "20", "--vocab_size", "500", "--max_steps", "0", "--keep_work", "--output_dir", str(tmp_path)]
    result = scaling_benchmark.run(scaling_benchmark.parse_arguments(options))

    # The corpora: the first training posts, one a line, repeated, the last two of them the validation file;
    # no test post among them.
    splits = load_newsgroups()
    posts = list(splits["train"]["text"][:18])
    lines = {name: (tmp_path / "work" / name).read_text(encoding="utf-8").split("\n")[:-1] for name in ("posts-2x.txt", "validation.txt")}
    assert lines["posts-2x.txt"] == [flattened(post) for post in posts] * 2
    assert lines["validation.txt"] == [flattened(post) for post in splits["train"]["text"][18:20]]
    assert not {flattened(post) for post in splits["test"]["text"]} & (set(lines["posts-2x.txt"]) | set(lines["validation.txt"]))
    assert [(corpus["size"], corpus["posts"]) for corpus in result["corpora"]] == [(1, 18), (2, 36)]
    assert result["settings"]["validation_posts"] == 2

    assert json.loads((tmp_path / "results.json").read_text()) == result
    assert result["command"] == ["scripts/scaling_benchmark.py", *options] and result["date"]
    assert {"processor", "cpu_cores", "torch_threads"} <= set(result["machine"])
    assert all(result["versions"][package] for package in ("torch", "transformers", "datasets", "tokenizers", "scikit-learn"))
    fits = result["vocabulary_fits"]
    assert [(fit["path"], fit["size"]) for fit in fits] == [("old", 1), ("new", 1), ("old", 2), ("new", 2)]
    for fit in fits:
        assert fit["fit_seconds"] > 0 and fit["wall_seconds"] > fit["fit_seconds"], fit
        assert fit["peak_mib"] >= fit["after_imports_mib"] > 0, fit
    # The new path's children learned what train_tokenizer learns here from the same posts.
    for fit in fits[1::2]:
        assert fit["words"] == len(train_tokenizer(posts * fit["size"], vocab_size=500)) - 3
    assert result["pretraining"] == [] and result["settings"]["pretrain_streaming_available"] is None

    targets = {target["target"].split(":")[0] + ("/time" if "time" in target["target"] else ""): target for target in result["targets"]}
    assert len(result["targets"]) == 4
    for measured in ("train_tokenizer", "train_tokenizer/time"):
        assert targets[measured]["value"] > 0 and isinstance(targets[measured]["met"], bool)
    assert all(target["value"] is None and target["met"] is None for name, target in targets.items() if name.startswith("pretrain"))
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = capsys.readouterr().out
    assert table.count("| vocabulary: ") == 4 and "| not measured |" in table


@pytest.mark.parametrize(
    ("options", "named"),
    [(["--sizes", "1,0"], "--sizes"), (["--sizes", "1,x"], "--sizes"), (["--sizes", "2,2"], "--sizes"),
     (["--max_steps", "-1"], "--max_steps"), (["--posts", "0"], "--posts")],
)  # fmt: skip
def test_bad_options_are_refused_in_one_line(scaling_benchmark, options, named, capsys, tmp_path):
    assert scaling_benchmark.main([*options, "--output_dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("scaling_benchmark.py: error: " + named) and error.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # pretrains four times (twice with --streaming where pretrain has it)
def test_pretraining_is_measured_in_memory_and_streamed(newsgroups_home, tmp_path):
    command = [sys.executable, str(SCRIPT), "--quick", "--posts", "40", "--max_steps", "2", "--output_dir", str(tmp_path)]
    subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    result = json.loads((tmp_path / "results.json").read_text())
    modes = ["in_memory", "streaming"] if result["settings"]["pretrain_streaming_available"] else ["in_memory"]
    assert [(run["mode"], run["size"]) for run in result["pretraining"]] == [(mode, size) for size in (1, 2) for mode in modes]
    for run in result["pretraining"]:
        assert run["steps"] == 2 and run["steps_per_second"] > 0 and run["wall_seconds"] > run["train_seconds"] > 0, run
        assert run["peak_mib"] > 0
    assert not (tmp_path / "work").exists()  # the corpora and the children's folders are removed
