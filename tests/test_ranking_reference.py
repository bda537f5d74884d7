"""Brute-force references for rankdet.ranking, written as plain loops over samples and pairs.

Each reference follows docs/method.md (sections 2-5) literally, one pair at a time, with
autograd through scalar tensor ops; the fast implementations are compared with them in
the other ``test_ranking_*`` files. The tests here pin the references to numbers worked by hand.
"""
import math

import pytest
import torch
import torch.nn.functional as F


def approx(value):
    return pytest.approx(value, rel=1e-6, abs=1e-9)


RANK = {'exp': torch.exp, 'sigmoid': torch.sigmoid, 'logistic': F.softplus}


def ref_pairwise(pos, neg, rank_fn='exp', reweight=True, weights=None):
    """sum_{n,p} z L(f(n) - f(p)), z = L / sum L detached; or the mean of L over pairs.

    ``weights``: w(n) per negative, each pair weighted by it (a negative that stands for
    w(n) samples): sum w L_d L / sum w L_d, or sum w L / sum w over pairs.
    """
    rank = RANK[rank_fn]
    weights = [1.0] * len(neg) if weights is None else list(weights)
    terms = [(w, rank(n - p)) for n, w in zip(neg, weights) for p in pos]
    if not terms:
        return None
    if not reweight:
        return sum(w * t for w, t in terms) / sum(w for w, _ in terms)
    total = sum(w * t.detach() for w, t in terms)
    return sum((w * t.detach() / total) * t for w, t in terms)


def ref_group_bins(scores, num_groups):
    """Bin index of each score: [lo + i w, lo + (i + 1) w), the last bin closed."""
    values = [s.item() if isinstance(s, torch.Tensor) else float(s) for s in scores]
    low, high = min(values), max(values)
    if high == low:
        return [0] * len(values)
    width = (high - low) / num_groups
    bins = []
    for v in values:
        for i in range(num_groups):
            if low + i * width <= v < low + (i + 1) * width or i == num_groups - 1:
                bins.append(i)
                break
    return bins


def ref_mine(neg, num_pos, mode, ratio=3, num_groups=15, with_counts=False):
    """Mined negatives as a list of scalar tensors (OHEM: descending; group: bin order);
    ``with_counts``: (negatives, the members behind each)."""
    neg = list(neg)
    if mode == 'none' or not neg:
        mined = neg if mode == 'none' else []
        counts = [1] * len(mined)
    elif mode == 'ohem':
        order = sorted(range(len(neg)), key=lambda i: -neg[i].item())
        mined = [neg[i] for i in order[:ratio * num_pos]]
        counts = [1] * len(mined)
    else:
        bins = ref_group_bins(neg, num_groups)
        mined, counts = [], []
        for i in range(num_groups):
            members = [n for n, b in zip(neg, bins) if b == i]
            if members:
                mined.append(sum(members) / len(members))
                counts.append(len(members))
    return (mined, counts) if with_counts else mined


def ref_mine_weighted(neg, num_pos, mode, ratio=3, num_groups=15, group_weighting='bin'):
    """Mined negatives with ``group_weighting='size'`` as plain copies: each bin mean
    repeated as often as the bin has members (the definition the fast path must meet)."""
    mined, counts = ref_mine(neg, num_pos, mode, ratio, num_groups, with_counts=True)
    if group_weighting == 'bin':
        return mined
    return [m for m, count in zip(mined, counts) for _ in range(count)]


def ref_global(scores, labels, rank_fn='exp', mining='group', ratio=3, num_groups=15,
               reweight=True, group_weighting='bin'):
    """Global loss of one image: GT-class scores of foreground vs max scores of background.

    ``scores`` are whatever the loss compares (probabilities, or logits in logit space).
    """
    num_classes = scores.shape[1]
    pos = [scores[a, int(labels[a])] for a in range(len(labels))
           if 0 <= int(labels[a]) < num_classes]
    neg = [scores[a].max() for a in range(len(labels)) if int(labels[a]) == num_classes]
    mined = ref_mine_weighted(neg, len(pos), mining, ratio, num_groups, group_weighting)
    loss = ref_pairwise(pos, mined, rank_fn, reweight)
    return scores.sum() * 0 if loss is None else loss


