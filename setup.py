from pathlib import Path

from setuptools import find_packages, setup

ONNX = ["onnx>=1.16", "onnxruntime>=1.18"]
BENCH = ["keras>=3.15"]

setup(
    name="hf_seqmodels",
    version="0.1.0",
    description="RNN, LSTM, GRU and a small Transformer text classifier as Hugging Face transformers models",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["hf_seqmodels", "hf_seqmodels.*"]),
    package_data={"hf_seqmodels": ["configs/*.json"]},
    python_requires=">=3.10",
    # torch 2.6: the first with torch.accelerator. transformers 5.5.4: before 5.4 the configs cannot be
    # defined (StrictDataclassDefinitionError), and up to 5.5.3 Trainer divides the gradients twice under
    # gradient accumulation. .ci/run tests the models on this floor.
    install_requires=[
        "torch>=2.6",
        "transformers>=5.5.4,<6",
        "datasets>=3",
        "accelerate>=1.0",
        "evaluate>=0.4",
        "scikit-learn>=1.3",
        "tokenizers>=0.20",
        "safetensors>=0.4",
        "huggingface_hub>=1.0",
        "matplotlib>=3.7",
        "tqdm",
    ],
    # gensim only in the tests: they check that hf_seqmodels.vectors reads word-vector files as gensim does
    # (4.4 is the first release that works with numpy 2).
    # onnx: `hf-seqmodels export` and running exported folders (the TorchScript-based exporter needs no onnxscript).
    # bench: the Keras 3 peers of `hf-seqmodels benchmark --keras`, on Keras's torch backend (no TensorFlow);
    # 3.15 is the release their masking was checked with.
    # peft: the tests train LoRA adapters on the recurrent weights (`target_parameters`, peft 0.17 and later);
    # parameterized: transformers' own common model tests (tests/transformers_common) use it.
    extras_require={
        "onnx": ONNX,
        "bench": BENCH,
        "dev": ["pytest>=8", "hypothesis>=6", "gensim>=4.4", "peft>=0.17", "parameterized", *ONNX, *BENCH],
    },
    entry_points={"console_scripts": ["hf-seqmodels=hf_seqmodels.cli:main"]},
)
