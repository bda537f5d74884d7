"""The data of a pair analysis: a config's test set with its ground truth, and the class
of Figure 3's per-class panels (shared by the 2D and the 3D analysis)."""
from typing import Callable, List, Optional


def analysis_loader(cfg, annotate: Callable[[list], list], max_images: Optional[int] = None,
                    **dataset_updates):
    """``cfg.test_dataloader`` with its pipeline passed through ``annotate`` (which loads
    the ground truth the assigner needs), ``dataset_updates`` set on the dataset, and only
    the first ``max_images`` samples if given."""
    from mmengine.runner import Runner

    loader_cfg = cfg.test_dataloader.copy()
    dataset_cfg = loader_cfg.dataset.copy()
    dataset_cfg.pipeline = annotate(dataset_cfg.pipeline)
    dataset_cfg.update(dataset_updates)
    if max_images is not None:
        dataset_cfg.indices = max_images
    loader_cfg.dataset = dataset_cfg
    return Runner.build_dataloader(loader_cfg)


def panel_class(classes: List[str], class_name: Optional[str], default: str) -> str:
    """``class_name``, or ``default`` if the data set has it, else its first class."""
    if class_name is None:
        class_name = default if default in classes else classes[0]
    if class_name not in classes:
        raise ValueError(f'class {class_name!r} is not a class of the data set: {classes}')
    return class_name
