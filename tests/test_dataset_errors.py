"""Bad COCO input fails with an error that names the file, image or id; an image without
objects trains. Built on real coco128 images, copied with edits into a temporary folder.
"""
import copy
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip('mmdet')

import rankdet.registration  # noqa: E402,F401
from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402

register_all_modules(init_default_scope=True)
DEFAULT_SCOPE = 'mmdet'  # every test builds in mmdet's scope (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / 'configs2d' / 'demo' / 'rank-retinanet_r18_fpn_demo_coco128.py'


@pytest.fixture(scope='module')
def coco128_json(coco128_root):
    return json.loads((coco128_root / 'annotations' / 'instances_train2017.json').read_text())


def small_set(root: Path, coco128_root: Path, coco: dict, image_ids, edit=None) -> Path:
    """A COCO folder at ``root`` with the given coco128 images (copied) and their
    annotations, after ``edit(json)``."""
    data = copy.deepcopy(coco)
    data['images'] = [im for im in data['images'] if im['id'] in image_ids]
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] in image_ids]
    if edit is not None:
        edit(data)
    (root / 'annotations').mkdir(parents=True)
    (root / 'train2017').mkdir()
    (root / 'annotations' / 'instances_train2017.json').write_text(json.dumps(data))
    for image in data['images']:
        shutil.copy(coco128_root / 'train2017' / image['file_name'], root / 'train2017')
    return root


def dataset_cfg(root: Path, **overrides):
    cfg = Config.fromfile(str(DEMO)).train_dataloader.dataset
    cfg.update(data_root=f'{root}/', **overrides)
    cfg.pipeline[2].scale = (213, 128)  # small images: the model test below runs fast
    return cfg


def ids_with_objects(coco, count):
    with_objects = sorted({a['image_id'] for a in coco['annotations']})
    return with_objects[:count]


def empty_ids(coco):
    with_objects = {a['image_id'] for a in coco['annotations']}
    return sorted(im['id'] for im in coco['images'] if im['id'] not in with_objects)


