"""How a team that ports a model checks it in pytest: the seed's SequenceInputModule in PyTorch
and its weights through scriptless must give the same outputs. Needs torch and the module:

    pip install torch numpy pytest ./python-package
    pytest python/examples/test_against_torch.py
"""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.utils.rnn as rnn_utils

import scriptless


class SequenceInputModule(nn.Module):
    """The seed's model, as its TorchScript source writes it."""

    def __init__(self, input_size=10, hidden_size=20, output_size=10):
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, padded_seq, seq_lengths):
        packed = rnn_utils.pack_padded_sequence(padded_seq, seq_lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.rnn(packed)
        unpacked, _ = rnn_utils.pad_packed_sequence(output, batch_first=True)
        return self.linear(unpacked[:, -1, :])


@pytest.mark.parametrize("lengths", [[5, 3, 7], [1], [9, 9, 2, 4]])
def test_scriptless_matches_pytorch(tmp_path, lengths):
    torch.manual_seed(0)
    reference = SequenceInputModule().eval()
    torch.save(reference.state_dict(), tmp_path / "weights.pt")
    model = scriptless.load(tmp_path / "weights.pt", model="sequence")  # a state_dict names no model

    padded = torch.randn(len(lengths), max(lengths), 10)
    with torch.no_grad():
        want = reference(padded, torch.tensor(lengths)).numpy()
    got = model(padded_seq=padded.numpy(), seq_lengths=np.array(lengths))
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)  # the project's parity tolerance
