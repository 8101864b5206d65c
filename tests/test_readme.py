"""README.md's example runs as written.

The Python block under the README's example heading is extracted and run in a fresh process, from an
empty folder, as a newcomer would paste it. The example checks its own answer (test accuracy and the
label of one text), so an example that no longer matches the API, or a model that no longer learns
with it, fails here rather than in a newcomer's first minute.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_HEADING = "## Example"


def readme_example() -> str:
    """The first ```python block between the example heading and the next heading of its level."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    _, found, after = readme.partition(f"\n{EXAMPLE_HEADING}\n")
    assert found, f"README.md has no {EXAMPLE_HEADING!r} heading"
    section = after.split("\n## ", 1)[0]
    block = re.search(r"^```python\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    assert block, f"README.md has no ```python block under {EXAMPLE_HEADING!r}"
    return block.group(1)


@pytest.mark.slow
def test_readme_example_runs_as_written(newsgroups_home, tmp_path):
    code = readme_example()
    # The example's own check is what fails when the model answers wrongly; without one, running it proves little.
    assert re.search(r"^assert ", code, re.MULTILINE), "README's example must check its answer with an assert"
    script = tmp_path / "readme_example.py"
    script.write_text(code, encoding="utf-8")
    env = os.environ | {
        "SCIKIT_LEARN_DATA": str(newsgroups_home),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, f"README's example failed:\n{result.stderr[-4000:]}"