def test_missing_annotation_file(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        DATASETS.build(dataset_cfg(tmp_path / 'nowhere'))
    message = str(err.value)
    assert 'annotation file' in message and 'instances_train2017.json' in message
    assert 'nowhere' in message and 'data_root' in message


def test_category_id_outside_the_dataset(tmp_path, coco128_root, coco128_json):
    ids = ids_with_objects(coco128_json, 2)
    bad = {}

    def edit(data):
        ann = data['annotations'][-1]
        ann['category_id'] = 999
        bad.update(ann=ann['id'], image=ann['image_id'])

    root = small_set(tmp_path / 'coco', coco128_root, coco128_json, ids, edit)
    with pytest.raises(ValueError) as err:
        DATASETS.build(dataset_cfg(root))
    message = str(err.value)
    assert 'category_id 999' in message
    assert f"annotation {bad['ann']}" in message and f"image {bad['image']}" in message
    assert 'instances_train2017.json' in message


def test_class_the_file_does_not_name(tmp_path, coco128_root, coco128_json):
    root = small_set(tmp_path / 'coco', coco128_root, coco128_json,
                     ids_with_objects(coco128_json, 1))
    cfg = dataset_cfg(root, metainfo=dict(classes=('person', 'unicorn')))
    with pytest.raises(ValueError, match=r"no category named \['unicorn'\]"):
        DATASETS.build(cfg)


def test_image_that_does_not_decode(tmp_path, coco128_root, coco128_json):
    ids = ids_with_objects(coco128_json, 2)
    root = small_set(tmp_path / 'coco', coco128_root, coco128_json, ids)
    dataset = DATASETS.build(dataset_cfg(root))
    info = dataset.get_data_info(1)
    Path(info['img_path']).write_bytes(b'this is not a JPEG')
    dataset[0]  # the intact image still loads
    with pytest.raises(ValueError) as err:
        dataset.prepare_data(1)
    message = str(err.value)
    assert info['img_path'] in message and f"image id {info['img_id']}" in message
    assert 'does not decode' in message


def test_missing_image_file(tmp_path, coco128_root, coco128_json):
    root = small_set(tmp_path / 'coco', coco128_root, coco128_json,
                     ids_with_objects(coco128_json, 2))
    dataset = DATASETS.build(dataset_cfg(root))
    info = dataset.get_data_info(0)
    Path(info['img_path']).unlink()
    with pytest.raises(FileNotFoundError) as err:
        dataset.prepare_data(0)
    assert info['img_path'] in str(err.value) and f"image id {info['img_id']}" in str(err.value)


def test_images_without_objects_train(tmp_path, coco128_root, coco128_json):
    empty = empty_ids(coco128_json)
    assert len(empty) == 2  # coco128 has two images without any instance
    root = small_set(tmp_path / 'coco', coco128_root, coco128_json,
                     empty + ids_with_objects(coco128_json, 1))
    dataset = DATASETS.build(dataset_cfg(root))
    assert len(dataset) == 3  # filter_empty_gt=False keeps them
    by_id = {dataset.get_data_info(i)['img_id']: i for i in range(len(dataset))}

    cfg = Config.fromfile(str(DEMO))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = [p.detach().clone() for p in model.parameters()]

    only_empty = pseudo_collate([dataset[by_id[i]] for i in empty])
    assert all(len(s.gt_instances) == 0 for s in only_empty['data_samples'])
    log = model.train_step(only_empty, optim_wrapper)
    for key in ('loss_rank_global', 'loss_rank_class', 'loss_rank_iou', 'loss_bbox'):
        assert log[key].item() == 0, key

    mixed = pseudo_collate([dataset[by_id[empty[0]]],
                            dataset[by_id[ids_with_objects(coco128_json, 1)[0]]]])
    log = model.train_step(mixed, optim_wrapper)
    assert all(torch.isfinite(v) for v in log.values())
    assert log['loss_rank_global'] > 0 and log['loss_bbox'] > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


# ---- boxes mmdet drops, and images checked before the first iteration ----

class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_logged():
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    handler = Collect()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_dropped_boxes_are_counted_and_reported_once(tmp_path, coco128_root, coco128_json,
                                                     warnings_logged):
    """A negative-width box and one under a pixel high: mmdet drops them without a word;
    one warning names each (annotation, image, file) and a second dataset on the same
    file (the demo's val set) does not repeat it."""
    ids = ids_with_objects(coco128_json, 3)
    bad = []

    def edit(data):
        first, second = data['annotations'][0], data['annotations'][-1]
        first['bbox'][2] = -12.0
        second['bbox'][3] = 0.5
        bad.extend([first, second])

    root = small_set(tmp_path / 'coco', coco128_root, coco128_json, ids, edit)
    dataset = DATASETS.build(dataset_cfg(root))
    assert sorted((b['ann_id'], b['reason']) for b in dataset.dropped_boxes) == sorted([
        (bad[0]['id'], 'negative width -12.0'), (bad[1]['id'], 'height 0.5 is under 1 pixel')])
    kept = sum(len(dataset.get_data_info(i)['instances']) for i in range(len(dataset)))
    assert kept == len([a for a in coco128_json['annotations'] if a['image_id'] in ids]) - 2
    reports = [m for m in warnings_logged if 'box(es) are not used' in m]
    assert len(reports) == 1
    assert reports[0].startswith(f"CheckedCocoDataset: {root / 'annotations'}"
                                 f"/instances_train2017.json: 2 box(es) are not used")
    for ann in bad:
        name = next(im['file_name'] for im in coco128_json['images']
                    if im['id'] == ann['image_id'])
        assert f"annotation {ann['id']} of image {ann['image_id']} ({name})" in reports[0]
    DATASETS.build(dataset_cfg(root, test_mode=True))
    assert len([m for m in warnings_logged if 'box(es) are not used' in m]) == 1


def test_bad_images_stop_the_build_naming_each(tmp_path, coco128_root, coco128_json,
                                               monkeypatch):
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    monkeypatch.delenv('RANKDET_CACHE_DIR', raising=False)
    ids = ids_with_objects(coco128_json, 4)
    root = small_set(tmp_path / 'coco', coco128_root, coco128_json, ids)
    images = sorted((root / 'train2017').iterdir())
    images[0].write_bytes(images[0].read_bytes()[:20_000])
    images[2].unlink()
    from rankdet.datasets.file_check import DataCheckError
    with pytest.raises(DataCheckError) as err:
        DATASETS.build(dataset_cfg(root))
    assert sorted(Path(p).name for p, _ in err.value.bad) == [images[0].name, images[2].name]
    assert 'instances_train2017.json' in str(err.value)
    dataset = DATASETS.build(dataset_cfg(root, check_files=False))  # the switch
    assert len(dataset) == 4


def test_training_stops_before_the_first_iteration_on_a_bad_val_image(
        tmp_path, coco128_root, coco128_json, monkeypatch):
    """The runner builds the train and the val set before its first iteration: a bad
    image of the val set stops it there, before any checkpoint."""
    from mmengine.runner import Runner
    from rankdet.datasets.file_check import DataCheckError
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
    monkeypatch.delenv('RANKDET_CACHE_DIR', raising=False)
    ids = ids_with_objects(coco128_json, 4)
    train = small_set(tmp_path / 'train', coco128_root, coco128_json, ids)
    val = small_set(tmp_path / 'val', coco128_root, coco128_json, ids)
    truncated = sorted((val / 'train2017').iterdir())[1]
    truncated.write_bytes(truncated.read_bytes()[:20_000])

    cfg = Config.fromfile(str(DEMO))
    cfg.train_dataloader.dataset = dataset_cfg(train)
    cfg.val_dataloader.dataset.update(data_root=f'{val}/')
    cfg.val_evaluator.ann_file = str(val / 'annotations' / 'instances_train2017.json')
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.train_cfg.update(max_iters=2, val_interval=1)
    cfg.default_hooks.checkpoint.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    with pytest.raises(DataCheckError) as err:
        runner.train()
    assert [p for p, _ in err.value.bad] == [str(truncated)]
    assert 'truncated JPEG' in str(err.value)
    assert runner.iter == 0 and not list((tmp_path / 'work').glob('*.pth'))
