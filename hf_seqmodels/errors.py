"""`UsageError`, the one kind of error the command line reports as a single line with exit code 2, and
the translation of what loading a broken, foreign or missing folder raises into one."""

import os
from contextlib import contextmanager

from huggingface_hub.errors import StrictDataclassError
from safetensors import SafetensorError

from .utils import first_line, one_line


class UsageError(ValueError):
    """A mistake in the user's arguments; the command line reports it in one line with exit code 2."""


@contextmanager
def loading_errors(option: str, path: str):
    """Turn what a broken, foreign or missing folder raises while loading into one `UsageError` naming it."""
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
        raise UsageError(f"{option} {path!r}: not a saved model folder (it has no config.json)")
    try:
        yield
    except UsageError:
        raise
    except SafetensorError as error:
        raise UsageError(f"{option} {path!r}: model.safetensors is corrupt or truncated ({first_line(error)})") from error
    except StrictDataclassError as error:  # a config.json field of the wrong type; the message names it
        raise UsageError(f"{option} {path!r}: config.json is invalid: {one_line(error)}") from error
    except (OSError, ValueError) as error:  # no such folder or repo, no weights, unreadable JSON, unknown type
        raise UsageError(f"{option} {path!r}: not a saved model folder or Hub repo ({first_line(error)})") from error
