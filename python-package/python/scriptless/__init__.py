"""scriptless: the seed's PyTorch models on NumPy arrays, with PyTorch's outputs and no torch.

Three models from *How can I provide inputs to a PyTorch Script Module's forward method?*,
rebuilt in Rust on candle:

- ``two-input``: ``linear(tensor1 + tensor2)``;
- ``categorical``: ``linear(cat(tensor_input, one_hot(category_index)))``;
- ``sequence``: ``pack_padded_sequence`` -> ``nn.LSTM`` -> ``pad_packed_sequence`` -> ``linear``
  on one time step, for any number of layers and directions.

Load a model from the weights PyTorch wrote, and call it on NumPy arrays::

    import numpy as np
    import scriptless

    model = scriptless.load("weights/sequence.pt")        # .safetensors, .pt/.pth, .pt2
    out = model(padded_seq=np.ones((3, 7, 10), np.float32),
                seq_lengths=np.array([5, 3, 7]))        # a (3, 10) float32 array

``load(path, *, ...)`` and ``from_bytes(data, *, ...)`` take these keyword arguments:

model
    ``"two-input"``, ``"categorical"`` or ``"sequence"``. Default: the model the weights
    name (safetensors metadata ``model``), or the seed model whose code a TorchScript or
    ``.pt2`` archive holds; an archive whose code is not one of the seed's raises
    ``UnsupportedError``, naming where it departs. Given, the file's tensors go into that seed
    model and any code in the file is ignored. A plain ``torch.save(state_dict)`` names none
    and must be told.
dtype
    What the model computes in and returns: ``"f32"`` (default), ``"f64"``, ``"f16"`` or
    ``"bf16"`` (NumPy names and dtypes too). bf16 outputs come back as float32, exactly.
pool
    Sequence model only. ``"padded-last"`` (default) reproduces the seed's
    ``unpacked_seq[:, -1, :]``, so every row shorter than the longest outputs
    ``linear.bias``; ``"last-valid"`` reads each row's own last step.
feature_width
    Categorical model only: the width of ``tensor_input`` when the weights do not record it
    (default: the weights' metadata or an archive's code, else the seed's 10).
device
    ``"cpu"`` (default); ``"cuda"``, ``"cuda:N"`` and ``"metal"`` in a build with that
    feature.
max_weights_bytes, max_elements
    Limits: refuse weights larger than this many bytes (default: a sixteenth of the memory
    this process may use, at most 16 GiB), and any call that would build a tensor of more
    elements (default: that memory / 128 bytes, at most 2**27).

Inputs are NumPy arrays (or anything ``numpy.asarray`` takes): floats as float16, float32 or
float64, converted to the model's dtype; indices and lengths as int32 or int64; any strides.
Every error is a ``ScriptlessError`` with the command line's one-line message; see the
classes' docstrings for which built-in exception each also is.
"""

from . import _errors
from ._errors import *  # noqa: F403 (ScriptlessError and its subclasses)
from ._scriptless import Model, __version__, from_bytes, load

__all__ = ["load", "from_bytes", "Model", "__version__", *_errors.__all__]
