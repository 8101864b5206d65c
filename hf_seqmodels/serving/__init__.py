"""Serving: saved classifier folders at work, for prediction and for shipping. Part of the library: it imports
nothing of training, `datasets` or `Trainer`.

    loading.py         load_classifier(): a folder of this package or any transformers classifier, checked;
                       open_classifier(): any folder, exported ONNX ones included, behind one interface
    prediction.py      predict(): labels and scores of texts (`hf-seqmodels predict`); resolve_device()
    ensemble.py        predict_ensemble(): several folders as one, their probabilities averaged
    export.py          export(): a folder -> ONNX (`hf-seqmodels export`; needs the [onnx] extra)
    onnx_inference.py  an exported folder run by ONNX Runtime alone; copied into it as predict.py
"""

from .ensemble import predict_ensemble
from .loading import is_exported, load_classifier, open_classifier
from .prediction import predict, resolve_device

__all__ = ["is_exported", "load_classifier", "open_classifier", "predict", "predict_ensemble", "resolve_device"]
