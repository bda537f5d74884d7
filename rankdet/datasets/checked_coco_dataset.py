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

Before the first iteration, when the dataset is built, every image file is checked
(:mod:`rankdet.datasets.file_check`, ``check_files``): one error names every missing,
empty, truncated or unreadable image. Boxes that mmdet drops without a word (under 1
pixel wide or high, a negative width, zero area, outside their image) are counted
and reported once, naming the annotation, its image and the file.
"""
import logging
from typing import List, Union

import mmcv
from mmengine import fileio
from mmengine.logging import print_log
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .file_check import check_image_files, check_mode, entries_in_use

MAX_LISTED_BOXES = 20  # dropped boxes named in the report; the count covers all
_reported_boxes = set()  # (annotation file, annotation id): report each box once


def describe_ids(ids) -> str:
    """A short text for a set of ids: all of them if few, else their range and count."""
    ids = sorted(ids)
    if len(ids) <= 10:
        return ', '.join(map(str, ids))
    return f'{len(ids)} ids from {ids[0]} to {ids[-1]}'


def dropped_box_reason(ann: dict, img_info: dict) -> Union[str, None]:
    """Why mmdet 3.3's ``CocoDataset.parse_data_info`` drops the box of ``ann``, or None
    when it keeps it: the same tests (a width or height under 1 pixel, no overlap with
    the image, area <= 0); ``ignore`` annotations are dropped on purpose, and not
    reported. ``bbox`` is COCO's ``[x, y, width, height]`` in pixels."""
    if ann.get('ignore', False):
        return None
    x1, y1, w, h = ann['bbox']
    inter_w = max(0, min(x1 + w, img_info['width']) - max(x1, 0))
    inter_h = max(0, min(y1 + h, img_info['height']) - max(y1, 0))
    for size, name in ((w, 'width'), (h, 'height')):
        if size < 0:
            return f'negative {name} {size}'
        if size < 1:
            return f'{name} {size} is under 1 pixel'
    if inter_w * inter_h == 0:
        return (f"outside its image ({img_info['width']}x{img_info['height']} "
                f'pixels)')
    if ann['area'] <= 0:
        return f"area {ann['area']} <= 0"
    return None


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """CocoDataset that checks its annotation file, category ids and images.

    Args:
        check_files (bool | str): check every image file when the dataset is built,
            before training or testing starts: True or 'fast' (signature and end
            marker, cached), 'decode' (a full decode), False (no check).
        Others: CocoDataset's.

    Attributes:
        dropped_boxes (list[dict]): the annotations mmdet drops for their box
            (``ann_id``, ``img_id``, ``file_name``, ``bbox``, ``reason``).

    Raises:
        FileNotFoundError: the annotation file, or an image file, does not exist.
        ValueError: an annotation's ``category_id`` is not among the file's categories;
            a class of ``metainfo['classes']`` is not a category name of the file; an
            image file does not decode.
        rankdet.datasets.file_check.DataCheckError: (a ValueError) image files are
            missing or unusable; it names every one of them.
    """

    def __init__(self, *args, check_files: Union[bool, str] = True, **kwargs):
        self.check_files = check_mode(check_files, type(self).__name__)
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not fileio.exists(self.ann_file, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'{type(self).__name__}: annotation file {self.ann_file} does not exist '
                f"(data_root '{self.data_root}'); point the config's data_root at a "
                f'COCO-format folder')
        self._file_cat_ids = None  # set by the first parse_data_info, while self.coco exists
        self.dropped_boxes = []
        data_list = super().load_data_list()
        self._report_dropped_boxes()
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        if self._file_cat_ids is None:
            self._file_cat_ids = self._check_categories()
        img_info = raw_data_info['raw_img_info']
        img_id = img_info['img_id']
        for ann in raw_data_info['raw_ann_info']:
            if ann['category_id'] not in self._file_cat_ids:
                raise ValueError(
                    f"{type(self).__name__}: {self.ann_file}: annotation {ann.get('id')} "
                    f"of image {img_id} has category_id {ann['category_id']!r}, which is "
                    f"not among the file's category ids ({describe_ids(self._file_cat_ids)})")
            # boxes of classes outside metainfo are left out on purpose: not reported
            reason = ann['category_id'] in self.cat_ids and dropped_box_reason(ann, img_info)
            if reason:
                self.dropped_boxes.append(dict(
                    ann_id=ann.get('id'), img_id=img_id, file_name=img_info['file_name'],
                    bbox=ann['bbox'], reason=reason))
        return super().parse_data_info(raw_data_info)

    def _report_dropped_boxes(self) -> None:
        """One warning for the boxes dropped that this process has not reported yet
        (the train and val sets often share an annotation file)."""
        new = [box for box in self.dropped_boxes
               if (self.ann_file, box['ann_id']) not in _reported_boxes]
        if not new:
            return
        _reported_boxes.update((self.ann_file, box['ann_id']) for box in new)
        listed = [f"  annotation {box['ann_id']} of image {box['img_id']} "
                  f"({box['file_name']}): bbox {box['bbox']}: {box['reason']}"
                  for box in new[:MAX_LISTED_BOXES]]
        if len(new) > MAX_LISTED_BOXES:
            listed.append(f'  ... and {len(new) - MAX_LISTED_BOXES} more')
        print_log(
            f'{type(self).__name__}: {self.ann_file}: {len(new)} box(es) are not used '
            f'(mmdet drops a box under 1 pixel wide or high, of area <= 0, or outside its '
            f'image), so their objects count as background:\n' + '\n'.join(listed),
            logger='current', level=logging.WARNING)

    def filter_data(self) -> List[dict]:
        data_list = super().filter_data()
        used = entries_in_use(self, data_list)
        if self.check_files is None:
            return data_list
        if self.backend_args and self.backend_args.get('backend', 'local') != 'local':
            print_log(f'{type(self).__name__}: image files on the '
                      f"{self.backend_args.get('backend')} backend are not checked before "
                      f'training', logger='current', level=logging.WARNING)
            return data_list
        check_image_files([info['img_path'] for info in used], self.check_files,
                          owner=f'{type(self).__name__} ({self.ann_file})',
                          echo=lambda line: print_log(line, logger='current'))
        return data_list

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
