"""Top-level config keys that nothing reads: ``trian_cfg = dict(...)`` is silently ignored
by mmengine (the Runner reads ``train_cfg`` and never looks at the rest), so
tools/train.py and tools/test.py warn about it, naming the nearest known key.

A top-level key is known when

- mmengine's Runner takes it (a parameter of ``Runner.__init__``, which ``from_cfg``
  fills from the config of the same names), or mmengine, mmdet, mmdet3d or rankdet read
  it from the whole config (:data:`READ_FROM_CFG`); or
- it is one of the config's own variables: a name that the config file or one of its
  ``_base_`` files (recursively, ``mmdet::`` bases too) refers to, such as ``data_root``
  in ``ann_file=data_root + '...'``, or ``{{_base_.data_root}}`` / ``_base_.data_root``.

Keys starting with ``_`` (``_base_``, ``_deprecation_``) are mmengine's own.
"""
from __future__ import annotations

import ast
import difflib
import functools
import inspect
import os.path as osp
import re
import warnings

# Keys read from the whole config besides Runner.__init__'s parameters, in the pinned
# stack's sources: mmengine 0.10.7 (Runner.wrap_model, _maybe_compile and friends;
# FlexibleRunner.from_cfg; Config), mmdet 3.3 / mmdet3d 1.4 tools (train.py, test.py
# --tta) and rankdet (apps.runner.fit_schedule).
READ_FROM_CFG = frozenset({
    'model_wrapper_cfg', 'sync_bn', 'find_unused_parameters', 'activation_checkpointing',
    'efficient_conv_bn_eval', 'compile',          # mmengine Runner, from self.cfg
    'strategy',                                   # mmengine FlexibleRunner.from_cfg
    'custom_imports',                             # mmengine Config.fromfile
    'runner_type', 'tta_model', 'tta_pipeline',   # mmdet / mmdet3d tools
    'warmup_iters',                               # apps.runner.fit_schedule
})

_BASE_VAR = re.compile(r'\{\{\s*_base_\.(\w+)')
_PLACEHOLDER = re.compile(r'\{\{[^{}]*\}\}')  # {{_base_.x}}, {{$ENV:default}}


def runner_keys() -> frozenset:
    """The top-level keys mmengine's Runner (and FlexibleRunner) and the tools read."""
    from mmengine.runner import FlexibleRunner, Runner

    params = set()
    for runner in (Runner, FlexibleRunner):
        params.update(name for name, p in inspect.signature(runner.__init__).parameters
                      .items() if name != 'self' and p.kind is p.POSITIONAL_OR_KEYWORD)
    params.discard('cfg')  # the config itself, not a key of it
    return frozenset(params) | READ_FROM_CFG


@functools.lru_cache(maxsize=None)
def _base_path(base: str, filename: str) -> str:
    """mmengine's own resolution of a relative or ``mmdet::`` base path (the latter reads
    the package's model-zoo metafiles: a second per call, hence the cache)."""
    from mmengine.config import Config

    return osp.abspath(Config._get_cfg_path(base, filename)[0])


def config_files(filename) -> list:
    """``filename`` and the files of its ``_base_`` chain, depth first, each once."""
    from mmengine.config import Config

    seen, order, todo = set(), [], [osp.abspath(filename)]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        order.append(path)
        if not path.endswith('.py'):
            continue  # yaml / json configs: no variables to refer to
        bases = [_base_path(base, path) for base in Config._get_base_files(path)]
        todo.extend(reversed(bases))
    return order


def referenced_names(filename) -> set:
    """The names a Python config file refers to (reads), ``_base_.x`` and ``{{_base_.x}}``
    included. ``{{...}}`` placeholders are replaced before parsing, as mmengine does."""
    with open(filename, encoding='utf-8') as f:
        text = f.read()
    names = set(_BASE_VAR.findall(text))
    tree = ast.parse(_PLACEHOLDER.sub('None', text), filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == '_base_'):
            names.add(node.attr)
    return names


def unknown_keys(cfg) -> list:
    """``[(key, nearest known key or None)]`` for the top-level keys of ``cfg`` (an
    mmengine Config read from a file) that nothing reads."""
    known = set(runner_keys())
    if cfg.filename:
        for path in config_files(cfg.filename):
            if path.endswith('.py'):
                known |= referenced_names(path)
    unknown = []
    for key in cfg.keys():
        if key.startswith('_') or key in known:
            continue
        nearest = difflib.get_close_matches(key, sorted(known - {key}), n=1, cutoff=0.6)
        unknown.append((key, nearest[0] if nearest else None))
    return unknown


def warn_unknown_keys(cfg) -> list:
    """Warn (UserWarning) once per unread top-level key of ``cfg``, naming the key and the
    nearest known one: ``trian_cfg`` -> "... did you mean 'train_cfg'?". Returns the
    messages."""
    messages = []
    for key, nearest in unknown_keys(cfg):
        hint = f"; did you mean '{nearest}'?" if nearest else ''
        messages.append(f"{cfg.filename}: top-level config key '{key}' is read by neither "
                        f"mmengine's Runner nor the config's own variables: it has no "
                        f"effect{hint}")
        warnings.warn(messages[-1], UserWarning, stacklevel=2)
    return messages
