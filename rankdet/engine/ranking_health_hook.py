"""RankingHealthHook: a ranking (or focal) detector's classification health in the logs.

RankDetNet's ranking losses (Liu et al., CVPR 2021) compare sigmoid confidences. From a
weak warm start they can fall into a trap that the loss curve hides: every confidence
saturates near 0, every pair difference is 0, every ranking term sits at its flat value
L_rank(0) (1 for ``exp``), and no gradient passes the flat sigmoid. Meanwhile group
mining can let the bulk of background anchors drift up. This hook makes both visible in
every run, focal baselines included, so that focal and ranking curves compare
(docs/method.md section 11).
"""
import inspect
from typing import Optional

import torch
from mmengine.hooks import Hook, LoggerHook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn

from .ranking_health import (flat_term_values, score_counts, score_statistics,
                             term_deviation)

__all__ = ['RankingHealthHook']


@HOOKS.register_module()
class RankingHealthHook(Hook):
    """Logs the health of the head's classification at the logger's interval.

    Registered in mmengine's root ``HOOKS``, so that mmdet-scope (2D) and mmdet3d-scope
    (3D) configs alike find it::

        custom_hooks = [dict(type='RankingHealthHook')]

    Scalars, written like the losses to the text log and to every visualisation backend
    (``vis_data/scalars.json``, TensorBoard):

    - ``rank/pos_score_mean``: mean confidence f = sigmoid(logit) of the positive anchors
      for their ground-truth class;
    - ``rank/bg_above_0.2``: share of the background anchors whose highest class
      confidence is above ``bg_threshold`` (the key names the threshold);
    - ``rank/saturated`` (ranking heads only): 1 when every enabled ranking term has
      stayed within ``flat_tol`` of its flat value (its value were all scores equal:
      L_rank(0) per image and term, 1 for ``exp``, times the image's classes for Eq. 4's
      sum; see :func:`rankdet.engine.ranking_health.flat_term_values`) for the last
      ``saturation_iters`` iterations, else 0. The first time it turns 1 the hook warns
      once, naming the cause and the remedies.

    Cost: nothing is run again. A forward hook on the head's loss module sees the
    arguments the head passes it at each step: for a ranking head the ``RankingLoss``
    call (logits ``[B, A, C]``, the head's own labels and weights, levels, divisor) and
    its output; for a focal head each per-level call of its ``loss_cls`` (logits
    ``[M, C]`` and labels). The confidence statistics are computed only at logging
    iterations; the flat check runs every iteration on label counts (a few small ops).
    ``tools/benchmark_health.py`` measures it against the step time.

    In multi-process training each process reads its own batch; the logged values are
    those of process 0, as for the losses.

    Args:
        saturation_iters (int): N, the iterations the ranking terms must stay flat for
            ``rank/saturated`` to be 1 (50).
        flat_tol (float): the largest distance of a term from its flat value that counts
            as flat (1e-3).
        bg_threshold (float): the confidence of ``rank/bg_above_*`` (0.2).
        interval (int, optional): compute the statistics every ``interval`` iterations;
            None (default): at the iterations the ``LoggerHook`` logs (50 without one).
        head (str): the model's attribute holding the dense head (``'bbox_head'``, as
            mmdet's single-stage detectors and SA-SSD have).
    """

    priority = 'NORMAL'  # after_train_iter runs before LoggerHook's (BELOW_NORMAL)

    def __init__(self, saturation_iters: int = 50, flat_tol: float = 1e-3,
                 bg_threshold: float = 0.2, interval: Optional[int] = None,
                 head: str = 'bbox_head') -> None:
        if isinstance(saturation_iters, bool) or not isinstance(saturation_iters, int) \
                or saturation_iters < 1:
            raise ValueError(f'RankingHealthHook: saturation_iters must be an int >= 1, '
                             f'got {saturation_iters!r}')
        if isinstance(flat_tol, bool) or not isinstance(flat_tol, (int, float)) \
                or not flat_tol >= 0:
            raise ValueError(f'RankingHealthHook: flat_tol must be a number >= 0, got '
                             f'{flat_tol!r}')
        if isinstance(bg_threshold, bool) or not isinstance(bg_threshold, (int, float)) \
                or not 0 <= bg_threshold < 1:
            raise ValueError(f'RankingHealthHook: bg_threshold must be a confidence in '
                             f'[0, 1), got {bg_threshold!r}')
        if interval is not None and (isinstance(interval, bool)
                                     or not isinstance(interval, int) or interval < 1):
            raise ValueError(f'RankingHealthHook: interval must be None (the logger\'s) or '
                             f'an int >= 1, got {interval!r}')
        if not isinstance(head, str) or not head:
            raise ValueError(f'RankingHealthHook: head must name the model\'s head '
                             f'attribute, e.g. \'bbox_head\', got {head!r}')
        self.saturation_iters = saturation_iters
        self.flat_tol = float(flat_tol)
        self.bg_threshold = float(bg_threshold)
        self.interval = interval
        self.head = head
        self.bg_key = f'rank/bg_above_{self.bg_threshold:g}'
        self._handles = []
        self._ranking_loss = None
        self._watched = None  # (loss module, forward-hook callback)
        self._logger_hook = None
        self._signature = None
        self._in_step = False
        self._stats_due = False
        self._counts = None
        self._deviation = None
        self.flat_streak = 0  # consecutive iterations with every ranking term flat
        self.warned = False

    # ------------------------------------------------------------------ set-up
    def before_train(self, runner) -> None:
        """Find the head's loss module and attach the forward hook that reads it."""
        self._remove_handles()
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, self.head, None)
        if not isinstance(head, nn.Module):
            raise ValueError(f'RankingHealthHook: the model ({type(model).__name__}) has no '
                             f'head module {self.head!r}; pass head=<attribute> for a '
                             f'detector that keeps its dense head elsewhere')
        from rankdet.models.common import RankingLoss

        ranking = [m for m in head.modules() if isinstance(m, RankingLoss)]
        if len(ranking) > 1:
            raise ValueError(f'RankingHealthHook: {type(head).__name__} holds '
                             f'{len(ranking)} RankingLoss modules; expected one')
        if ranking:
            self._ranking_loss = ranking[0]
            self._signature = inspect.signature(RankingLoss.forward)
            self._watched = (self._ranking_loss, self._read_ranking_call)
        else:  # a point-wise (focal) head: its loss_cls, called level by level
            pointwise = getattr(head, 'loss_cls', None)
            if not isinstance(pointwise, nn.Module):
                raise ValueError(f'RankingHealthHook: {type(head).__name__} has neither a '
                                 f'RankingLoss nor a loss_cls module to read its scores from')
            self._ranking_loss = None
            self._signature = inspect.signature(pointwise.forward)
            self._watched = (pointwise, self._read_pointwise_call)
        self.attach()
        self._logger_hook = next((h for h in runner.hooks if isinstance(h, LoggerHook)), None)

    def after_train(self, runner) -> None:
        self._remove_handles()

    def attach(self, reader=None) -> None:
        """(Re-)attach the forward hook to the loss module found by ``before_train``;
        ``reader`` replaces the callback (``tools/benchmark_health.py`` times it)."""
        self._remove_handles()
        module, callback = self._watched
        self._handles.append(module.register_forward_hook(reader or callback,
                                                          with_kwargs=True))

    def detach(self) -> None:
        """Remove the forward hook (``before_train`` or :meth:`attach` adds it back)."""
        self._remove_handles()

    def _remove_handles(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _logs_at(self, runner, batch_idx: int) -> bool:
        """Whether the LoggerHook will log after this iteration (its own rule)."""
        logger = self._logger_hook
        if self.interval is not None or logger is None:
            return self.every_n_inner_iters(batch_idx, self.interval or 50)
        if logger.every_n_inner_iters(batch_idx, logger.interval):
            return True
        return (logger.end_of_epoch(runner.train_dataloader, batch_idx)
                and (not logger.ignore_last
                     or len(runner.train_dataloader) <= logger.interval))

    # ------------------------------------------------------------------ the step
    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._in_step = True
        self._stats_due = self._logs_at(runner, batch_idx)
        self._counts = None
        self._deviation = None

    def _read_ranking_call(self, module, args, kwargs, output) -> None:
        """Forward hook of the RankingLoss: its arguments and output at this step."""
        if not self._in_step:
            return
        call = self._signature.bind(module, *args, **kwargs).arguments
        pred, target, weight = call['pred'], call['target'], call.get('weight')
        with torch.no_grad():
            flat = flat_term_values(module, target, weight, levels=call.get('levels'),
                                    avg_factor=call.get('avg_factor'),
                                    reduction_override=call.get('reduction_override'),
                                    num_classes=pred.shape[-1])
            self._deviation = term_deviation(output, flat)
            if self._stats_due:
                self._counts = score_counts(pred, target, weight, self.bg_threshold)

    def _read_pointwise_call(self, module, args, kwargs, output) -> None:
        """Forward hook of a point-wise loss_cls: one call per level, counts add up."""
        if not (self._in_step and self._stats_due):
            return
        # mmdet's losses take (pred, target, weight, ...): read them by position or name
        params = list(self._signature.parameters)[:3]
        call = self._signature.bind_partial(*args, **kwargs).arguments
        logits, labels = call.get(params[0]), call.get(params[1])
        if not (isinstance(logits, torch.Tensor) and isinstance(labels, torch.Tensor)
                and logits.dim() == 2 and labels.shape == logits.shape[:1]):
            return  # not the (logits [M, C], labels [M]) call of an anchor head
        counts = score_counts(logits, labels, call.get(params[2]), self.bg_threshold)
        self._counts = counts if self._counts is None else self._counts + counts

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        self._in_step = False
        message_hub = runner.message_hub
        if self._ranking_loss is not None:
            flat = (self._deviation is not None
                    and float(self._deviation) <= self.flat_tol)
            self.flat_streak = self.flat_streak + 1 if flat else 0
            if self.saturated and not self.warned:
                self.warned = True
                self._warn(runner)
        if not self._stats_due:
            return
        if self._counts is not None:
            stats = score_statistics(self._counts)
            if 'pos_score_mean' in stats:
                message_hub.update_scalar('train/rank/pos_score_mean',
                                          stats['pos_score_mean'])
            if 'bg_above' in stats:
                message_hub.update_scalar(f'train/{self.bg_key}', stats['bg_above'])
        if self._ranking_loss is not None:
            message_hub.update_scalar('train/rank/saturated', float(self.saturated))
        self._counts = None

    @property
    def saturated(self) -> bool:
        """Every enabled ranking term flat for the last ``saturation_iters`` iterations."""
        return self.flat_streak >= self.saturation_iters

    def _warn(self, runner) -> None:
        loss = self._ranking_loss
        if getattr(loss, 'score_space', 'prob') == 'logit':
            cause = ('all logits equal (the class branch has collapsed to a constant), so '
                     'every pair difference is 0 and every ranking loss is exactly its '
                     'flat value')
            remedies = ('a longer (converged) focal warm start (load_from), group mining '
                        f"instead of OHEM (mining='group', now {loss.mining!r}), a larger "
                        'learning rate or class prior')
        else:
            cause = ('all scores saturated in the flat region of the sigmoid, so every '
                     'pair difference is 0, every ranking loss is exactly its flat value '
                     'and no gradient reaches the classifier; training will not recover '
                     'by itself')
            remedies = ('a longer (converged) focal warm start (load_from), ranking logits '
                        "instead of probabilities (loss_cls score_space='logit', "
                        "rank_fn='logistic'), group mining instead of OHEM "
                        f"(mining='group', now {loss.mining!r}), a larger learning rate or "
                        'class prior')
        runner.logger.warning(
            f'RankingHealthHook: the ranking losses are stuck at their flat value '
            f'(rank_fn={loss.rank_fn!r}: L_rank(0) per pair, the value with all scores '
            f'equal) for the last {self.saturation_iters} iterations, up to iteration '
            f'{runner.iter + 1}. Cause: {cause}. Usual remedies: {remedies}. '
            f'rank/saturated logs 1 while this lasts.')
