"""Fixtures and test settings; the helpers several test files share are in helpers.py."""

import os

# Nothing in the tests may reach the Hub; set before transformers and datasets read it on import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from helpers import ARCHITECTURES, SHARED_SKLEARN_DATA  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains several models or starts processes; deselect with -m 'not slow'")


@pytest.fixture(params=ARCHITECTURES)
def architecture(request):
    return request.param


@pytest.fixture(scope="session")
def newsgroups_home():
    if not SHARED_SKLEARN_DATA.exists():
        pytest.skip(f"offline 20 Newsgroups copy not found at {SHARED_SKLEARN_DATA}")
    os.environ["SCIKIT_LEARN_DATA"] = str(SHARED_SKLEARN_DATA)
    return SHARED_SKLEARN_DATA
