"""python/parity.py checks a user's archive against that archive as PyTorch runs it: it passes on
the seed's own archives and on the not-seed ones (named like the seed's classes, holding the
seed's tensors, computing something else), which scriptless runs by their own code, and fails
when --model runs the seed's model on their tensors; a user's .pt2 is checked on requests drawn
like its example inputs. Needs torch and safetensors
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


@pytest.mark.parametrize("weights", [
    "sequence_final_hidden/weights.pt",
    "sequence_relu/weights.pt",
    "sequence_last_valid/weights.pt",
    "two_input_product/weights.pt",
    "two_input_product/weights.pt2",
])
def test_archives_whose_code_is_not_the_seeds_run_by_it(cli, weights):
    # scriptless runs such an archive by its own code (a .pt) or graph (a .pt2), which is what
    # PyTorch computes from it.
    status, output = parity(cli, NOT_SEED / weights)
    assert status == 0, output
    assert "4 passed, 0 failed" in output, output


@pytest.mark.parametrize("weights,flags", [
    # --model loads the tensors into the seed's model, which is not what the archive computes.
    ("sequence_final_hidden/weights.pt", ["--model", "sequence"]),
    ("sequence_relu/weights.pt", ["--model", "sequence"]),
    ("sequence_last_valid/weights.pt", ["--model", "sequence"]),
    ("two_input_product/weights.pt2", ["--model", "two-input"]),
])
def test_the_seeds_model_on_another_archives_tensors_fails(cli, weights, flags):
    status, output = parity(cli, NOT_SEED / weights, *flags)
    assert status == 1, output
    # Where the two computations agree (one sequence filling its batch: its last step is h_n,
    # is its last valid step), a request may pass; not all of them.
    assert " FAIL " in output, output


def test_a_users_pt2_is_checked_on_requests_like_its_example(cli):
    status, output = parity(cli, ROOT / "examples" / "attention.pt2")
    assert status == 0, output
    assert "its own program; reference: torch.export.load(...).module()" in output, output
    assert "4 requests: 4 passed, 0 failed" in output, output
