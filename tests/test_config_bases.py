"""One dataset base per data set (issue 15): the structure that keeps configs2d/ and
configs3d/ from repeating themselves, and what it buys a newcomer.

- COCO-layout sets (coco128, the synthetic shapes) derive from ``coco_detection.py``,
  KITTI-layout ones (the CPU demo's range, three classes) from ``kitti-3d-car.py``: the
  pipelines and loaders are written once, and a variant's resolved pipeline differs from
  its data set's only in what the variant says (root, range, sampling, classes, size).
- ``data_root`` is one assignment: rewriting that one line of any config that sets it
  moves every path the config resolves (each dataloader's dataset, the evaluators'
  annotation files, KITTI's GT-sampling database in the pipeline too).

Everything is checked on configs resolved by mmengine's own ``Config.fromfile``.
"""
import ast
import re
from pathlib import Path

import pytest

pytest.importorskip('mmengine')

from mmengine.config import Config  # noqa: E402

from rankdet.config_keys import config_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS_2D = ROOT / 'configs2d' / '_base_' / 'datasets'
DATASETS_3D = ROOT / 'configs3d' / '_base_' / 'datasets'
# each data set's one full definition, and the variants that inherit it
FAMILIES = {
    DATASETS_2D / 'coco_detection.py': [DATASETS_2D / 'coco128_demo.py',
                                        DATASETS_2D / 'synthetic_demo.py'],
    DATASETS_3D / 'kitti-3d-car.py': [DATASETS_3D / 'kitti-3d-car_cpu-demo.py',
                                      DATASETS_3D / 'kitti-3d-3class.py'],
}
ALL_CONFIGS = sorted(p for folder in ('configs2d', 'configs3d')
                     for p in (ROOT / folder).rglob('*.py'))
LEAVES = [p for p in ALL_CONFIGS if '_base_' not in p.parts]
ROOTED = [p for p in ALL_CONFIGS  # the configs that set data_root themselves
          if re.search(r'^data_root\s*=', p.read_text(), re.MULTILINE)]


def rel(path):
    return str(Path(path).relative_to(ROOT))


def load(path):
    return Config.fromfile(str(path))


def datasets(cfg):
    """(name, dataset cfg) of every dataloader the config has."""
    return [(name, cfg[name].dataset) for name in
            ('train_dataloader', 'val_dataloader', 'test_dataloader') if cfg.get(name)]


def evaluators(cfg):
    return [(name, cfg[name]) for name in ('val_evaluator', 'test_evaluator')
            if cfg.get(name)]


def object_samplers(cfg):
    """The GT-sampling databases the train dataloader's pipeline uses (3D)."""
    return [step.db_sampler for step in cfg.train_dataloader.dataset.pipeline
            if step.type == 'ObjectSample']


def test_the_dataset_bases_are_those_of_the_families():
    """No dataset base outside the families: a new data set file either joins a family
    (and this test) or is its own data set's one full definition."""
    named = {p for full, variants in FAMILIES.items() for p in [full, *variants]}
    assert set(DATASETS_2D.glob('*.py')) | set(DATASETS_3D.glob('*.py')) == named


@pytest.mark.parametrize('full', list(FAMILIES), ids=rel)
def test_a_data_sets_full_base_stands_alone(full):
    assert Config._get_base_files(str(full)) == []
    cfg = load(full)
    assert cfg.train_pipeline and cfg.test_pipeline and cfg.train_dataloader


@pytest.mark.parametrize('variant,full', [(v, f) for f, vs in FAMILIES.items() for v in vs],
                         ids=lambda p: rel(p) if isinstance(p, Path) else p)
def test_a_variant_inherits_its_data_sets_base_and_writes_no_pipeline(variant, full):
    """The variant's only base is the full one; it writes no pipeline step of its own
    (the steps come from the base, re-made with the variant's settings)."""
    bases = Config._get_base_files(str(variant))
    assert [(variant.parent / base).resolve() for base in bases] == [full]
    assert "type='Load" not in variant.read_text()
    cfg, base = load(variant), load(full)
    for name in ('train_pipeline', 'test_pipeline'):
        assert [s.type for s in cfg[name]] == [s.type for s in base[name]]
    for name, dataset in datasets(cfg):
        assert [s.type for s in dataset.pipeline] == [s.type for s in base[name].dataset.pipeline]


def changed_fields(steps, base_steps):
    """{step type: the fields whose values differ}, step by step."""
    out = {}
    for step, base_step in zip(steps, base_steps):
        keys = set(step) | set(base_step)
        diff = sorted(k for k in keys if step.get(k) != base_step.get(k))
        if diff:
            out[step.type] = diff
    return out


def test_the_cpu_demo_kitti_differs_in_root_range_sampling_and_workers_only():
    cfg = load(DATASETS_3D / 'kitti-3d-car_cpu-demo.py')
    base = load(DATASETS_3D / 'kitti-3d-car.py')
    assert changed_fields(cfg.train_pipeline, base.train_pipeline) == {
        'ObjectSample': ['db_sampler'], 'PointsRangeFilter': ['point_cloud_range'],
        'ObjectRangeFilter': ['point_cloud_range']}
    assert changed_fields(cfg.test_pipeline, base.test_pipeline) == {
        'PointsRangeFilter': ['point_cloud_range']}
    sampler, base_sampler = object_samplers(cfg)[0], object_samplers(base)[0]
    assert sorted(k for k in base_sampler if sampler[k] != base_sampler[k]) == [
        'data_root', 'info_path', 'sample_groups']
    assert cfg.point_cloud_range == [0, -20, -3, 35.2, 20, 1]
    for name in ('train_dataloader', 'val_dataloader'):
        loader, base_loader = cfg[name], base[name]
        assert sorted(k for k in base_loader if k != 'dataset'
                      and loader[k] != base_loader[k]) == ['num_workers',
                                                           'persistent_workers']
        assert loader.num_workers == 0 and not loader.persistent_workers


