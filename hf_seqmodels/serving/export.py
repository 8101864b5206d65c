"""`export()`: a saved classifier folder -> a folder to ship, run by ONNX Runtime without torch.

    OUT/model.onnx             inputs input_ids, attention_mask (batch, sequence) int64 -> logits (batch, num_labels)
    OUT/config.json            labels and sizes, as in the PyTorch folder
    OUT/tokenizer.json, tokenizer_config.json
    OUT/predict.py             `hf_seqmodels/serving/onnx_inference.py`: `python OUT/predict.py TEXT ...`
    OUT/data_args.json         the training data's description, when MODEL_DIR has one (for `evaluate OUT`)

Which exporter. torch's TorchScript-based exporter (`dynamo=False`) exports all four architectures
to the same precision (≤ 1e-7 here) in a few seconds; the `torch.export`-based one takes ~5x longer
for the Transformer, with an equally fast graph. Tracing records one branch of each Python `if`: the
models take, while traced, the branch that is right for every batch (the recurrent models reorder
each row's real tokens first, left-padded or not), and the token-id range check becomes a constant, so
`onnx_inference` feeds the graph batches at least one column wide with the tokenizer's own ids. Every
export is checked against PyTorch, on a batch of another size and width with an empty text and a
left-padded row, before it is written.

Opsets 14-20: 14 is the first with the Transformer's attention and cumulative sum (the recurrent
models need 9), 20 the last the TorchScript exporter writes.
"""

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from . import onnx_inference
from .loading import load_classifier

SUPPORTED_OPSETS = range(14, 21)
# 17 brings LayerNormalization as one op and runs on ONNX Runtime ≥ 1.14.
DEFAULT_OPSET = 17
QUANTIZATIONS = ("int8",)
# How far the exported logits may be from PyTorch's before the export is refused.
TOLERANCE = 1e-4


class LogitsOnly(nn.Module):
    """The classifier's forward as ONNX sees it: two tensors in, the logits out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export(model_dir: str, output_dir: str, quantize: str | None = None, opset: int | None = None) -> Path:
    """Write `model.onnx` (fp32, or int8 with `quantize="int8"`), the config and the tokenizer to `output_dir`.

    `output_dir` must not exist or be empty; the folder is assembled beside it and moved into place
    only when complete, so a failed export leaves nothing behind.
    """
    opset = DEFAULT_OPSET if opset is None else opset
    if opset not in SUPPORTED_OPSETS:
        raise UsageError(f"--opset {opset} is not supported; choose {SUPPORTED_OPSETS[0]} to {SUPPORTED_OPSETS[-1]}")
    if quantize not in (None, *QUANTIZATIONS):
        raise UsageError(f"--quantize {quantize!r} is not supported; choose one of {list(QUANTIZATIONS)}")
    output = Path(output_dir)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"--output_dir {output_dir!r} exists and is not empty; choose a new folder or remove it")
    tokenizer, model = load_classifier(model_dir)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        onnx_path = staging / onnx_inference.ONNX_FILE
        export_onnx(model, onnx_path, opset, pad_token_id=tokenizer.pad_token_id)
        check_export(model, onnx_path)
        if quantize == "int8":
            quantize_int8(onnx_path)
        model.config.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.copyfile(onnx_inference.__file__, staging / "predict.py")
        # What `train` wrote about its data, so that `hf-seqmodels evaluate OUT` scores on the same data.
        if Path(model_dir, "data_args.json").is_file():
            shutil.copyfile(Path(model_dir, "data_args.json"), staging / "data_args.json")
        if output.exists():
            output.rmdir()  # empty, checked above
        os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def export_onnx(model: nn.Module, path: Path, opset: int, pad_token_id: int | None) -> None:
    """Trace `model` on a right-padded batch of two and write it with dynamic batch and sequence axes."""
    vocab_size = model.config.vocab_size
    pad = pad_token_id or 0
    width = min(4, getattr(model.config, "max_position_embeddings", 4))
    lengths = torch.tensor([width, max(width - 2, 1)])
    attention_mask = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()  # (2, width)
    tokens = (pad + 1 + torch.arange(2 * width).view(2, width)) % vocab_size
    input_ids = torch.where(attention_mask.bool(), tokens, torch.full_like(tokens, pad))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}}
    with warnings.catch_warnings():
        # The exporter's deprecation notice and the tracer's warnings about the checks that become
        # constants (see the module's docstring); check_export verifies the graph instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LogitsOnly(model).eval(),
            (input_ids, attention_mask),
            str(path),
            input_names=onnx_inference.INPUT_NAMES,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def check_export(model: nn.Module, path: Path) -> None:
    """Refuse an export whose logits differ from PyTorch's, on a batch unlike the traced one."""
    width = min(7, getattr(model.config, "max_position_embeddings", 7))
    lengths = torch.tensor([width, 3, 0, 3]).clamp(max=width)  # includes an empty text
    attention_mask = (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()
    attention_mask[-1] = attention_mask[-1].flip(0)  # and a left-padded row
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, model.config.vocab_size, attention_mask.shape, generator=generator) * attention_mask
    with torch.inference_mode():
        expected = model(input_ids=input_ids, attention_mask=attention_mask).logits.float().numpy()
    session = onnx_inference.load_session(path, threads=1)
    got = session.run(["logits"], {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})[0]
    difference = float(np.abs(got - expected).max())
    if not difference <= TOLERANCE:
        raise RuntimeError(f"the exported model's logits differ from PyTorch's by {difference:.2e} (> {TOLERANCE})")


def quantize_int8(path: Path) -> None:
    """Replace `path` by ONNX Runtime's dynamic int8 quantization of it: int8 weights for every Linear
    layer (MatMulInteger), the embedding table (Gather) and the LSTM op, activations quantized on the fly.
    The GRU and RNN ops and the attention's activation-by-activation MatMuls stay fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # Shape inference and graph clean-up first, as ONNX Runtime's quantization guide asks.
    prepared, quantized = path.with_name("model.prepared.onnx"), path.with_name("model.int8.onnx")
    quant_pre_process(str(path), str(prepared))
    quantize_dynamic(prepared, quantized, weight_type=QuantType.QInt8)
    prepared.unlink()
    os.replace(quantized, path)
