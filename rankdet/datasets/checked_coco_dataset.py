"""CheckedCocoDataset: mmdet's CocoDataset with errors that name the bad file, image or id.

mmdet 3.3's CocoDataset fails unclearly on bad input: a missing annotation file gives a
bare ``[Errno 2]``; an annotation whose ``category_id`` is not a category of the file is
silently dropped (its object trains as background); a ``metainfo`` class the file does
not name is silently skipped, shifting the labels of the classes after it; an image
that does not decode fails with ``AssertionError: failed to load image``. This subclass
checks those cases and otherwise behaves exactly like CocoDataset (same data list, same
pipeline, same evaluation).

Images without annotations are kept when ``filter_cfg=dict(filter_empty_gt=False)``:
they train as all-background images.
"""
from typing import List, Union

import mmcv
from mmengine import fileio
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS


def describe_ids(ids) -> str:
    """A short text for a set of ids: all of them if few, else their range and count."""
    ids = sorted(ids)
    if len(ids) <= 10:
        return ', '.join(map(str, ids))
    return f'{len(ids)} ids from {ids[0]} to {ids[-1]}'


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """CocoDataset that checks its annotation file, category ids and images.

    Arguments: CocoDataset's.

    Raises:
        FileNotFoundError: the annotation file, or an image file, does not exist.
        ValueError: an annotation's ``category_id`` is not among the file's categories;
            a class of ``metainfo['classes']`` is not a category name of the file; an
            image file does not decode.
    """

    def load_data_list(self) -> List[dict]:
        if not fileio.exists(self.ann_file, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'{type(self).__name__}: annotation file {self.ann_file} does not exist '
                f"(data_root '{self.data_root}'); point the config's data_root at a "
                f'COCO-format folder')
        self._file_cat_ids = None  # set by the first parse_data_info, while self.coco exists
        return super().load_data_list()

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        if self._file_cat_ids is None:
            self._file_cat_ids = self._check_categories()
        img_id = raw_data_info['raw_img_info']['img_id']
        for ann in raw_data_info['raw_ann_info']:
            if ann['category_id'] not in self._file_cat_ids:
                raise ValueError(
                    f"{type(self).__name__}: {self.ann_file}: annotation {ann.get('id')} "
                    f"of image {img_id} has category_id {ann['category_id']!r}, which is "
                    f"not among the file's category ids ({describe_ids(self._file_cat_ids)})")
        return super().parse_data_info(raw_data_info)

    def _check_categories(self) -> set:
        """The file's category ids, once each metainfo class is known to be one of them."""
        names = {cat['name'] for cat in self.coco.cats.values()}
        missing = [name for name in self.metainfo['classes'] if name not in names]
        if missing:
            raise ValueError(
                f'{type(self).__name__}: {self.ann_file} has no category named '
                f'{missing}; metainfo classes must be category names of the file, which '
                f'has {sorted(names)}')
        return set(self.coco.cats)

    def prepare_data(self, idx: int):
        data_info = self.get_data_info(idx)
        path, img_id = data_info['img_path'], data_info['img_id']
        try:
            return self.pipeline(data_info)
        except Exception as err:
            where = f'image id {img_id} of {self.ann_file}'
            try:
                img_bytes = fileio.get(path, backend_args=self.backend_args)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f'{type(self).__name__}: image file {path} ({where}) does not exist; '
                    f'check data_root and data_prefix') from err
            try:
                decoded = mmcv.imfrombytes(img_bytes) is not None
            except Exception:
                decoded = False
            if not decoded:
                raise ValueError(
                    f'{type(self).__name__}: image file {path} ({where}) does not decode '
                    f'as an image: it is empty, truncated or not an image file') from err
            err.add_note(f'{type(self).__name__}: while preparing {path} ({where})')
            raise
