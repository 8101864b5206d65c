#!/usr/bin/env python
"""Training and inference speed of the four architectures beside textbook PyTorch and BERT.

    python scripts/benchmark.py --quick                # about a minute: prints the table, writes JSON
    python scripts/benchmark.py --scaling              # the full run in scripts/results/benchmark/README.md
    python scripts/benchmark.py --threads 1            # one core (steadier on a shared machine)
    python scripts/benchmark.py --quick --deploy       # + each model exported to ONNX (fp32, int8) vs eager PyTorch
    python scripts/benchmark.py --quick --keras        # + the Keras 3 peers (pip install hf_seqmodels[bench])

The same as `hf-seqmodels benchmark`; see hf_seqmodels/benchmark/.
"""

import sys
from pathlib import Path

# Run from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_seqmodels.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
