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
    import rankdet  # noqa: F401  applies the allow-list
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
    import rankdet  # noqa: F401
    path = tmp_path / 'crafted.pth'
    torch.save({'x': _GetattrPayload()}, path)
    with pytest.raises(Exception, match='only HistoryBuffer statistics methods'):
        torch.load(path)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the patch changes nothing with CUDA')
def test_spconv_patch_is_applied_on_import():
    pytest.importorskip('spconv.pytorch')
    import spconv.pytorch.ops as ops

    import rankdet  # noqa: F401
    assert ops.get_current_stream() == 0  # CPU-only torch: the default stream
