"""The pair analysis (tools/analyze_pairs.py): Table 3 ratios pooled batch by batch equal
a plain double loop over all pairs of the data set; Figure 3 histograms count the right
scores; the test pipeline is reordered so that ground truth is resized with the image.
"""
import itertools

import numpy as np
import pytest
import torch

from rankdet.analysis import PairStatistics, draw_figure3

C = 3


def make_images(seed, num_images=3, num_anchors=40):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_images, num_anchors, C, generator=gen)
    logits[0, :5] = logits[0, 5:10]  # some exact ties
    labels = torch.randint(0, C + 1, (num_images, num_anchors), generator=gen)
    labels[torch.rand(num_images, num_anchors, generator=gen) < 0.1] = -1
    labels[:, :2] = torch.tensor([0, 1])  # every image has positives
    ious = torch.rand(num_images, num_anchors, generator=gen)
    return logits, labels, ious


def reverse(lower, higher):
    """1 if the pair is ranked the wrong way, 1/2 if tied."""
    return 1.0 if lower < higher else 0.5 if lower == higher else 0.0


def brute_force_ratios(logits, labels, ious):
    scores = logits.sigmoid()
    counts = {k: [0.0, 0] for k in ('F-B', 'P-N', 'P-P')}
    for f, y, s in zip(scores, labels, ious):
        pos = [a for a in range(len(y)) if 0 <= y[a] < C]
        bg = [a for a in range(len(y)) if y[a] == C]
        for p, n in itertools.product(pos, bg):
            counts['F-B'][0] += reverse(f[p, y[p]], f[n].max())
            counts['F-B'][1] += 1
        for c in set(y[pos].tolist()):
            pc = [a for a in pos if y[a] == c]
            nc = [a for a in range(len(y)) if y[a] >= 0 and y[a] != c]
            for p, n in itertools.product(pc, nc):
                counts['P-N'][0] += reverse(f[p, c], f[n, c])
                counts['P-N'][1] += 1
            for i, j in itertools.permutations(pc, 2):
                if s[i] > s[j]:  # i is better localised: it should score higher
                    counts['P-P'][0] += reverse(f[i, c], f[j, c])
                    counts['P-P'][1] += 1
    return {k: r / t for k, (r, t) in counts.items()}


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_ratios_pool_pairs_over_batches(seed):
    logits, labels, ious = make_images(seed)
    stats = PairStatistics(C, class_index=1)
    stats.update(logits[:1], labels[:1], ious[:1])
    stats.update(logits[1:], labels[1:], ious[1:])
    expected = brute_force_ratios(logits, labels, ious)
    got = stats.ratios()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-12)
    assert stats.num_images == 3


def test_histograms_count_the_figure3_scores():
    logits, labels, ious = make_images(3)
    stats = PairStatistics(C, class_index=2, bins=10)
    stats.update(logits, labels, ious)
    scores = logits.sigmoid()
    positive = (labels >= 0) & (labels < C)
    expected = {
        'foreground': scores[positive].gather(1, labels[positive][:, None])[:, 0],
        'background': scores[labels == C].max(1).values,
        'positive': scores[..., 2][labels == 2],
        'negative': scores[..., 2][(labels >= 0) & (labels != 2)],
    }
    for name, values in expected.items():
        counts, _ = np.histogram(values.numpy(), bins=10, range=(0, 1))
        assert stats.histograms[name].numpy().tolist() == counts.tolist(), name
    points = stats.class_points()
    torch.testing.assert_close(points['iou'], ious[labels == 2])
    torch.testing.assert_close(points['score'], scores[..., 2][labels == 2])


def test_figures_are_written(tmp_path):
    logits, labels, ious = make_images(4)
    stats = PairStatistics(C, class_index=0)
    stats.update(logits, labels, ious)
    paths = draw_figure3(stats, 'traffic light', tmp_path)
    assert sorted(p.name for p in paths.values()) == [
        'fg_bg_scores.png', 'iou_vs_score_traffic-light.png',
        'pos_neg_scores_traffic-light.png']
    for path in paths.values():
        assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert not list(tmp_path.glob('.*.tmp'))


def test_bad_class_index():
    with pytest.raises(ValueError, match='class_index must be in 0..2'):
        PairStatistics(C, class_index=3)


def test_ground_truth_is_loaded_before_resize():
    pytest.importorskip('mmdet')
    from rankdet.analysis.analyze_pairs import annotated_pipeline

    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(10, 10)),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='PackDetInputs')]
    assert [s['type'] for s in annotated_pipeline(test_pipeline)] == [
        'LoadImageFromFile', 'LoadAnnotations', 'Resize', 'PackDetInputs']
    with pytest.raises(ValueError, match='needs ground truth'):
        annotated_pipeline([test_pipeline[0], test_pipeline[1], test_pipeline[3]])
