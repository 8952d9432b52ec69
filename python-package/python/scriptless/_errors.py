"""The exceptions scriptless raises: one base class, and one class per kind of failure, each
also a subclass of the built-in exception Python code would catch for it. Messages are the
command line's one-line messages and name the file, tensor or field at fault."""


class ScriptlessError(Exception):
    """Base class of every error scriptless raises."""


class FileError(ScriptlessError, OSError):
    """A weights file could not be opened or read; ``errno`` says why."""


class FormatError(ScriptlessError, ValueError):
    """Weights are not in the format they claim to be: a truncated file, a bad safetensors
    header, a malformed PyTorch archive."""


class WeightsError(ScriptlessError, ValueError):
    """Weights do not describe the model: missing, unexpected or misshapen tensors."""


class InputError(ScriptlessError, ValueError):
    """An input is missing, unknown, given twice, of a dtype its role does not take,
    misshapen or out of range; the message names it (``seq_lengths[2]``)."""


class LimitError(ScriptlessError, MemoryError):
    """Weights or a tensor exceed a limit (``max_weights_bytes``, ``max_elements``); the
    message names the limit."""


class UnsupportedError(ScriptlessError, ValueError):
    """What this model or build cannot do: an unknown model, dtype or pool, an option or
    attribute for another kind of model (``pool=`` for a model run by its own code), weights
    that contradict ``model=``, an operator or construct scriptless does not run, a device this
    build lacks."""


class ModelError(ScriptlessError, RuntimeError):
    """The model's own code failed or raised: an operator refused its arguments, or ``forward``
    raised an exception or failed an ``assert``. The message is the command line's, with the
    place in the model's code where it is known.

    Where the model itself raised, ``exception_class`` is PyTorch's name of the exception's
    class (``"ValueError"``, ``"AssertionError"``; no ``builtins.``) and ``exception_message``
    its message; both are ``None`` for any other failure of the model's code."""

    exception_class = None
    exception_message = None


class InternalError(ScriptlessError):
    """A bug in scriptless, or a failure inside candle: please report it."""


__all__ = [
    "ScriptlessError",
    "FileError",
    "FormatError",
    "WeightsError",
    "InputError",
    "LimitError",
    "UnsupportedError",
    "ModelError",
    "InternalError",
]
