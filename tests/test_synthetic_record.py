"""Whether a synthetic set on disk is the one asked for (apps.synthetic_record, shared by
``make demo`` and tools/compare.py), read from a set the generator really wrote."""
import pytest

from apps.synthetic_record import same_synthetic_record
from data_converters.synthetic import CocoShapesConfig, KittiSceneConfig, generate_coco


def test_a_written_set_matches_its_own_settings_only(tmp_path):
    cfg = CocoShapesConfig(num_train=2, num_val=1, seed=3)
    root = generate_coco(tmp_path / 'coco', cfg, progress=False)
    assert same_synthetic_record(root, cfg) is True
    assert same_synthetic_record(str(root), cfg) is True  # a str root too
    assert same_synthetic_record(root, CocoShapesConfig(num_train=2, num_val=1,
                                                        seed=4)) is False
    assert same_synthetic_record(root, KittiSceneConfig(num_train=2, num_val=1)) is False


def test_no_record_and_a_broken_record(tmp_path):
    cfg = CocoShapesConfig(num_train=2, num_val=1)
    assert same_synthetic_record(tmp_path / 'absent', cfg) is None
    assert same_synthetic_record(tmp_path, cfg) is None  # a folder without a record
    (tmp_path / 'SYNTHETIC.json').write_text('{"seed": 0}')
    with pytest.raises(ValueError, match=r"SYNTHETIC.json: not a rankdet synthetic-set "
                                         r"record \('config'\)"):
        same_synthetic_record(tmp_path, cfg)
    (tmp_path / 'SYNTHETIC.json').write_text('not json')
    with pytest.raises(ValueError, match=f'delete {tmp_path} to have it rebuilt'):
        same_synthetic_record(tmp_path, cfg)
