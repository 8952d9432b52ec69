"""Property test against live PyTorch: hypothesis draws model configurations (sizes, LSTM layers,
directions, projections, bias, ragged lengths, broadcast and N-d inputs, pooling, f32 or f64),
PyTorch runs the seed's models (python/export.py's generalised classes) on random weights and
inputs, and the module, loaded from the `torch.save` bytes of the same state_dict, must agree
within the project's parity tolerance. Needs torch and hypothesis; skipped without them:

    pip install torch==2.15.0 hypothesis && pytest python-package/tests/test_torch_property.py
"""

import io
import sys

import numpy as np
import pytest

from conftest import ROOT

torch = pytest.importorskip("torch", reason="torch is not installed: the live PyTorch property test needs it")
hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import given, settings, strategies as st  # noqa: E402

import scriptless  # noqa: E402

sys.path.insert(0, str(ROOT / "python"))
from export import GeneralCategorical, GeneralSequence, GeneralTwoInput, lstm_outputs  # noqa: E402

TOLERANCES = {"f32": (2e-5, 1e-4), "f64": (1e-10, 1e-9)}  # the parity policy of docs/parity.md
TORCH_DTYPES = {"f32": torch.float32, "f64": torch.float64}


@st.composite
def configurations(draw):
    kind = draw(st.sampled_from(["two-input", "categorical", "sequence", "sequence"]))
    dtype = draw(st.sampled_from(["f32", "f32", "f64"]))
    seed = draw(st.integers(0, 2**32 - 1))
    torch.manual_seed(seed)
    if kind == "two-input":
        width = draw(st.integers(1, 24))
        model = GeneralTwoInput(width, draw(st.integers(1, 16)))
        lead = draw(st.lists(st.integers(1, 4), max_size=2))
        # Broadcasting: the second input drops or keeps each leading dimension (or sets it to 1).
        other = [draw(st.sampled_from([n, 1])) for n in lead][draw(st.integers(0, len(lead))):]
        inputs = {"tensor1": torch.randn(*lead, width), "tensor2": torch.randn(*other, width)}
        return kind, dtype, model, inputs, None, {}
    if kind == "categorical":
        categories, width = draw(st.integers(1, 8)), draw(st.integers(1, 16))
        model = GeneralCategorical(categories, width, draw(st.integers(1, 16)))
        lead = draw(st.lists(st.integers(1, 5), min_size=0, max_size=2))
        inputs = {"tensor_input": torch.randn(*lead, width),
                  "category_index": torch.randint(0, categories, lead, dtype=torch.int64)}
        return kind, dtype, model, inputs, None, {"feature_width": width}
    hidden = draw(st.integers(1, 24))
    model = GeneralSequence(draw(st.integers(1, 12)), hidden, num_layers=draw(st.integers(1, 3)),
                            bidirectional=draw(st.booleans()),
                            proj_size=draw(st.sampled_from([0, 0, max(1, hidden // 2)])) if hidden > 1 else 0,
                            bias=draw(st.booleans()), out_features=draw(st.integers(1, 12)))
    lengths = draw(st.lists(st.integers(1, 20), min_size=1, max_size=6))
    padding = draw(st.integers(0, 3))
    padded = torch.randn(len(lengths), max(lengths) + padding, model.rnn.input_size)
    inputs = {"padded_seq": padded, "seq_lengths": torch.tensor(lengths)}
    return kind, dtype, model, inputs, draw(st.sampled_from(["padded-last", "last-valid"])), {}


@settings(max_examples=150, deadline=None)
@given(configurations())
def test_module_matches_live_pytorch(configuration):
    kind, dtype, model, inputs, pool, options = configuration
    torch_dtype = TORCH_DTYPES[dtype]
    model = model.to(torch_dtype).eval()
    args = [v.to(torch_dtype) if v.is_floating_point() else v for v in inputs.values()]
    with torch.no_grad():
        if pool == "last-valid":
            want = lstm_outputs(model, *args)["output_last_valid"]
        else:
            want = model(*args)
    weights = io.BytesIO()
    torch.save(model.state_dict(), weights)
    loaded = scriptless.from_bytes(weights.getvalue(), model=kind, dtype=dtype, pool=pool or "padded-last",
                                   **options)
    got = loaded(**{name: value.numpy() for name, value in zip(inputs, args)})
    want = want.numpy()
    assert got.shape == want.shape
    atol, rtol = TOLERANCES[dtype]
    diff = np.abs(got - want)
    tolerance = atol + rtol * np.abs(want)
    worst = np.unravel_index(np.argmax(diff / tolerance), diff.shape) if diff.size else ()
    assert (diff <= tolerance).all(), f"worst {worst}: got {got[worst]!r} want {want[worst]!r}"
