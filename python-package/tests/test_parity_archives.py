"""python/parity.py checks a user's archive against that archive as PyTorch runs it: it passes on
the seed's own archives and fails on the not-seed ones (named like the seed's classes, holding the
seed's tensors, computing something else), with or without --model. Needs torch and safetensors
(parity.py runs live PyTorch); skipped without them, as in CI:

    pip install torch==2.15.0 safetensors && pytest python-package/tests/test_parity_archives.py
"""

import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT

pytest.importorskip("torch", reason="torch is not installed: parity.py runs live PyTorch")
pytest.importorskip("safetensors", reason="safetensors is not installed: parity.py needs it")

NOT_SEED = FIXTURES / "not_seed"


def parity(cli, weights, *flags):
    """parity.py's exit status and output on `weights`, through the command line `cli`."""
    done = subprocess.run(
        [sys.executable, ROOT / "python" / "parity.py", "--weights", weights, "-n", "4", "--bin", cli, *flags],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("weights", ["weights/sequence.pt", "weights/two_input.pt", "weights/categorical.pt",
                                     "weights/two_input.pt2", "weights/categorical.pt2",
                                     "tests/fixtures/categorical_nd/weights.pt"])
def test_the_seeds_archives_pass(cli, weights):
    status, output = parity(cli, ROOT / weights)
    assert status == 0, output
    assert "reference: the archive as PyTorch runs it" in output
    assert "4 passed, 0 failed" in output


@pytest.mark.parametrize("weights,flags", [
    ("sequence_final_hidden/weights.pt", []),
    ("sequence_relu/weights.pt", []),
    ("sequence_last_valid/weights.pt", []),
    ("two_input_product/weights.pt", []),
    ("two_input_product/weights.pt2", []),
    # --model loads the tensors into the seed's model, which is not what the archive computes.
    ("sequence_final_hidden/weights.pt", ["--model", "sequence"]),
    ("sequence_relu/weights.pt", ["--model", "sequence"]),
    ("sequence_last_valid/weights.pt", ["--model", "sequence"]),
    ("two_input_product/weights.pt2", ["--model", "two-input"]),
])
def test_archives_whose_code_is_not_the_seeds_fail(cli, weights, flags):
    status, output = parity(cli, NOT_SEED / weights, *flags)
    assert status == 1, output
    if flags:
        # Where the two computations agree (one sequence filling its batch: its last step is
        # h_n, is its last valid step), a request may pass; not all of them.
        assert " FAIL " in output, output
    else:
        # Refused by scriptless, every one.
        assert "0 passed, 4 failed" in output, output
        assert "is not the seed's" in output, output
