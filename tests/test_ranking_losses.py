"""Global, class-specific and IoU-guided ranking losses against the brute-force references."""
import pytest
import torch

from rankdet.ranking import (class_ranking_loss, get_rank_function, global_ranking_loss,
                             iou_ranking_loss)
from rankdet.ranking.class_loss import batched_class_ranking_loss
from rankdet.ranking.global_loss import batched_global_ranking_loss
from rankdet.ranking.selection import select_scores
from test_ranking_reference import ref_class, ref_global, ref_iou

RANK_FNS = ['exp', 'sigmoid', 'logistic']
SEEDS = [0, 1, 2]
NUM_CLASSES = 4


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)


def random_image(seed, num_anchors=48, num_classes=NUM_CLASSES):
    """float64 probabilities [A, C] and labels [A]: ~1/4 foreground of 3 classes, some
    ignored, the rest background."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(num_anchors, num_classes, generator=gen, dtype=torch.float64)
    kind = torch.rand(num_anchors, generator=gen)
    labels = torch.full((num_anchors,), num_classes, dtype=torch.long)
    labels[kind < 0.1] = -1
    fg = kind > 0.75
    labels[fg] = torch.randint(0, num_classes - 1, (int(fg.sum()),), generator=gen)
    return scores.requires_grad_(True), labels


def check_against(fn, ref, scores, labels, **kwargs):
    loss = fn(scores, labels, **kwargs)
    expected = ref(scores, labels, **{('ratio' if k == 'ohem_ratio' else k): v
                                      for k, v in kwargs.items()})
    assert_close(loss, expected)
    got, = torch.autograd.grad(loss, scores)
    want, = torch.autograd.grad(expected, scores)
    assert_close(got, want)


@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('mining', ['group', 'ohem', 'none'])
@pytest.mark.parametrize('seed', SEEDS)
def test_global_matches_reference(rank_fn, mining, seed):
    scores, labels = random_image(seed)
    check_against(global_ranking_loss, ref_global, scores, labels, rank_fn=rank_fn,
                  mining=mining, ohem_ratio=1, num_groups=5)


@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('mining', ['group', 'ohem', 'none'])
@pytest.mark.parametrize('seed', SEEDS)
def test_class_matches_reference(rank_fn, mining, seed):
    scores, labels = random_image(seed)
    check_against(class_ranking_loss, ref_class, scores, labels, rank_fn=rank_fn,
                  mining=mining, ohem_ratio=2, num_groups=3)


@pytest.mark.parametrize('reweight', [True, False])
def test_reweight_switch_matches_reference(reweight):
    scores, labels = random_image(9)
    for fn, ref in [(global_ranking_loss, ref_global), (class_ranking_loss, ref_class)]:
        check_against(fn, ref, scores, labels, rank_fn='exp', mining='ohem', reweight=reweight)


def test_paper_defaults():
    """Defaults are the paper's: exp, group mining, 15 global / 3 per-class groups."""
    scores, labels = random_image(10, num_anchors=200)
    assert_close(global_ranking_loss(scores, labels), ref_global(scores, labels, 'exp',
                                                                 'group', num_groups=15))
    assert_close(class_ranking_loss(scores, labels), ref_class(scores, labels, 'exp',
                                                               'group', num_groups=3))


@pytest.mark.parametrize('fn', [global_ranking_loss, class_ranking_loss])
def test_batch_equals_single_images(fn):
    images = [random_image(seed) for seed in (11, 12, 13)]
    scores = torch.stack([s.detach() for s, _ in images]).requires_grad_(True)
    labels = torch.stack([l for _, l in images])
    labels[1, labels[1] < NUM_CLASSES] = NUM_CLASSES  # an image without foreground
    losses = fn(scores, labels, rank_fn='sigmoid', mining='ohem')
    for b in range(3):
        assert_close(losses[b], fn(scores[b], labels[b], rank_fn='sigmoid', mining='ohem'))
    assert losses[1].item() == 0
    grad, = torch.autograd.grad(losses.sum(), scores)
    assert torch.all(grad[1] == 0) and torch.any(grad[0] != 0)


