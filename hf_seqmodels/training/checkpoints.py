"""Checkpoints: which one `--resume_from_checkpoint` means, and whether a folder is complete enough to resume.

Trainer writes a checkpoint file by file, in place: a run killed while saving leaves a half-written folder.
"""

import json
import logging
import os
import zipfile
from pathlib import Path

from safetensors import SafetensorError, safe_open
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..errors import UsageError
from ..utils import first_line

logger = logging.getLogger(__name__)


def resolve_checkpoint(training_args) -> str | None:
    """`--resume_from_checkpoint` as a folder: a path as given, or `last` / `true` for the newest in output_dir."""
    value = training_args.resume_from_checkpoint
    if value is None or value.lower() in ("false", "no", ""):
        return None
    if value.lower() in ("last", "true", "yes"):
        folder = training_args.output_dir
        checkpoints = sorted(
            (path for path in Path(folder).glob(f"{PREFIX_CHECKPOINT_DIR}-*") if _checkpoint_number(path) is not None),
            key=_checkpoint_number,
            reverse=True,
        ) if os.path.isdir(folder) else []
        if not checkpoints:
            raise UsageError(f"--resume_from_checkpoint {value}: no checkpoint-* folder in {folder!r}")
        # Trainer writes a checkpoint file by file, in place: a run killed while saving leaves the
        # newest folder half written. Resume from the newest complete one instead.
        for checkpoint in checkpoints:
            problem = checkpoint_problem(checkpoint)
            if problem is None:
                return str(checkpoint)
            logger.warning("skipping incomplete checkpoint %s: %s", checkpoint, problem)
        raise UsageError(f"--resume_from_checkpoint {value}: no complete checkpoint in {folder!r} ({problem})")
    if (problem := checkpoint_problem(Path(value))) is not None:
        raise UsageError(f"--resume_from_checkpoint {value!r}: not a complete checkpoint folder ({problem})")
    return value


def _checkpoint_number(path: Path) -> int | None:
    number = path.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
    return int(number) if number.isdigit() and path.is_dir() else None


def checkpoint_problem(folder: Path) -> str | None:
    """Why `folder` is not a checkpoint Trainer can resume from, or None when it is complete.

    Trainer saves the model, optimizer, scheduler and RNG state first and `trainer_state.json` last,
    so a readable state file for the folder's own step, a readable safetensors header covering the
    whole file, and intact zip archives (what `torch.save` writes) mean the save finished.
    """
    state_file = folder / "trainer_state.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no trainer_state.json"
    except (OSError, ValueError) as error:
        return f"trainer_state.json is unreadable ({first_line(error)})"
    number = _checkpoint_number(folder)
    if number is not None and state.get("global_step") != number:
        return f"trainer_state.json is for step {state.get('global_step')}, not {number}"
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return "no model.safetensors"
    try:
        with safe_open(weights, framework="pt") as f:
            f.keys()
    except (SafetensorError, OSError) as error:
        return f"model.safetensors is corrupt or truncated ({first_line(error)})"
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        path = folder / name
        if path.exists() and not zipfile.is_zipfile(path):
            return f"{name} is truncated"
    return None


def checkpoint_step(checkpoint: str | None) -> int:
    """The step a run resumes from (0 for a fresh run); read at the start, before rotation can delete the folder."""
    if checkpoint is None:
        return 0
    return json.loads(Path(checkpoint, "trainer_state.json").read_text())["global_step"]

