# mmdet's runtime (hooks, logging, visualiser), with rankdet registered before anything
# is built: a missing rankdet fails here, not as an unknown type later.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['rankdet.registration'], allow_failed_imports=False)

# Scalars (losses, learning rate, rank/* health, metrics) go to the run's local files
# (vis_data/scalars.json) and to TensorBoard: `tensorboard --logdir work_dirs` shows
# focal and ranking runs side by side.
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