@pytest.mark.parametrize('batched', [batched_global_ranking_loss, batched_class_ranking_loss])
@pytest.mark.parametrize('rank_fn', ['sigmoid', 'logistic'])
def test_chunked_losses_equal_one_pass(batched, rank_fn):
    scores, labels = random_image(14)
    whole = batched(select_scores(scores[None], labels[None]), rank_fn=rank_fn, mining='none')
    chunked = batched(select_scores(scores[None], labels[None]), rank_fn=rank_fn,
                      mining='none', max_chunk_pairs=7)
    assert_close(chunked, whole)
    assert_close(torch.autograd.grad(chunked.sum(), scores)[0],
                 torch.autograd.grad(whole.sum(), scores)[0])


@pytest.mark.parametrize('fn', [global_ranking_loss, class_ranking_loss])
def test_from_logits_equals_probabilities(fn):
    scores, labels = random_image(15)
    logits = torch.logit(scores.detach()).requires_grad_(True)
    for mining in ['group', 'ohem', 'none']:
        from_logits = fn(logits, labels, mining=mining, from_logits=True)
        probabilities = fn(logits.sigmoid(), labels, mining=mining)
        assert_close(from_logits, probabilities)
        assert_close(torch.autograd.grad(from_logits, logits)[0],
                     torch.autograd.grad(probabilities, logits)[0])


@pytest.mark.parametrize('fn', [global_ranking_loss, class_ranking_loss])
@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('mining', ['group', 'ohem'])
def test_edge_cases(fn, rank_fn, mining):
    scores, labels = random_image(16)
    # no positives: zero loss that still backpropagates
    background = torch.full_like(labels, NUM_CLASSES)
    loss = fn(scores, background, rank_fn=rank_fn, mining=mining)
    assert loss.item() == 0
    grad, = torch.autograd.grad(loss, scores)
    assert torch.all(grad == 0)
    # one positive
    one = background.clone()
    one[3] = 1
    check_against(fn, ref_global if fn is global_ranking_loss else ref_class, scores, one,
                  rank_fn=rank_fn, mining=mining)
    # no negatives at all (everything foreground or ignored)
    no_neg = torch.where(labels == NUM_CLASSES, torch.full_like(labels, -1), labels)
    no_neg[0] = 0
    if fn is global_ranking_loss:
        loss = fn(scores, no_neg, rank_fn=rank_fn, mining=mining)
        assert loss.item() == 0 and torch.all(torch.autograd.grad(loss, scores)[0] == 0)
    # all scores equal: every pair is L(0), gradients finite (how ties share the gradient
    # of max / top-k differs between implementations, so only the value is compared)
    # (the class-specific loss sums over the image's classes, Eq. 4)
    equal = torch.full_like(scores, 0.5).requires_grad_(True)
    loss = fn(equal, labels, rank_fn=rank_fn, mining=mining)
    num_terms = 1 if fn is global_ranking_loss else len(set(labels[
        (labels >= 0) & (labels < NUM_CLASSES)].tolist()))
    assert num_terms >= (1 if fn is global_ranking_loss else 2)
    assert_close(loss, num_terms * get_rank_function(rank_fn)(
        torch.zeros((), dtype=torch.float64)))
    assert torch.isfinite(torch.autograd.grad(loss, equal)[0]).all()


