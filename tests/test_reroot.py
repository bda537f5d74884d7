"""apps.runner.reroot: a config's paths under one folder moved under another, nested
values included, nothing else touched (the data-root pointers and the evidence jobs'
test split both use it)."""
from apps.runner.reroot import reroot


def brute_force(value, old, new):
    if isinstance(value, str):
        return new + value[len(old):] if value.startswith(old) else value
    if isinstance(value, dict):
        return {k: brute_force(v, old, new) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(brute_force(v, old, new) for v in value)
    return value


def test_reroot_moves_every_nested_path_and_nothing_else():
    value = dict(data_root='data/a/', ann_file='data/a/ann.json', other='x/data/a/y',
                 pipeline=[dict(type='Load', db='data/a/db.pkl', n=3),
                           ('data/a/1', 'data/ab/2', None)],
                 prefix=dict(pts='data/a/velodyne'), n=1.5)
    before = repr(value)
    out = reroot(value, 'data/a/', '/tmp/b/')
    assert out == brute_force(value, 'data/a/', '/tmp/b/')
    assert out['pipeline'][0]['db'] == '/tmp/b/db.pkl'
    assert out['pipeline'][1] == ('/tmp/b/1', 'data/ab/2', None)  # a tuple stays a tuple
    assert out['other'] == 'x/data/a/y'  # only a path that starts with the folder
    assert repr(value) == before  # the input is not changed


def test_reroot_keeps_the_container_types():
    from mmengine.config import ConfigDict

    value = ConfigDict(dataset=ConfigDict(data_root='d/', ann_file='d/x.json'))
    out = reroot(value, 'd/', 'e/')
    assert type(out) is ConfigDict and type(out.dataset) is ConfigDict
    assert out.dataset.ann_file == 'e/x.json'
