"""The pair analysis (tools/analyze_pairs.py): Table 3 ratios pooled batch by batch equal
a plain double loop over all pairs of the data set; Figure 3 histograms count the right
scores; the test pipeline is reordered so that ground truth is resized with the image.
"""
import itertools
import json
import math

import numpy as np
import pytest
import torch

from rankdet.analysis import PairStatistics, draw_figure3, spearman_correlation

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


def brute_force_ratios(logits, labels, ious, num_classes=C):
    """Table 3 by a double loop over every pair of every image (Python floats: fast
    enough for the thousands of anchors of a 3D frame); NaN for a type without pairs."""
    scores = logits.sigmoid().tolist()
    counts = {k: [0.0, 0] for k in ('F-B', 'P-N', 'P-P')}
    for f, y, s in zip(scores, labels.tolist(), ious.tolist()):
        pos = [a for a in range(len(y)) if 0 <= y[a] < num_classes]
        bg = [a for a in range(len(y)) if y[a] == num_classes]
        for p, n in itertools.product(pos, bg):
            counts['F-B'][0] += reverse(f[p][y[p]], max(f[n]))
            counts['F-B'][1] += 1
        for c in sorted({y[a] for a in pos}):
            pc = [a for a in pos if y[a] == c]
            nc = [a for a in range(len(y)) if y[a] >= 0 and y[a] != c]
            for p, n in itertools.product(pc, nc):
                counts['P-N'][0] += reverse(f[p][c], f[n][c])
                counts['P-N'][1] += 1
            for i, j in itertools.permutations(pc, 2):
                if s[i] > s[j]:  # i is better localised: it should score higher
                    counts['P-P'][0] += reverse(f[i][c], f[j][c])
                    counts['P-P'][1] += 1
    return {k: r / t if t else math.nan for k, (r, t) in counts.items()}


def assert_ratios_equal(got, expected):
    assert set(got) == set(expected)
    for key in expected:
        if math.isnan(expected[key]):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(expected[key], abs=1e-12), key


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_ratios_pool_pairs_over_batches(seed):
    logits, labels, ious = make_images(seed)
    stats = PairStatistics(C, class_index=1)
    stats.update(logits[:1], labels[:1], ious[:1])
    stats.update(logits[1:], labels[1:], ious[1:])
    assert_ratios_equal(stats.ratios(), brute_force_ratios(logits, labels, ious))
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
    from apps.pairs.analyze_pairs import annotated_pipeline

    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(10, 10)),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='PackDetInputs')]
    assert [s['type'] for s in annotated_pipeline(test_pipeline)] == [
        'LoadImageFromFile', 'LoadAnnotations', 'Resize', 'PackDetInputs']
    with pytest.raises(ValueError, match='needs ground truth'):
        annotated_pipeline([test_pipeline[0], test_pipeline[1], test_pipeline[3]])


