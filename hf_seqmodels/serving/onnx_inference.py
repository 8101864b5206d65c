"""Label texts with a folder written by `hf-seqmodels export`, through ONNX Runtime and without torch.

This file imports the standard library, numpy, onnxruntime and tokenizers, and nothing from
`hf_seqmodels`: importing the package imports torch and transformers (it registers the Auto
classes), which a serving machine need not have. `export` therefore copies this file into the
exported folder as `predict.py`, so that in an environment holding only those three packages

    python OUT/predict.py "some text" ["another" ...] [--file texts.txt] [--json]

prints what `hf-seqmodels predict OUT ...` prints, which runs this same code from the package.

What `model.onnx` takes (see `hf_seqmodels/serving/export.py`): int64 `input_ids` and `attention_mask` of
shape (batch, sequence), padded on the right, at least one column wide; it returns `logits`
(batch, num_labels). The tokenizer is read from `tokenizer.json` with the `tokenizers` library,
truncating to `model_max_length` and padding as `PreTrainedTokenizerFast` does for the PyTorch folder.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

ONNX_FILE = "model.onnx"
INPUT_NAMES = ["input_ids", "attention_mask"]
# transformers' "no limit" model_max_length (int(1e30)) when a tokenizer was saved without one.
NO_LENGTH_LIMIT = int(1e30)


class ExportedModelError(ValueError):
    """A missing or damaged file of an exported folder, or a text the model cannot take; one line."""


class ExportedClassifier:
    """An exported folder, loaded: `logits(texts)` and `predict(texts)`.

    `threads` sets ONNX Runtime's intra-op threads (default: its own choice, one per core).
    """

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        self.folder = Path(model_dir)
        if not self.folder.is_dir():
            raise ExportedModelError(f"{str(self.folder)!r}: no such folder")
        config = read_json(self.folder / "config.json")
        self.id2label = {int(index): label for index, label in config.get("id2label", {}).items()}
        # Only the Transformer has a position limit; the recurrent models read any length.
        self.max_positions = config.get("max_position_embeddings")
        self.tokenizer = load_tokenizer(self.folder)
        self.session = load_session(self.folder / ONNX_FILE, threads)
        num_logits = self.session.get_outputs()[0].shape[-1]
        if num_logits != len(self.id2label):
            raise ExportedModelError(
                f"{str(self.folder / 'config.json')!r} names {len(self.id2label)} labels, but {ONNX_FILE} "
                f"returns {num_logits} logits: the files come from different models"
            )

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """`input_ids` / `attention_mask` (B, T) for `texts`, right-padded and at least one column wide."""
        encodings = self.tokenizer.encode_batch([clean_text(text) for text in texts])
        input_ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64).reshape(len(texts), -1)
        attention_mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        attention_mask = attention_mask.reshape(input_ids.shape)
        if self.max_positions is not None and input_ids.shape[1] > self.max_positions:
            # The PyTorch folder refuses such a batch too (its tokenizer allows more than the model reads).
            raise ExportedModelError(
                f"a text of {input_ids.shape[1]} tokens is longer than max_position_embeddings="
                f"{self.max_positions} in {str(self.folder / 'config.json')!r}; set model_max_length in "
                f"tokenizer_config.json to at most {self.max_positions}"
            )
        if input_ids.shape[1] == 0:
            # Every text is empty. The recurrent graphs cannot run zero steps; one padding step is what the
            # PyTorch model does itself in this case, and gives the same logits for every architecture.
            pad_id = self.tokenizer.padding["pad_id"]
            input_ids = np.full((len(texts), 1), pad_id, dtype=np.int64)
            attention_mask = np.zeros((len(texts), 1), dtype=np.int64)
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def logits(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), num_labels) float32 logits, computed `batch_size` texts at a time."""
        batches = [texts[start : start + batch_size] for start in range(0, len(texts), batch_size)]
        outputs = [self.session.run(["logits"], self.encode(batch))[0] for batch in batches]
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.id2label)), dtype=np.float32)

    def predict(self, texts: list[str], batch_size: int = 64) -> list[dict]:
        """`{"label", "score", "text"}` for each text: the most probable class and its probability."""
        probabilities = softmax(self.logits(texts, batch_size))
        indices = probabilities.argmax(axis=-1)
        return [
            {"label": self.id2label[int(index)], "score": float(row[index]), "text": text}
            for text, row, index in zip(texts, probabilities, indices)
        ]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def clean_text(text: str) -> str:
    """Lone surrogates replaced by U+FFFD, as `hf_seqmodels.validation.clean_text` does for the PyTorch
    folder (repeated here because this file must not import the package): `tokenizers` refuses them."""
    if not any("\ud800" <= char <= "\udfff" for char in text):
        return text
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)