def ref_class(scores, labels, rank_fn='exp', mining='group', ratio=3, num_groups=3,
              reweight=True, class_reduction='sum', group_weighting='bin'):
    """Class-specific loss of one image: the sum (Eq. 4) or the mean over classes of the
    per-class pair loss, one class after another."""
    num_classes = scores.shape[1]
    present = sorted({int(x) for x in labels if 0 <= int(x) < num_classes})
    losses = []
    for c in present:
        pos = [scores[a, c] for a in range(len(labels)) if int(labels[a]) == c]
        neg = [scores[a, c] for a in range(len(labels)) if int(labels[a]) not in (-1, c)]
        mined = ref_mine_weighted(neg, len(pos), mining, ratio, num_groups, group_weighting)
        loss = ref_pairwise(pos, mined, rank_fn, reweight)
        if loss is not None:
            losses.append(loss)
    if not losses:
        return scores.sum() * 0
    return sum(losses) / (len(losses) if class_reduction == 'mean' else 1)


def ref_iou(scores, ious, labels, levels, alpha=1.0, rank_fn='exp', iou_bp='lower_detached'):
    """Mean over pairs i < j of one class and level of L(-alpha (f_i - f_j)(s_i - s_j))."""
    rank = RANK[rank_fn]
    terms = []
    for i in range(len(scores)):
        for j in range(i + 1, len(scores)):
            if int(labels[i]) != int(labels[j]) or int(levels[i]) != int(levels[j]):
                continue
            s_i, s_j = ious[i], ious[j]
            if iou_bp == 'none':
                s_i, s_j = s_i.detach(), s_j.detach()
            elif iou_bp == 'lower_detached':
                if scores[i].item() < scores[j].item():
                    s_i = s_i.detach()
                else:
                    s_j = s_j.detach()
            terms.append(rank(-alpha * (scores[i] - scores[j]) * (s_i - s_j)))
    if not terms:
        return (scores.sum() + ious.sum()) * 0
    return sum(terms) / len(terms)


def ref_reverse_pairs(scores, labels, ious=None):
    """(reverse, total) of F-B, P-N, P-P for one image, ties in confidence counting half."""
    num_classes = scores.shape[1]
    s = scores.tolist()
    lab = [int(x) for x in labels]

    def count(pairs):
        reverse = sum(1.0 if lo < hi else 0.5 if lo == hi else 0.0 for lo, hi in pairs)
        return reverse, float(len(pairs))

    fg = [s[a][lab[a]] for a in range(len(lab)) if 0 <= lab[a] < num_classes]
    bg = [max(s[a]) for a in range(len(lab)) if lab[a] == num_classes]
    out = {'F-B': count([(p, n) for p in fg for n in bg])}
    pn = []
    for c in sorted({x for x in lab if 0 <= x < num_classes}):
        pos = [s[a][c] for a in range(len(lab)) if lab[a] == c]
        neg = [s[a][c] for a in range(len(lab)) if lab[a] not in (-1, c)]
        pn += [(p, n) for p in pos for n in neg]
    out['P-N'] = count(pn)
    if ious is not None:
        iou = ious.tolist()
        pp = []
        positives = [a for a in range(len(lab)) if 0 <= lab[a] < num_classes]
        for i in positives:
            for j in positives:
                if lab[i] == lab[j] and iou[i] > iou[j]:
                    # (confidence of the better box, confidence of the worse one)
                    pp.append((s[i][lab[i]], s[j][lab[j]]))
        out['P-P'] = count(pp)
    return out


# --- the references against numbers worked by hand ---------------------------------------

def test_ref_pairwise_by_hand():
    pos = [torch.tensor(0.8, dtype=torch.float64)]
    neg = [torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)]
    l1, l2 = math.exp(0.2 - 0.8), math.exp(0.5 - 0.8)
    assert ref_pairwise(pos, neg).item() == approx((l1 ** 2 + l2 ** 2) / (l1 + l2))
    assert ref_pairwise(pos, neg, reweight=False).item() == approx((l1 + l2) / 2)
    s1, s2 = 1 / (1 + math.exp(0.6)), 1 / (1 + math.exp(0.3))
    assert ref_pairwise(pos, neg, 'sigmoid').item() == approx(
        (s1 ** 2 + s2 ** 2) / (s1 + s2))


