"""Fixtures and test settings; the helpers several test files share are in helpers.py."""

import copy
import gc
import os

# Nothing in the tests may reach the Hub; set before transformers and datasets read it on import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One thread for torch, NumPy and SciPy (OpenMP, MKL, OpenBLAS), set before any of them loads; the processes the
# tests start inherit it, so they compute as the tests' own process does. The models and data here are tiny: a
# second thread has next to nothing to share, and with OpenMP's and OpenBLAS's busy-waiting two threads on a machine
# where another job holds a core wait for each other at every parallel region. Measured on the 2-core machine with
# other jobs running: a tiny GRU's training step 10 ms with one thread, 250 to 450 ms with two; the TF-IDF teacher's
# out-of-fold fits (test_distillation.py) 1.4 s instead of 34 s. hf_seqmodels/machine.py's idle_core_threads, which
# the benchmark uses, is there for the same reason.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from helpers import ARCHITECTURES, SHARED_SKLEARN_DATA  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains several models or starts processes; deselect with -m 'not slow'")


@pytest.fixture(scope="module", autouse=True)
def alive_objects_frozen():
    """Trainer.train begins with a full garbage collection (accelerate's free_memory), which walks every object
    alive: with torch, transformers, datasets and the test modules imported, about 0.3 s a run, over fifty runs in
    the fast subset. At the start of each module, once the garbage is collected, what is left (modules, classes,
    session fixtures) lives on; frozen, the collector no longer walks it."""
    gc.collect()
    gc.freeze()


@pytest.fixture(params=ARCHITECTURES)
def architecture(request):
    return request.param


@pytest.fixture(scope="session")
def newsgroups_home():
    """The offline copy of 20 Newsgroups, which the package reads through scikit-learn's fetch_20newsgroups. That
    decompresses and unpickles the whole corpus at every call (0.3 s; 1 s more when headers, footers and quotes are
    removed), and a `train` on 20 Newsgroups calls it twice: here each distinct call is answered once a session,
    then from a copy of the first answer."""
    if not SHARED_SKLEARN_DATA.exists():
        pytest.skip(f"offline 20 Newsgroups copy not found at {SHARED_SKLEARN_DATA}")
    os.environ["SCIKIT_LEARN_DATA"] = str(SHARED_SKLEARN_DATA)
    import hf_seqmodels.data
    from sklearn.datasets import get_data_home

    fetch = hf_seqmodels.data.fetch_20newsgroups
    answers = {}

    def fetch_once(*args, **options):
        # Keyed on every argument and on the folder read (SCIKIT_LEARN_DATA at the time of the call).
        key = (get_data_home(options.get("data_home")), repr(args), repr(sorted(options.items())))
        if key not in answers:
            answers[key] = fetch(*args, **options)
        return copy.deepcopy(answers[key])  # a caller that changes its answer changes no other's

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hf_seqmodels.data, "fetch_20newsgroups", fetch_once)
        yield SHARED_SKLEARN_DATA