# --------------------------------------------------------------------------- reading the folder


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportedModelError(f"{str(path)!r}: missing; not a folder written by `hf-seqmodels export`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportedModelError(f"{str(path)!r}: not readable JSON ({first_line(error)})") from None


def load_tokenizer(folder: Path) -> Tokenizer:
    """tokenizer.json, truncating and padding as `tokenizer(texts, truncation=True, padding=True)` does."""
    settings = read_json(folder / "tokenizer_config.json")
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ExportedModelError(f"{str(path)!r}: missing; not a folder written by `hf-seqmodels export`")
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception for a damaged file
        raise ExportedModelError(f"{str(path)!r}: not a readable tokenizer ({first_line(error)})") from None
    pad_token = settings.get("pad_token")
    pad_id = tokenizer.token_to_id(pad_token) if isinstance(pad_token, str) else None
    if pad_id is None:
        raise ExportedModelError(f"{str(folder / 'tokenizer_config.json')!r}: pad_token {pad_token!r} is not in the vocabulary")
    max_length = settings.get("model_max_length", NO_LENGTH_LIMIT)
    if isinstance(max_length, int) and max_length < NO_LENGTH_LIMIT:
        tokenizer.enable_truncation(max_length=max_length)
    # Always on the right, whatever padding_side says: the models give the same result either way
    # (they are exact on padding), and model.onnx was traced for right padding.
    tokenizer.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token)
    return tokenizer


def load_session(path: Path, threads: int | None) -> onnxruntime.InferenceSession:
    if not path.is_file():
        raise ExportedModelError(f"{str(path)!r}: missing; export a model with `hf-seqmodels export`")
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime's errors (InvalidProtobuf, Fail, ...) share no useful base class
        raise ExportedModelError(f"{str(path)!r}: damaged or not an ONNX model ({first_line(error)})") from None
    names = [node.name for node in session.get_inputs()]
    if names != INPUT_NAMES or [node.name for node in session.get_outputs()] != ["logits"]:
        raise ExportedModelError(
            f"{str(path)!r} takes inputs {names}, not {INPUT_NAMES} -> ['logits']: not written by `hf-seqmodels export`"
        )
    return session


# hf_seqmodels.utils.first_line, repeated: this file runs on its own, copied into exported folders as predict.py.
def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# --------------------------------------------------------------------------- the command line (as predict.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Label and score each text with the exported model in this folder (ONNX Runtime).",
    )
    parser.add_argument("texts", metavar="TEXT", nargs="*", help="texts to classify")
    parser.add_argument("--model_dir", default=str(Path(__file__).resolve().parent), help="default: this file's folder")
    parser.add_argument("--file", help="read texts from this file, one a line ('-': stdin)")
    parser.add_argument("--json", action="store_true", help="print one JSON object a line")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads (default: one per core)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be ≥ 1, got {args.batch_size}")
    try:
        texts = list(args.texts)
        if args.file is not None or not texts:
            texts += read_lines(args.file or "-")
        results = ExportedClassifier(args.model_dir, threads=args.threads).predict(texts, args.batch_size)
    except ExportedModelError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(json.dumps(result, ensure_ascii=False) if args.json else f"{result['label']}\t{result['score']:.4f}\t{result['text']}")
    return 0


def read_lines(path: str) -> list[str]:
    if path == "-":
        return [line.rstrip("\n") for line in sys.stdin]
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    except (OSError, UnicodeDecodeError) as error:
        raise ExportedModelError(f"--file {path!r}: {first_line(error)}") from None


if __name__ == "__main__":
    sys.exit(main())