def test_ref_pairwise_gradient_by_hand():
    """d/df(n) = sum_p z L'(f(n) - f(p)): z is a constant, not differentiated."""
    pos = torch.tensor([0.8], dtype=torch.float64, requires_grad=True)
    neg = torch.tensor([0.2, 0.5], dtype=torch.float64, requires_grad=True)
    ref_pairwise(list(pos), list(neg)).backward()
    l1, l2 = math.exp(-0.6), math.exp(-0.3)
    z1, z2 = l1 / (l1 + l2), l2 / (l1 + l2)
    assert neg.grad.tolist() == [approx(z1 * l1), approx(z2 * l2)]
    assert pos.grad.item() == approx(-(z1 * l1 + z2 * l2))


def test_ref_mining_by_hand():
    neg = [torch.tensor(v, dtype=torch.float64) for v in (0.0, 0.1, 0.35, 0.5, 0.95, 1.0)]
    assert [float(n) for n in ref_mine(neg, 1, 'ohem', ratio=2)] == [1.0, 0.95]
    # three bins of width 1/3: {0, 0.1}, {0.35, 0.5}, {0.95, 1.0}
    means = [float(n) for n in ref_mine(neg, 1, 'group', num_groups=3)]
    assert means == [approx(0.05), approx(0.425), approx(0.975)]
    assert ref_group_bins([0.3, 0.3], 5) == [0, 0]


def test_ref_iou_by_hand():
    f = torch.tensor([0.9, 0.6, 0.3], dtype=torch.float64)
    s = torch.tensor([0.5, 0.7, 0.2], dtype=torch.float64)
    # only (0, 1) share class and level
    loss = ref_iou(f, s, labels=[1, 1, 1], levels=[0, 0, 1], alpha=2.0)
    assert loss.item() == approx(math.exp(-2.0 * (0.9 - 0.6) * (0.5 - 0.7)))


def test_ref_reverse_pairs_by_hand():
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.4], [0.5, 0.3], [0.2, 0.1]])
    labels = torch.tensor([0, 1, 2, 2])  # two foreground, two background
    ious = torch.tensor([0.8, 0.6, 0.0, 0.0])
    out = ref_reverse_pairs(scores, labels, ious)
    # F-B: fg 0.9, 0.4 vs bg max 0.5, 0.2: only 0.4 < 0.5 reversed
    assert out['F-B'] == (1.0, 4.0)
    # P-N class 0: 0.9 vs 0.2, 0.5, 0.2; class 1: 0.4 vs 0.1, 0.3, 0.1
    assert out['P-N'] == (0.0, 6.0)
    assert out['P-P'] == (0.0, 0.0)  # the two positives have different classes


def test_ref_weighted_pairwise_by_hand():
    """A negative of weight 2 is the same as the negative given twice."""
    pos = [torch.tensor(0.8, dtype=torch.float64)]
    neg = [torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)]
    l1, l2 = math.exp(0.2 - 0.8), math.exp(0.5 - 0.8)
    assert ref_pairwise(pos, neg, weights=[2, 1]).item() == approx(
        (2 * l1 ** 2 + l2 ** 2) / (2 * l1 + l2))
    assert ref_pairwise(pos, neg, reweight=False, weights=[2, 1]).item() == approx(
        (2 * l1 + l2) / 3)
    neg3 = [torch.tensor(v, dtype=torch.float64) for v in (0.0, 0.1, 0.35, 0.5, 0.95, 1.0)]
    means, counts = ref_mine(neg3, 1, 'group', num_groups=3, with_counts=True)
    assert counts == [2, 2, 2]
    copies = ref_mine_weighted(neg3[:3], 1, 'group', num_groups=3, group_weighting='size')
    assert [float(c) for c in copies] == [approx(0.05), approx(0.05), approx(0.35)]


def test_ref_class_sum_by_hand():
    """Two classes with one positive and one negative each: sum = the two pair terms."""
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.6], [0.3, 0.4]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 2])
    # class 0: pos 0.9, neg 0.2 and 0.3; class 1: pos 0.6, neg 0.1 and 0.4
    a1, a2, b1, b2 = (math.exp(x) for x in (0.2 - 0.9, 0.3 - 0.9, 0.1 - 0.6, 0.4 - 0.6))
    term0 = (a1 ** 2 + a2 ** 2) / (a1 + a2)
    term1 = (b1 ** 2 + b2 ** 2) / (b1 + b2)
    assert ref_class(scores, labels, mining='none').item() == approx(term0 + term1)
    assert ref_class(scores, labels, mining='none', class_reduction='mean').item() == approx(
        (term0 + term1) / 2)
