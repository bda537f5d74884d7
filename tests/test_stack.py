"""The installed stack works, not only imports: mmcv CPU ops, spconv on CPU, pycocotools."""
import numpy as np
import pytest
import torch


def reference_nms(boxes, scores, iou_thr):
    """Greedy NMS written plainly: keep the best box, drop those overlapping it."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        ok = True
        for j in keep:
            x1 = max(boxes[i][0], boxes[j][0])
            y1 = max(boxes[i][1], boxes[j][1])
            x2 = min(boxes[i][2], boxes[j][2])
            y2 = min(boxes[i][3], boxes[j][3])
            inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
            area_i = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            area_j = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            if inter / (area_i + area_j - inter) > iou_thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_mmcv_nms_matches_reference(seed):
    from mmcv.ops import nms
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (60, 2))
    wh = rng.uniform(5, 20, (60, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.permutation(60).astype(np.float32) / 60  # distinct scores
    _, keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5)
    expected = reference_nms(boxes.tolist(), scores.tolist(), 0.5)
    assert keep.tolist() == expected
    assert 5 < len(expected) < 60  # the case really suppresses something


def test_mmcv_box_iou_rotated_axis_aligned():
    """At 0 and 90 degrees a rotated IoU equals the axis-aligned one."""
    from mmcv.ops import box_iou_rotated
    a = torch.tensor([[0., 0., 4., 2., 0.]])
    b = torch.tensor([[1., 0., 4., 2., 0.], [0., 0., 4., 2., np.pi / 2]])
    iou = box_iou_rotated(a, b)[0]
    # shifted by 1 along x: inter 3*2=6, union 16-6=10; rotated 90: inter 2*2=4, union 12
    torch.testing.assert_close(iou, torch.tensor([0.6, 4 / 12]), atol=1e-5, rtol=0)


def _sparse_and_dense_inputs(seed, grid=(6, 7, 8), channels=3, density=0.3):
    gen = torch.Generator().manual_seed(seed)
    occupied = torch.rand(grid, generator=gen) < density
    coords = occupied.nonzero()  # [V, 3] (z, y, x)
    feats = torch.randn(len(coords), channels, generator=gen, dtype=torch.float32)
    indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.long), coords], 1)
    return occupied, indices.int(), feats


@pytest.mark.parametrize('seed', [0, 1])
def test_spconv_cpu_forward_backward_matches_dense_conv(seed):
    """SubMConv3d + SparseConv3d on CPU: values and gradients equal a dense Conv3d."""
    import rankdet.registration  # noqa: F401  applies the spconv CPU patch
    spconv = pytest.importorskip('spconv.pytorch')
    torch.manual_seed(seed)
    grid = (6, 7, 8)
    occupied, indices, feats = _sparse_and_dense_inputs(seed, grid)
    # float32, the dtype models train in (spconv's CPU build is not exercised in float64)
    subm = spconv.SubMConv3d(3, 4, 3, padding=1, bias=False, indice_key='subm1')
    down = spconv.SparseConv3d(4, 5, 3, stride=2, padding=1, bias=False)

    feats_sp = feats.clone().requires_grad_(True)
    x = spconv.SparseConvTensor(feats_sp, indices, list(grid), batch_size=1)
    out_sparse = down(subm(x)).dense()  # [1, 5, D', H', W']
    weight = torch.randn(out_sparse.shape)
    (out_sparse * weight).sum().backward()

    # Dense twin with the same weights; spconv stores weights as [out, kD, kH, kW, in].
    w1 = subm.weight.detach().permute(0, 4, 1, 2, 3).clone().requires_grad_(True)
    w2 = down.weight.detach().permute(0, 4, 1, 2, 3).clone().requires_grad_(True)
    feats_d = feats.clone().requires_grad_(True)
    dense_in = torch.zeros(1, 3, *grid)
    z, y, xx = indices[:, 1].long(), indices[:, 2].long(), indices[:, 3].long()
    dense_in[0, :, z, y, xx] = feats_d.t()
    mask = occupied[None, None].float()
    # submanifold: outputs only at the active input sites
    h = torch.nn.functional.conv3d(dense_in, w1, padding=1) * mask
    out_dense = torch.nn.functional.conv3d(h, w2, stride=2, padding=1)
    (out_dense * weight).sum().backward()

    tol = dict(atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out_sparse, out_dense, **tol)
    torch.testing.assert_close(feats_sp.grad, feats_d.grad, **tol)
    torch.testing.assert_close(subm.weight.grad.permute(0, 4, 1, 2, 3), w1.grad, **tol)
    torch.testing.assert_close(down.weight.grad.permute(0, 4, 1, 2, 3), w2.grad, **tol)
    assert feats_sp.grad.abs().sum() > 0


def test_pycocotools_ground_truth_against_itself_is_ap_1(coco128_root):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt = COCO(str(coco128_root / 'annotations' / 'instances_train2017.json'))
    dets = []
    for i, ann in enumerate(gt.loadAnns(gt.getAnnIds(iscrowd=False))):
        dets.append(dict(image_id=ann['image_id'], category_id=ann['category_id'],
                         bbox=ann['bbox'], score=1.0 - i * 1e-4))
    evaluator = COCOeval(gt, gt.loadRes(dets), 'bbox')
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)  # AP@[.5:.95]
    assert evaluator.stats[1] == pytest.approx(1.0)  # AP50
