#!/usr/bin/env python
"""How the vocabulary fit and masked-LM pretraining scale with the corpus: time and peak memory at 1x, 4x, 16x.

    SCIKIT_LEARN_DATA=../shared/data/scikit_learn_data python scripts/scaling_benchmark.py --output_dir outputs/scaling

The corpora are 20 Newsgroups' bydate training posts (the split `pretrain` reads by default; never a test post)
repeated 1, 4 and 16 times, one post a line in a text file (the line breaks inside a post become spaces, which
cut words as they did); the last tenth of the posts (at most 200) are left out of them, as the validation file
every pretraining run reads. For each size, each measurement runs in a fresh process, so that its peak memory (the
child's own high-water mark, `VmHWM`, which it reports itself) is its own:

- the vocabulary fit, old path: the file read into a list, then scikit-learn's
  `TfidfVectorizer(max_features=vocab_size - 3, min_df=2).fit` (the vocabulary the package used to learn);
- the vocabulary fit, new path: `train_tokenizer` reading the file line by line;
- `pretrain` of the shipped `gru-mlm.json` recipe (or `--config_overrides`) for `--max_steps` steps on the file,
  in memory and with `--streaming` where this version of `pretrain` has it: wall time (the whole command:
  reading, the tokenizer fit, tokenizing, training), Trainer's steps per second, peak memory.

It prints a table and writes `results.json` (command, date, machine, package versions, every measurement and
the targets set for it: the streaming path's peak memory at the largest size within 1.3x of its peak at the
smallest, the fit's time growing no faster than the corpus, a streaming step no slower than an in-memory one)
and `scaling.png` (peak memory and time against corpus size). The corpora and the children's folders are
written under `--output_dir`/work and removed at the end (`--keep_work` keeps them).
"""

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing


# The children measure their own memory, so this module imports nothing heavy at the top: a fit's process
# holds only what the fit needs.

PACKAGES = ("torch", "transformers", "datasets", "tokenizers", "accelerate", "scikit-learn", "hf_seqmodels")
MEMORY_TARGET = 1.3  # the streaming path's peak at the largest size, at most this many times its peak at the smallest
QUICK = dict(sizes="1,2", posts=200, max_steps=5, vocab_size=2000,
             config_overrides="embedding_size=16,hidden_size=16,mlm_vocab_size=500")  # fmt: skip
# The children this script starts: `python scaling_benchmark.py FIT_COMMAND ...` fits one vocabulary,
# `... PRETRAIN_COMMAND ARGS` runs `hf-seqmodels pretrain ARGS`; each prints its peak memory last.
FIT_COMMAND, PRETRAIN_COMMAND = "_fit", "_pretrain"


# --------------------------------------------------------------------------- options


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    from hf_seqmodels.errors import UsageError

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,16", help="multiples of the training posts, comma-separated (1,4,16)")
    parser.add_argument("--max_steps", type=int, default=100, help="pretraining steps per run (100; 0: no pretraining)")
    parser.add_argument("--output_dir", default="outputs/scaling", help="where results.json and scaling.png go")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke check: sizes {QUICK['sizes']}, the first {QUICK['posts']} posts, "
                             f"{QUICK['max_steps']} steps of a tiny model")  # fmt: skip
    parser.add_argument("--posts", type=int, default=None, help="only the first N training posts (default: all)")
    parser.add_argument("--vocab_size", type=int, default=None, help="the vocabulary of both fits and of pretraining (the recipe's: 60000)")
    parser.add_argument("--config_overrides", default=None, help="passed to pretrain (default: the gru-mlm recipe as shipped)")
    parser.add_argument("--keep_work", action="store_true", help="keep the corpora and the children's folders")
    args = parser.parse_args(argv)
    args.argv = list(argv)  # what results.json records as the command
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) in (None, parser.get_default(name)):
                setattr(args, name, value)
    args.sizes = parse_sizes(args.sizes)
    if args.max_steps < 0:
        raise UsageError(f"--max_steps must be ≥ 0 (0: no pretraining), got {args.max_steps}")
    if args.posts is not None and args.posts < 1:
        raise UsageError(f"--posts must be ≥ 1, got {args.posts}")
    if args.vocab_size is None:
        args.vocab_size = 60000  # gru-mlm.json's
    if args.vocab_size < 4:
        raise UsageError(f"--vocab_size must be ≥ 4 ([PAD], [UNK], [MASK] and a word), got {args.vocab_size}")
    return args


