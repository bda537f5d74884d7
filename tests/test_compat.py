"""rankdet's fixes to the pinned stack (rankdet/compat)."""
import numpy as np
import pytest
import torch


def _mmengine_style_checkpoint(path):
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('rankdet-test-compat')
    for v in (1.5, np.float64(2.0), torch.tensor(0.5)):
        hub.update_scalar('train/loss', v)
    torch.save(dict(meta=dict(epoch=1, iter=3, seed=np.int64(7)),
                    state_dict={'w': torch.arange(3.)},
                    message_hub=hub.state_dict()), path)


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    import rankdet.registration  # noqa: F401  applies the allow-list
    path = tmp_path / 'iter_3.pth'
    _mmengine_style_checkpoint(path)
    ckpt = torch.load(path)  # torch's default: weights_only=True
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert buffer.mean() == pytest.approx((1.5 + 2.0 + 0.5) / 3)
    assert buffer.current() == pytest.approx(0.5)
    torch.testing.assert_close(ckpt['state_dict']['w'], torch.arange(3.))


class _GetattrPayload:
    """A pickle that asks getattr for something other than a statistics method."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return getattr, (HistoryBuffer, '__init__')


def test_allow_list_does_not_open_getattr(tmp_path):
    import rankdet.registration  # noqa: F401
    path = tmp_path / 'crafted.pth'
    torch.save({'x': _GetattrPayload()}, path)
    with pytest.raises(Exception, match='only HistoryBuffer statistics methods'):
        torch.load(path)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the patch changes nothing with CUDA')
def test_spconv_patch_is_applied_on_import():
    pytest.importorskip('spconv.pytorch')
    import spconv.pytorch.ops as ops

    import rankdet.registration  # noqa: F401
    assert ops.get_current_stream() == 0  # CPU-only torch: the default stream


def test_spconv_cpu_convolutions_match_one_thread():
    """With two threads spconv's own CPU scatter-add races; rankdet's gives exact sums."""
    spconv = pytest.importorskip('spconv.pytorch')
    import rankdet.registration  # noqa: F401  applies the patch
    torch.manual_seed(0)
    coords = torch.unique(torch.randint(0, 40, (3000, 3)), dim=0)
    indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords.int()], 1)
    feats = torch.randn(len(indices), 16, requires_grad=True)
    threads = torch.get_num_threads()
    try:
        for conv in (spconv.SparseConv3d(16, 32, 3, 2, padding=1, bias=False),
                     spconv.SubMConv3d(16, 32, 3, padding=1, bias=False)):
            results = []
            for n in [1] + [2] * 8:
                torch.set_num_threads(n)
                out = conv(spconv.SparseConvTensor(feats, indices, [40, 40, 40], 1)).features
                grad, = torch.autograd.grad((out ** 2).sum(), feats)
                results.append((out.detach(), grad))
            for out, grad in results[1:]:
                torch.testing.assert_close(out, results[0][0])
                torch.testing.assert_close(grad, results[0][1])
    finally:
        torch.set_num_threads(threads)
