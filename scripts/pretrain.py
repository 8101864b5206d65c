#!/usr/bin/env python
"""Pretrain one of the four architectures as a masked language model, in the style of transformers' run_mlm.py.

    python scripts/pretrain.py hf_seqmodels/configs/gru-mlm.json
    python scripts/pretrain.py gru-mlm.json --num_train_epochs 1 --max_train_samples 500
    python scripts/pretrain.py --architecture lstm --train_file posts.txt --output_dir outputs/lstm-mlm
    python scripts/pretrain.py gru-mlm.json --line_by_line   # one example a post, cut to --max_length
    python scripts/pretrain.py --architecture gru --streaming --max_steps 20000 --train_file corpus.txt   # a stream
    python scripts/train.py gru.json --model_name_or_path outputs/gru-mlm   # then fine-tune it

The same as `hf-seqmodels pretrain ...`; `--help` lists every option.
"""

import sys
from pathlib import Path

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_seqmodels.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["pretrain", *sys.argv[1:]]))