def parse_sizes(text: str) -> list[int]:
    from hf_seqmodels.errors import UsageError

    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(size < 1 for size in sizes) or len(set(sizes)) != len(sizes):
        raise UsageError(f"--sizes must be distinct whole numbers ≥ 1, comma-separated (e.g. 1,4,16), got {text!r}")
    return sorted(sizes)


# --------------------------------------------------------------------------- corpora


# The validation posts, the same file for every run: the masked-LM loss `pretrain` ends with is not what is
# measured, and in memory or streamed it then reads the same validation and the same training text.
VALIDATION_POSTS = 200


def write_corpora(posts: list[str], sizes: list[int], folder: Path) -> tuple[list[dict], Path]:
    """The last tenth of `posts` (at most VALIDATION_POSTS) as the validation file; then one training file per
    size: the other posts repeated `size` times. One post a line."""
    lines = [" ".join(post.splitlines()) + "\n" for post in posts]
    held_out = min(VALIDATION_POSTS, max(1, len(lines) // 10))
    lines, validation_lines = lines[:-held_out], lines[-held_out:]
    validation = folder / "validation.txt"
    validation.write_text("".join(validation_lines), encoding="utf-8")
    corpora = []
    for size in sizes:
        path = folder / f"posts-{size}x.txt"
        with open(path, "w", encoding="utf-8") as file:
            for _ in range(size):
                file.writelines(lines)
        corpora.append({"size": size, "path": str(path), "posts": size * len(lines), "megabytes": path.stat().st_size / 2**20})
    return corpora, validation


def training_posts(limit: int | None) -> list[str]:
    """The bydate training split's posts (validation carved out as `pretrain` carves it; the test split unread)."""
    from hf_seqmodels.data import load_newsgroups

    train = load_newsgroups()["train"]
    return list(train.select(range(min(limit, len(train))))["text"] if limit else train["text"])


# --------------------------------------------------------------------------- children


def own_peak_mib() -> float:
    """This process's peak resident memory in MiB. `VmHWM` rather than `ru_maxrss`: Linux carries the
    forking process's resident size into a child's `ru_maxrss` across exec, so a small child of this script
    would report at least this script's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; no /proc: no better figure


def run_child(arguments: list[str], env: dict | None = None) -> tuple[float, dict]:
    """Run this script as a child with `arguments` to its end: (wall seconds, the JSON it prints last). Its stderr
    (progress bars) goes to this process's."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, *arguments], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed (exit code {done.returncode})")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def fit_in_child(method: str, path: str, vocab_size: int) -> None:
    """One vocabulary fit in this (fresh) process; prints its seconds, the words learned and the memory."""
    if method == "old":
        from sklearn.feature_extraction.text import TfidfVectorizer
    else:
        from hf_seqmodels.tokenization import train_tokenizer
    imported = own_peak_mib()
    start = time.perf_counter()
    if method == "old":
        with open(path, encoding="utf-8", newline="\n") as file:
            texts = [line.removesuffix("\n") for line in file]
        words = len(TfidfVectorizer(max_features=vocab_size - 3, min_df=2).fit(texts).vocabulary_)
    else:
        with open(path, encoding="utf-8", newline="\n") as file:
            words = len(train_tokenizer((line.removesuffix("\n") for line in file), vocab_size=vocab_size)) - 3
    seconds = time.perf_counter() - start
    print(json.dumps({"fit_seconds": seconds, "words": words, "after_imports_mib": imported, "peak_mib": own_peak_mib()}))


def pretrain_in_child(arguments: list[str]) -> int:
    """`hf-seqmodels pretrain ARGUMENTS` in this (fresh) process; prints its peak memory last."""
    from hf_seqmodels.cli import main as command_line

    code = command_line(["pretrain", *arguments])
    print(json.dumps({"peak_mib": own_peak_mib()}))
    return code


def measure_fit(method: str, corpus: dict, vocab_size: int) -> dict:
    wall, child = run_child([FIT_COMMAND, method, corpus["path"], str(vocab_size)])
    return {"path": method, "size": corpus["size"], "fit_seconds": child["fit_seconds"], "wall_seconds": wall,
            "peak_mib": child["peak_mib"], "after_imports_mib": child["after_imports_mib"], "words": child["words"]}  # fmt: skip


def pretrain_has_streaming() -> bool:
    """Whether this version of `pretrain` takes `--streaming` (being added beside this script)."""
    command = [sys.executable, "-m", "hf_seqmodels.cli", "pretrain", "--help"]
    shown = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    return shown.returncode == 0 and "--streaming" in shown.stdout


def measure_pretraining(streaming: bool, corpus: dict, validation: Path, args, work: Path) -> dict:
    mode = "streaming" if streaming else "in_memory"
    folder = work / f"pretrain-{mode}-{corpus['size']}x"
    cache = work / f"datasets-cache-{mode}-{corpus['size']}x"
    for old in (folder, cache):  # a run over a kept work folder starts afresh
        shutil.rmtree(old, ignore_errors=True)
    command = [
        PRETRAIN_COMMAND, "gru-mlm.json", "--train_file", corpus["path"], "--validation_file", str(validation),
        "--max_steps", str(args.max_steps), "--vocab_size", str(args.vocab_size), "--output_dir", str(folder),
        "--save_strategy", "no", "--report_to", "none",
    ]  # fmt: skip
    if args.config_overrides:
        command += ["--config_overrides", args.config_overrides]
    if streaming:
        command.append("--streaming")
    # A data-set cache of its own: no run reads another's Arrow files or tokenized examples.
    env = os.environ | {"HF_DATASETS_CACHE": str(cache), "PYTHONPATH": str(REPO_ROOT)}
    wall, child = run_child(command, env)
    peak = child["peak_mib"]
    summary = json.loads((folder / "pretraining_summary.json").read_text())
    steps = summary["global_step"]
    return {"mode": mode, "size": corpus["size"], "wall_seconds": wall, "peak_mib": peak, "steps": steps,
            "train_seconds": summary["train_runtime"], "steps_per_second": steps / summary["train_runtime"]}  # fmt: skip


# --------------------------------------------------------------------------- targets, table, plot


def targets(fits: list[dict], pretraining: list[dict]) -> list[dict]:
    """The three targets set for the benchmark, each with the value measured and whether it is met (None: not measured)."""

    def rows(entries, key, value):
        return sorted((entry for entry in entries if entry[key] == value), key=lambda entry: entry["size"])

    new_fits, streamed, in_memory = rows(fits, "path", "new"), rows(pretraining, "mode", "streaming"), rows(pretraining, "mode", "in_memory")
    found = []
    for name, entries in (("train_tokenizer", new_fits), ("pretrain --streaming", streamed)):
        ratio = entries[-1]["peak_mib"] / entries[0]["peak_mib"] if len(entries) > 1 else None
        found.append({"target": f"{name}: peak memory at the largest size within {MEMORY_TARGET}x of the smallest's",
                      "value": ratio, "limit": MEMORY_TARGET, "met": None if ratio is None else ratio <= MEMORY_TARGET})  # fmt: skip
    # Time per unit of corpus at each size over the smallest's: 1.0 is linear growth, above it faster than linear.
    growth = max((entry["fit_seconds"] / entry["size"]) / (new_fits[0]["fit_seconds"] / new_fits[0]["size"]) for entry in new_fits[1:]) if len(new_fits) > 1 else None
    found.append({"target": "train_tokenizer: fit time grows no faster than the corpus (time per copy over the smallest size's)",
                  "value": growth, "limit": 1.0, "met": None if growth is None else growth <= 1.0})  # fmt: skip
    pairs = [(s["steps_per_second"] / m["steps_per_second"]) for s in streamed for m in in_memory if s["size"] == m["size"]]
    slowest = min(pairs) if pairs else None
    found.append({"target": "pretrain: a streaming step no slower than an in-memory one (steps/s streaming over in memory, the lowest size's ratio)",
                  "value": slowest, "limit": 1.0, "met": None if slowest is None else slowest >= 1.0})  # fmt: skip
    return found


def table(fits: list[dict], pretraining: list[dict], found: list[dict]) -> str:
    lines = ["| measurement | size | time (s) | peak memory (MiB) | of it, after imports (MiB) | steps/s |", "| --- | --- | --- | --- | --- | --- |"]
    for entry in fits:
        name = "vocabulary: list + TfidfVectorizer" if entry["path"] == "old" else "vocabulary: train_tokenizer, line by line"
        lines.append(f"| {name} | {entry['size']}x | {entry['fit_seconds']:.2f} | {entry['peak_mib']:.0f} | {entry['after_imports_mib']:.0f} | |")
    for entry in pretraining:
        lines.append(f"| pretrain, {entry['mode'].replace('_', ' ')} | {entry['size']}x | {entry['wall_seconds']:.1f} "
                     f"| {entry['peak_mib']:.0f} | | {entry['steps_per_second']:.2f} |")  # fmt: skip
    lines += ["", "| target | value | limit | met |", "| --- | --- | --- | --- |"]
    for target in found:
        value = "not measured" if target["value"] is None else f"{target['value']:.3f}"
        lines.append(f"| {target['target']} | {value} | {target['limit']} | {target['met']} |")
    return "\n".join(lines)


def plot(fits: list[dict], pretraining: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [(f"vocabulary: {'list + TfidfVectorizer' if entry_path == 'old' else 'train_tokenizer'}", [e for e in fits if e["path"] == entry_path], "fit_seconds")
              for entry_path in ("old", "new")]  # fmt: skip
    series += [(f"pretrain, {mode.replace('_', ' ')}", [e for e in pretraining if e["mode"] == mode], "wall_seconds")
               for mode in ("in_memory", "streaming")]  # fmt: skip
    figure, (memory_axis, time_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, entries, time_key in series:
        if not entries:
            continue
        sizes = [entry["size"] for entry in entries]
        memory_axis.plot(sizes, [entry["peak_mib"] for entry in entries], marker="o", label=label)
        time_axis.plot(sizes, [entry[time_key] for entry in entries], marker="o", label=label)
    sizes = sorted({entry["size"] for entry in fits + pretraining})
    time_axis.set_yscale("log")  # a fit takes seconds, a pretraining run minutes
    for axis, title in ((memory_axis, "peak memory (MiB)"), (time_axis, "time (s): the fit, or the whole pretrain command")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sizes, [f"{size}x" for size in sizes])
        axis.set_xlabel("corpus: copies of the training posts")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    memory_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def count_lines(path: Path) -> int:
    with open(path, encoding="utf-8", newline="\n") as file:
        return sum(1 for _ in file)


def versions() -> dict:
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


# --------------------------------------------------------------------------- main


def run(args) -> dict:
    from hf_seqmodels import machine

    output_dir = Path(args.output_dir)
    work = output_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    corpora, validation = write_corpora(training_posts(args.posts), args.sizes, work)
    fits, pretraining = [], []
    for corpus in corpora:
        for method in ("old", "new"):
            print(f"vocabulary fit, {method} path, {corpus['size']}x ({corpus['posts']:,} posts)", file=sys.stderr)
            fits.append(measure_fit(method, corpus, args.vocab_size))
    streaming = None
    if args.max_steps > 0:
        streaming = pretrain_has_streaming()
        if not streaming:
            print("pretrain has no --streaming here: only the in-memory runs are measured", file=sys.stderr)
        for corpus in corpora:
            for mode in (False, True) if streaming else (False,):
                print(f"pretrain {'--streaming ' if mode else ''}{args.max_steps} steps, {corpus['size']}x", file=sys.stderr)
                pretraining.append(measure_pretraining(mode, corpus, validation, args, work))
    found = targets(fits, pretraining)
    result = {
        "command": ["scripts/scaling_benchmark.py", *args.argv],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine.describe() | {"load_average": machine.load_average()},
        "versions": versions(),
        "settings": {"sizes": args.sizes, "posts": corpora[0]["posts"], "validation_posts": count_lines(validation),
                     "vocab_size": args.vocab_size,
                     "max_steps": args.max_steps, "recipe": "gru-mlm.json", "config_overrides": args.config_overrides,
                     "pretrain_streaming_available": streaming},  # fmt: skip
        "corpora": [{key: value for key, value in corpus.items() if key != "path"} for corpus in corpora],
        "vocabulary_fits": fits,
        "pretraining": pretraining,
        "targets": found,
    }
    (output_dir / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(fits, pretraining, output_dir / "scaling.png")
    print(table(fits, pretraining, found))
    if not args.keep_work:
        shutil.rmtree(work)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [FIT_COMMAND]:
        fit_in_child(argv[1], argv[2], int(argv[3]))
        return 0
    if argv[:1] == [PRETRAIN_COMMAND]:
        return pretrain_in_child(argv[1:])
    from hf_seqmodels.errors import UsageError

    try:
        run(parse_arguments(argv))
    except UsageError as error:
        print(f"{Path(__file__).name}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
