"""Executes every notebook in notebooks/ through the real llmlab kernel with
`jupyter nbconvert --to notebook --execute` and fails on any error output
(except in cells tagged `raises-exception`, which fail on purpose).

Each runs from a copy in a temporary folder outside the project, as it does for
a user who copies a notebook elsewhere: nothing may depend on the notebook's
folder (the library finds its datasets and files itself)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import KERNEL_NAME, ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Generous: a notebook may train a small model on two CPU cores.
CELL_TIMEOUT_S = 600
JUPYTER = shutil.which("jupyter", path="/usr/bin") or "jupyter"


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no .ipynb file"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_clean(notebook, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = elsewhere / notebook.name
    shutil.copyfile(notebook, copy)
    proc = subprocess.run(
        [
            JUPYTER, "nbconvert", "--to", "notebook", "--execute",
            f"--ExecutePreprocessor.kernel_name={KERNEL_NAME}",
            f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}",
            "--ExecutePreprocessor.startup_timeout=120",
            "--output-dir", str(tmp_path), "--output", notebook.stem,
            str(copy),
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
    )
    assert proc.returncode == 0, f"nbconvert failed:\n{proc.stderr[-5000:]}"
    executed = json.loads((tmp_path / notebook.name).read_text())
    problems = []
    for index, cell in enumerate(executed["cells"]):
        if cell["cell_type"] != "code":
            continue
        expected_to_fail = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and not expected_to_fail:
            e = errors[0]
            problems.append(f"cell {index}: {e['ename']}: {e['evalue']}\n" + "\n".join(e.get("traceback", [])))
        if expected_to_fail and not errors:
            problems.append(f"cell {index} is tagged raises-exception but did not fail")
    assert not problems, f"{notebook.name}:\n" + "\n\n".join(problems)
    sys.stdout.write(f"{notebook.name}: {sum(c['cell_type'] == 'code' for c in executed['cells'])} code cells ran\n")
