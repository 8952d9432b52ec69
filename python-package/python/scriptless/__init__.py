"""scriptless: PyTorch models on NumPy arrays, with PyTorch's outputs and no torch.

Your own model, saved by PyTorch as TorchScript (``torch.jit.save(torch.jit.script(model),
"model.pt")``, or traced) or by ``torch.export`` (``torch.export.save(ep, "model.pt2")``), runs
by its own code, in Rust on candle::

    import numpy as np
    import scriptless

    model = scriptless.load("examples/dict_output.pt")   # or .pt2; from_bytes(data) too
    out = model(np.ones((2, 10), np.float32))            # forward(x) -> Dict[str, Tensor]
    out["logits"], out["label"]                          # float32 and int64 arrays
    model.signature                                      # forward's arguments and result

Arguments are ``forward``'s, by position, then by name: NumPy arrays keep their dtype
(float16, float32, float64, int16, int32, int64, uint8, bool; any layout); ``bool``, ``int``,
``float``, ``str``, ``None`` and NumPy scalars are values; lists, tuples and dicts nest (a list
of arrays is a ``List[Tensor]``); nested lists of numbers where a ``Tensor`` is declared become
a tensor as ``torch.tensor`` makes one. Results mirror what ``forward`` returns: tensors as NumPy
arrays of their dtype (bfloat16 as float32), numbers, strings, ``None``, lists, tuples, dicts.
``model.forward_json(line)`` runs a JSON request and returns the command line's output line.

The seed's three models, from *How can I provide inputs to a PyTorch Script Module's forward
method?*, run by dedicated implementations, from their weights in any format:

- ``two-input``: ``linear(tensor1 + tensor2)``;
- ``categorical``: ``linear(cat(tensor_input, one_hot(category_index)))``;
- ``sequence``: ``pack_padded_sequence`` -> ``nn.LSTM`` -> ``pad_packed_sequence`` -> ``linear``
  on one time step, for any number of layers and directions::

    model = scriptless.load("weights/sequence.pt")        # .safetensors, .pt/.pth, .pt2
    out = model(padded_seq=np.ones((3, 7, 10), np.float32),
                seq_lengths=np.array([5, 3, 7]))        # a (3, 10) float32 array

``load(path, *, ...)`` and ``from_bytes(data, *, ...)`` take these keyword arguments:

model
    ``"two-input"``, ``"categorical"`` or ``"sequence"``: read the file as that seed model's
    weights, whatever code an archive holds (as the command line's ``--model``). Default: an
    archive whose code is not one of the seed's runs by its own code; other files run the seed
    model they name (safetensors metadata ``model``, or the seed's code in an archive). A plain
    ``torch.save(state_dict)`` names none and must be told.
dtype
    ``"f32"``, ``"f64"``, ``"f16"`` or ``"bf16"`` (NumPy names and dtypes too). A seed model
    computes in it and returns it (default ``"f32"``; bf16 outputs come back as float32,
    exactly). A TorchScript model converts its parameters, buffers and float inputs to it, as
    ``model.to(dtype)`` (default: the archive's own dtypes); a ``.pt2`` runs in the dtypes it
    was exported in only.
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
max_steps, max_depth
    Limits on one call of a model run by its own code: statements and loop turns (default
    100,000,000), and how deep calls nest (default 200). A seed model runs no such code, so
    they do not bind it.

``pool`` and ``feature_width`` given for a model run by its own code raise
``UnsupportedError``, as do its ``input_names``, ``config`` and ``pool`` attributes (its
arguments are in ``signature``). Every error is a ``ScriptlessError`` with the command line's
one-line message; a failure of the model's own code is a ``ModelError`` (where the model
raised, with ``exception_class`` and ``exception_message``). See the classes' docstrings for
which built-in exception each also is.
"""

from . import _errors
from ._errors import *  # noqa: F403 (ScriptlessError and its subclasses)
from ._scriptless import Model, __version__, from_bytes, load

__all__ = ["load", "from_bytes", "Model", "__version__", *_errors.__all__]