@pytest.mark.parametrize('fn', [global_ranking_loss, class_ranking_loss])
def test_invalid_inputs_raise(fn):
    scores, labels = random_image(17)
    bad = scores.detach().clone()
    for value in [1.2, -0.5, float('nan'), float('inf')]:
        bad[5, 1] = value
        with pytest.raises(ValueError, match='cls_scores'):
            fn(bad, labels)
    nan_logits = torch.zeros(4, 3)
    nan_logits[0, 0] = float('nan')
    with pytest.raises(ValueError, match='cls_scores contains NaN'):
        fn(nan_logits, torch.tensor([0, 1, 3, 3]), from_logits=True)
    with pytest.raises(ValueError, match='labels must hold 0..3'):
        fn(scores, torch.full_like(labels, NUM_CLASSES + 1))
    with pytest.raises(ValueError, match='labels must have shape'):
        fn(scores, labels[:-1])
    with pytest.raises(ValueError, match='labels must be an integer'):
        fn(scores, labels.double())
    with pytest.raises(ValueError, match='mining'):
        fn(scores, labels, mining='random')
    with pytest.raises(ValueError, match='rank_fn'):
        fn(scores, labels, rank_fn='hinge')


# --- IoU-guided ranking loss --------------------------------------------------------------

def random_positives(seed, num=14, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(num, generator=gen, dtype=dtype).requires_grad_(True)
    ious = torch.rand(num, generator=gen, dtype=dtype).requires_grad_(True)
    labels = torch.randint(0, 2, (num,), generator=gen)
    levels = torch.randint(0, 3, (num,), generator=gen)
    return scores, ious, labels, levels


@pytest.mark.parametrize('rank_fn', RANK_FNS)
@pytest.mark.parametrize('iou_bp', ['lower_detached', 'none', 'both'])
@pytest.mark.parametrize('seed', SEEDS)
def test_iou_matches_reference(rank_fn, iou_bp, seed):
    scores, ious, labels, levels = random_positives(seed)
    loss = iou_ranking_loss(scores, ious, labels, levels, alpha=1.5, rank_fn=rank_fn,
                            iou_bp=iou_bp)
    expected = ref_iou(scores, ious, labels, levels, alpha=1.5, rank_fn=rank_fn,
                       iou_bp=iou_bp)
    assert_close(loss, expected)
    want = torch.autograd.grad(expected, (scores, ious), allow_unused=True)
    for got, want, inp in zip(torch.autograd.grad(loss, (scores, ious)), want,
                              (scores, ious)):
        assert_close(got, torch.zeros_like(inp) if want is None else want)


def test_iou_merged_levels_and_chunks():
    scores, ious, labels, levels = random_positives(3, num=30)
    merged = iou_ranking_loss(scores, ious, labels)  # pos_levels=None: one level
    assert_close(merged, ref_iou(scores, ious, labels, torch.zeros_like(levels)))
    from rankdet.ranking.iou_loss import batched_iou_ranking_loss
    groups, images = labels, torch.zeros_like(labels)
    whole = batched_iou_ranking_loss(scores, ious, groups, images, 1)
    chunked = batched_iou_ranking_loss(scores, ious, groups, images, 1, max_chunk_pairs=20)
    assert_close(chunked, whole)
    for got, want in zip(torch.autograd.grad(chunked.sum(), (scores, ious)),
                         torch.autograd.grad(whole.sum(), (scores, ious))):
        assert_close(got, want)


def test_iou_bp_rule():
    """The lower-confidence sample's IoU gets no gradient, the other one does."""
    scores = torch.tensor([0.9, 0.4], dtype=torch.float64, requires_grad=True)
    for first, second in [(0.3, 0.8), (0.8, 0.3)]:
        ious = torch.tensor([first, second], dtype=torch.float64, requires_grad=True)
        labels = torch.tensor([2, 2])
        grad_ious = {}
        for iou_bp in ['lower_detached', 'none', 'both']:
            loss = iou_ranking_loss(scores, ious, labels, iou_bp=iou_bp)
            grad_scores, grad_ious[iou_bp] = torch.autograd.grad(loss, (scores, ious))
            assert torch.all(grad_scores != 0)
        assert grad_ious['lower_detached'][1] == 0   # sample 1 has the lower confidence
        assert grad_ious['lower_detached'][0] != 0
        assert torch.all(grad_ious['none'] == 0)
        assert torch.all(grad_ious['both'] != 0)
        # the undetached IoU is pushed up (its gradient is negative) in either order
        assert grad_ious['lower_detached'][0] < 0


def test_iou_batch_equals_single_images():
    scores, ious, labels, levels = random_positives(4, num=20)
    images = torch.tensor([0] * 8 + [2] * 12)
    losses = iou_ranking_loss(scores, ious, labels, levels, pos_images=images, num_images=3)
    assert_close(losses[0], iou_ranking_loss(scores[:8], ious[:8], labels[:8], levels[:8]))
    assert_close(losses[2], iou_ranking_loss(scores[8:], ious[8:], labels[8:], levels[8:]))
    assert losses[1].item() == 0


def test_iou_edge_cases():
    scores, ious, labels, levels = random_positives(5)
    for num in [0, 1]:
        loss = iou_ranking_loss(scores[:num], ious[:num], labels[:num], levels[:num])
        assert loss.item() == 0
        loss.backward()
        assert torch.all(scores.grad == 0) and torch.all(ious.grad == 0)
    # no pair shares class and level: zero, still connected
    loss = iou_ranking_loss(scores[:2], ious[:2], torch.tensor([0, 1]))
    assert loss.item() == 0 and loss.requires_grad
    # all scores equal: L(0) for every pair, no gradient to the IoUs
    equal = torch.full((5,), 0.5, dtype=torch.float64, requires_grad=True)
    loss = iou_ranking_loss(equal, ious[:5], torch.zeros(5, dtype=torch.long))
    assert loss.item() == pytest.approx(1.0)
    assert torch.all(torch.autograd.grad(loss, ious)[0] == 0)


def test_iou_invalid_inputs_raise():
    scores, ious, labels, levels = random_positives(6, num=4)
    with pytest.raises(ValueError, match='pos_ious'):
        iou_ranking_loss(scores, torch.tensor([0.2, 1.3, 0.1, 0.4]).double(), labels)
    with pytest.raises(ValueError, match='pos_scores contains NaN'):
        iou_ranking_loss(torch.tensor([0.2, float('nan'), 0.1, 0.4]), ious, labels)
    with pytest.raises(ValueError, match='pos_ious must have shape'):
        iou_ranking_loss(scores, ious[:3], labels)
    with pytest.raises(ValueError, match='pos_levels'):
        iou_ranking_loss(scores, ious, labels, -levels - 1)
    with pytest.raises(ValueError, match='iou_bp'):
        iou_ranking_loss(scores, ious, labels, iou_bp='higher')
    with pytest.raises(ValueError, match='alpha'):
        iou_ranking_loss(scores, ious, labels, alpha=0)


def test_selection_gradcheck():
    """The one-scatter gather of max scores and class columns has the gradient of plain
    indexing (finite differences, float64)."""
    gen = torch.Generator().manual_seed(18)
    scores = torch.rand(2, 9, NUM_CLASSES, generator=gen, dtype=torch.float64)
    labels = torch.tensor([[0, 2, 2, 4, 4, -1, 4, 0, 4], [1, 4, 4, 4, 4, 4, 4, 4, 4]])
    weights = [torch.rand(2, 9, generator=gen, dtype=torch.float64),
               torch.rand(3, 9, generator=gen, dtype=torch.float64)]

    def selected(x):
        sel = select_scores(x, labels, from_logits=True)
        return (sel.max_scores * weights[0]).sum() + (sel.columns * weights[1]).sum()

    assert torch.autograd.gradcheck(selected, (scores.requires_grad_(True),))
    sel = select_scores(scores, labels)
    assert sel.problem_image.tolist() == [0, 0, 1] and sel.problem_class.tolist() == [0, 2, 1]
    torch.testing.assert_close(sel.columns[1], scores[0, :, 2])
    torch.testing.assert_close(sel.max_scores, scores.max(dim=2).values)
