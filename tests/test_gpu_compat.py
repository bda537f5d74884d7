"""rankdet/compat stays out of the way on CUDA: spconv's stream stand-in is applied only
without CUDA, and the CPU scatter fix only ever handles CPU tensors (anything else goes
to spconv's own function). The first two tests decide as a machine with CUDA would (the
CUDA query answers True); the last runs only on one."""
from types import SimpleNamespace

import pytest
import torch

spconv_ops = pytest.importorskip('spconv.pytorch.ops')
cppcore = pytest.importorskip('spconv.pytorch.cppcore')

import rankdet.registration  # noqa: E402,F401  applies rankdet/compat
from rankdet.compat import spconv_cpu  # noqa: E402


def test_stream_stand_in_only_without_cuda(monkeypatch):
    spconv_own = cppcore.get_current_stream  # ops.py imported it from here
    monkeypatch.setattr(spconv_ops, 'get_current_stream', spconv_own)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert spconv_cpu.patch_spconv_cpu_stream() is False
    assert spconv_ops.get_current_stream is spconv_own  # with CUDA: spconv's own
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert spconv_cpu.patch_spconv_cpu_stream() is True
    patched = spconv_ops.get_current_stream
    assert patched is not spconv_own and patched() == 0
    assert spconv_cpu.patch_spconv_cpu_stream() is True
    assert spconv_ops.get_current_stream is patched  # once only


def test_scatter_fix_handles_cpu_tensors_and_hands_on_the_rest():
    from cumm import tensorview as tv

    calls = []

    def spconv_own(out, buffer, indices):
        calls.append((out, buffer, indices))

    out = torch.zeros(4, 2)
    buffer = torch.arange(10, dtype=torch.float32).reshape(5, 2)
    indices = torch.tensor([3, 0, 3], dtype=torch.int32)  # 3 of the 5 buffer rows
    spconv_cpu._torch_scatter_add_cpu(tv.from_numpy(out.numpy()),
                                      tv.from_numpy(buffer.numpy()),
                                      tv.from_numpy(indices.numpy()), spconv_own)
    expected = torch.zeros(4, 2)
    expected[3] = buffer[0] + buffer[2]
    expected[0] = buffer[1]
    assert calls == [] and torch.equal(out, expected)
    on_gpu = [SimpleNamespace(device=0) for _ in range(3)]  # tensorview: device 0 = GPU 0
    spconv_cpu._torch_scatter_add_cpu(*on_gpu, spconv_own)
    assert calls == [tuple(on_gpu)]
    assert getattr(spconv_ops.SpconvOps, spconv_cpu._SCATTER_PATCHED_ATTR)


@pytest.mark.cuda
def test_on_cuda_spconv_keeps_its_stream_and_runs():
    import spconv.pytorch as spconv

    assert not getattr(spconv_ops.get_current_stream, spconv_cpu._PATCHED_ATTR, False)
    assert spconv_ops.get_current_stream() == torch.cuda.current_stream().cuda_stream
    torch.manual_seed(0)
    coords = torch.unique(torch.randint(0, 20, (500, 3)), dim=0)
    indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords.int()], 1)
    conv = spconv.SubMConv3d(4, 8, 3, padding=1, bias=False)
    feats = torch.randn(len(indices), 4)
    outs = []
    for device in ('cpu', 'cuda'):
        x = spconv.SparseConvTensor(feats.to(device), indices.to(device), [20, 20, 20], 1)
        outs.append(conv.to(device)(x).features.detach().cpu())
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-3, atol=1e-3)