# ----------------------------------------------------------------------------- Spearman
def spearman_cases(seed):
    """Paired samples: independent, strongly related, and with many ties on both sides."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(60, generator=gen, dtype=torch.float64)
    yield x, torch.rand(60, generator=gen, dtype=torch.float64)
    yield x, x ** 3 + 0.05 * torch.randn(60, generator=gen, dtype=torch.float64)
    yield (torch.randint(0, 4, (50,), generator=gen).double(),
           torch.randint(0, 3, (50,), generator=gen).double())
    yield torch.tensor([1.0, 2.0]), torch.tensor([5.0, 5.0 + seed + 1])


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_spearman_matches_scipy_with_ties(seed):
    from scipy.stats import spearmanr

    for x, y in spearman_cases(seed):
        expected = spearmanr(x.numpy(), y.numpy()).statistic
        assert spearman_correlation(x, y) == pytest.approx(expected, abs=1e-12)
        # numpy input, float32 tensors: the same ranks
        assert spearman_correlation(x.numpy(), y.numpy()) == pytest.approx(expected,
                                                                           abs=1e-12)
        x32, y32 = x.float(), y.float()
        assert spearman_correlation(x32, y32) == pytest.approx(
            spearmanr(x32.numpy(), y32.numpy()).statistic, abs=1e-12)


def test_spearman_limits():
    x = torch.tensor([0.1, 0.5, 0.3, 0.9])
    assert spearman_correlation(x, x.exp()) == pytest.approx(1.0)  # any increasing map
    assert spearman_correlation(x, -x) == pytest.approx(-1.0)
    # no variance or fewer than two points: undefined, as scipy
    assert math.isnan(spearman_correlation(x, torch.full((4,), 0.7)))
    assert math.isnan(spearman_correlation(torch.tensor([0.3]), torch.tensor([0.2])))
    assert math.isnan(spearman_correlation(torch.zeros(0), torch.zeros(0)))


def test_spearman_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r'x of shape \(N,\), got shape \(2, 3\)'):
        spearman_correlation(torch.zeros(2, 3), torch.zeros(6))
    with pytest.raises(ValueError, match='same length, got 3 and 4'):
        spearman_correlation(torch.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r'y contains NaN at positions \[1\]'):
        spearman_correlation(torch.zeros(3), torch.tensor([0.0, math.nan, 1.0]))
    with pytest.raises(TypeError, match='torch.Tensor or a numpy array, got list'):
        spearman_correlation([1.0, 2.0], torch.zeros(2))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_statistics_spearman_pools_positives_of_all_classes(seed):
    from scipy.stats import spearmanr

    logits, labels, ious = make_images(seed, num_images=4)
    stats = PairStatistics(C, class_index=1)
    for part in ((0, 1), (1, 3), (3, 4)):
        stats.update(logits[slice(*part)], labels[slice(*part)], ious[slice(*part)])
    # the points written out: every positive's confidence for its own class
    scores = logits.sigmoid()
    points = [(scores[b, a, labels[b, a]].item(), ious[b, a].item())
              for b in range(4) for a in range(labels.shape[1]) if 0 <= labels[b, a] < C]
    score, iou = map(np.array, zip(*points))
    assert stats.num_positives == len(points) == ((labels >= 0) & (labels < C)).sum()
    assert stats.spearman() == pytest.approx(spearmanr(iou, score).statistic, abs=1e-12)
    assert stats.spearman() == pytest.approx(spearman_correlation(iou, score), abs=1e-12)
    got = stats.positive_points()
    np.testing.assert_allclose(got['score'].numpy(), score, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(got['iou'].numpy(), iou.astype(np.float32))


def test_report_writes_nan_as_null(tmp_path):
    """One positive: no P-P pair and no correlation. The result keeps NaN, the JSON file
    writes null (strict JSON), the figures are still drawn."""
    pytest.importorskip('mmdet')
    from apps.pairs.analyze_pairs import format_ratios, pair_report

    logits, labels, ious = make_images(5, num_images=1)
    labels[0, 1:] = torch.where(labels[0, 1:] == -1, -1, C)  # keep ignored ones
    stats = PairStatistics(C, class_index=0)
    stats.update(logits, labels, ious)
    result = pair_report(stats, 'car', 'model.pth', tmp_path / 'out')
    assert result['num_positives'] == 1 and result['num_images'] == 1
    assert math.isnan(result['ratios']['P-P']) and math.isnan(result['spearman'])
    assert not math.isnan(result['ratios']['F-B'])

    def strict(token):
        raise AssertionError(f'{token} is not JSON')

    saved = json.loads(result['ratios_file'].read_text(), parse_constant=strict)
    assert saved == {'ratios': {'F-B': result['ratios']['F-B'],
                                'P-N': result['ratios']['P-N'], 'P-P': None},
                     'spearman': None, 'num_positives': 1, 'num_images': 1,
                     'class_name': 'car', 'checkpoint': 'model.pth'}
    for path in result['figures'].values():
        assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    table = format_ratios(saved['ratios'])  # as read back: None
    assert table.splitlines()[1].split()[-1] == 'nan'


def test_figures_of_an_empty_analysis(tmp_path):
    paths = draw_figure3(PairStatistics(C, class_index=0), 'car', tmp_path)
    for path in paths.values():
        assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