def test_the_3class_kitti_differs_in_classes_and_sampling_only():
    cfg, base = load(DATASETS_3D / 'kitti-3d-3class.py'), load(DATASETS_3D / 'kitti-3d-car.py')
    assert cfg.class_names == ['Pedestrian', 'Cyclist', 'Car']
    assert changed_fields(cfg.train_pipeline, base.train_pipeline) == {
        'ObjectSample': ['db_sampler']}
    assert cfg.test_pipeline == base.test_pipeline
    assert list(object_samplers(cfg)[0].sample_groups) == ['Car', 'Pedestrian', 'Cyclist']
    for _, dataset in datasets(cfg):
        assert dataset.metainfo.classes == cfg.class_names
        assert dataset.data_root == base.data_root


@pytest.mark.parametrize('variant', FAMILIES[DATASETS_2D / 'coco_detection.py'], ids=rel)
def test_the_2d_demo_sets_differ_from_coco_in_image_size_only_in_their_pipelines(variant):
    cfg, base = load(variant), load(DATASETS_2D / 'coco_detection.py')
    for name in ('train_pipeline', 'test_pipeline'):
        assert changed_fields(cfg[name], base[name]) == {'Resize': ['scale']}
        assert [s.scale for s in cfg[name] if s.type == 'Resize'] == [(533, 320)]
    # coco128 has images without objects: no image is filtered (nor by COCO's min_size)
    assert cfg.train_dataloader.dataset.filter_cfg == dict(filter_empty_gt=False)
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'


@pytest.mark.parametrize('leaf', LEAVES, ids=rel)
def test_every_leaf_uses_one_data_set_family(leaf):
    """Each leaf's chain holds exactly one data set's full base (and at most one of its
    variants): its dataset settings come from that file, not from a copy."""
    chain = {Path(p) for p in config_files(str(leaf))}
    fulls = [f for f in FAMILIES if f in chain]
    assert len(fulls) == 1, (rel(leaf), fulls)
    assert len([v for v in FAMILIES[fulls[0]] if v in chain]) <= 1


@pytest.mark.parametrize('leaf', LEAVES, ids=rel)
def test_every_path_of_a_leaf_is_under_its_data_root(leaf, monkeypatch):
    for var in ('COCO_ROOT', 'COCO128_ROOT', 'SYNTHETIC_COCO_ROOT'):
        monkeypatch.delenv(var, raising=False)
    check_rooted(load(leaf), load(leaf).data_root)


def check_rooted(cfg, root):
    assert cfg.data_root == root
    for name, dataset in datasets(cfg):
        assert dataset.data_root == root, name
    for name, evaluator in evaluators(cfg):
        assert evaluator.ann_file.startswith(root), name
        assert evaluator.ann_file[len(root):].startswith('annotations/') or \
            evaluator.ann_file[len(root):] == 'kitti_infos_val.pkl', name
    if 'db_sampler' in cfg:
        samplers = [cfg.db_sampler] + object_samplers(cfg)
        assert len(samplers) == 2
        for sampler in samplers:
            assert sampler.data_root == root
            assert sampler.info_path == root + 'kitti_dbinfos_train.pkl'


def test_the_configs_that_set_a_root_are_the_expected_ones():
    assert {rel(p) for p in ROOTED} == {
        'configs2d/_base_/datasets/coco_detection.py',
        'configs2d/_base_/datasets/coco128_demo.py',
        'configs2d/_base_/datasets/synthetic_demo.py',
        'configs3d/_base_/datasets/kitti-3d-car.py',
        'configs3d/_base_/datasets/kitti-3d-car_cpu-demo.py',
        'configs3d/rank-sassd_pswarp_cpu-demo_kitti-sample-3d-car.py',
        'configs3d/sassd-lite_pswarp_cpu-demo-near_synthetic-3d-car.py',
    }


def rerooted_copy(path, tmp_path, root):
    """The config with its one ``data_root = ...`` line rewritten, in tmp_path, its
    ``_base_`` paths made absolute (mmengine resolves them from the file's folder)."""
    text = path.read_text()
    tree = ast.parse(text)
    lines = [node.lineno for node in tree.body if isinstance(node, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id == 'data_root' for t in node.targets)]
    assert len(lines) == 1, f'{rel(path)} assigns data_root {len(lines)} times'
    body = text.splitlines()
    assert body[lines[0] - 1].startswith('data_root = ')
    body[lines[0] - 1] = f'data_root = {root!r}'
    text = '\n'.join(body) + '\n'
    text = re.sub(r"'(\.\.?/[^']+\.py)'",
                  lambda m: repr(str((path.parent / m.group(1)).resolve())), text)
    out = tmp_path / path.name
    out.write_text(text)
    return out


@pytest.mark.parametrize('path', ROOTED, ids=rel)
def test_a_data_root_is_changed_in_one_line(path, tmp_path, monkeypatch):
    """Rewriting the one ``data_root`` line moves every dataloader, evaluator and
    GT-sampling path of the config; nothing keeps the old root."""
    for var in ('COCO_ROOT', 'COCO128_ROOT', 'SYNTHETIC_COCO_ROOT'):
        monkeypatch.delenv(var, raising=False)
    old = load(path).data_root
    root = '/elsewhere/moved/'
    cfg = load(rerooted_copy(path, tmp_path, root))
    check_rooted(cfg, root)
    assert old not in cfg.pretty_text.replace(root, '')
