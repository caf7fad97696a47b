"""The same mistake raises the same exception type in sibling transforms.

MMYOLO 0.6.0 checks these cases with ``assert``; yolokit raises
``TransformArgumentError`` (a ``ValueError`` and an ``AssertionError``) or,
for a wrong mask type, ``MaskTypeError`` (a ``TypeError`` and an
``AssertionError``), with a message naming the argument or key.
"""
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

from yolokit.datasets.transforms import (LetterResize, LoadAnnotations, Mosaic,
                                         Mosaic9, PackDetInputs, Polygon2Mask,
                                         YOLOv5CopyPaste, YOLOv5HSVRandomAug,
                                         YOLOv5KeepRatioResize, YOLOv5MixUp,
                                         YOLOv5RandomAffine, YOLOXMixUp)
from yolokit.datasets.transforms.errors import (MaskTypeError,
                                                TransformArgumentError)

# (class, how many images it mixes in, its minimum cache size)
MIXERS = [(Mosaic, 3, 4), (Mosaic9, 8, 9), (YOLOv5MixUp, 1, 2),
          (YOLOXMixUp, 1, 2)]
WITH_IMG_SCALE = [Mosaic, Mosaic9, YOLOXMixUp]


def test_error_types_derive_from_what_mmyolo_and_yolokit_raised():
    assert issubclass(TransformArgumentError, AssertionError)
    assert issubclass(TransformArgumentError, ValueError)
    assert issubclass(MaskTypeError, AssertionError)
    assert issubclass(MaskTypeError, TypeError)


@pytest.mark.parametrize('cls', [m[0] for m in MIXERS])
@pytest.mark.parametrize('prob', [-0.1, 1.5, 'high'])
def test_prob_outside_0_1(cls, prob):
    with pytest.raises(
            TransformArgumentError,
            match=f'{cls.__name__}: prob .* in \\[0, 1\\]'):
        cls(prob=prob)


@pytest.mark.parametrize('cls,_,minimum', MIXERS)
def test_cache_too_small(cls, _, minimum):
    with pytest.raises(
            TransformArgumentError,
            match=f'max_cached_images must be >= {minimum}'):
        cls(use_cached=True, max_cached_images=minimum - 1)


@pytest.mark.parametrize('cls', [m[0] for m in MIXERS])
def test_max_refetch_not_positive(cls):
    with pytest.raises(TransformArgumentError, match='max_refetch'):
        cls(max_refetch=0)


@pytest.mark.parametrize('cls', WITH_IMG_SCALE)
@pytest.mark.parametrize('img_scale', [640, (640, ), (0, 640), (1.5, 2)])
def test_bad_img_scale(cls, img_scale):
    with pytest.raises(TransformArgumentError, match='img_scale'):
        cls(img_scale=img_scale)


@pytest.mark.parametrize('cls,num,_', MIXERS)
@pytest.mark.parametrize('change', ['missing', 'empty', 'one_too_many'])
def test_wrong_number_of_mix_results(cls, num, _, change):
    results = {'img': np.zeros((8, 8, 3), np.uint8)}
    partner = dict(results)
    if change == 'empty':
        results['mix_results'] = []
    elif change == 'one_too_many':
        results['mix_results'] = [partner] * (num + 1)
    got = {
        'missing': 'no mix_results',
        'empty': '0 entries',
        'one_too_many': f'{num + 1} entries'
    }[change]
    with pytest.raises(
            TransformArgumentError,
            match=f"{cls.__name__} mixes {num + 1} images: "
            f"results\\['mix_results'\\] must hold the other {num}, "
            f'got {got}'):
        cls().mix_img_transform(results)


@pytest.mark.parametrize('cls', [m[0] for m in MIXERS])
def test_no_dataset_without_cache(cls):
    with pytest.raises(TransformArgumentError, match="results\\['dataset'\\]"):
        cls()({'img': np.zeros((8, 8, 3), np.uint8)})


@pytest.mark.parametrize('build,match', [
    (lambda: Mosaic(center_ratio_range=(1.5, 0.5)), 'center_ratio_range'),
    (lambda: Mosaic(center_ratio_range=(-0.5, 0.5)), 'center_ratio_range'),
    (lambda: YOLOXMixUp(ratio_range=(0, 1)), 'ratio_range'),
    (lambda: YOLOXMixUp(ratio_range=(1.5, 0.5)), 'ratio_range'),
    (lambda: YOLOv5RandomAffine(scaling_ratio_range=(0, 1)),
     'scaling_ratio_range'),
    (lambda: YOLOv5RandomAffine(max_translate_ratio=1.5),
     'max_translate_ratio'),
    (lambda: YOLOv5MixUp(alpha=0), 'alpha'),
    (lambda: YOLOv5CopyPaste(prob=2), 'prob'),
    (lambda: YOLOv5KeepRatioResize(scale=(8, 8), keep_ratio=False),
     'keep_ratio'),
    (lambda: LoadAnnotations(poly2mask=True), 'poly2mask'),
    (lambda: LoadAnnotations(mask2bbox=True), 'with_mask'),
    (lambda: Polygon2Mask(downsample_ratio=0), 'downsample_ratio'),
])
def test_bad_constructor_arguments(build, match):
    with pytest.raises(TransformArgumentError, match=match):
        build()


def test_bad_inputs_at_transform_time():
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(TransformArgumentError, match='same shape'):
        YOLOv5MixUp().mix_img_transform({
            'img': img,
            'mix_results': [{
                'img': img[:4]
            }]
        })
    with pytest.raises(TransformArgumentError, match='uint8 BGR'):
        YOLOv5HSVRandomAug().transform({'img': img.astype(np.float32)})
    with pytest.raises(TransformArgumentError, match='img_id'):
        PackDetInputs(meta_keys=('img_id', )).transform({'img': img})
    with pytest.raises(TransformArgumentError, match='border'):
        YOLOv5RandomAffine(border=(-8, -8)).transform({'img': img})
    resize = YOLOv5KeepRatioResize(scale=(8, 8))
    resize.keep_ratio = False  # changed after construction
    with pytest.raises(TransformArgumentError, match='keep_ratio'):
        resize.transform({'img': img})


def _with_bitmap_masks():
    return {
        'img': np.zeros((16, 16, 3), np.uint8),
        'gt_bboxes': HorizontalBoxes(np.array([[1., 1, 6, 6]], np.float32)),
        'gt_bboxes_labels': np.array([0]),
        'gt_masks': BitmapMasks(np.ones((1, 16, 16), np.uint8), 16, 16),
    }


@pytest.mark.parametrize(
    'transform', [
        LetterResize(scale=(32, 32)),
        YOLOv5CopyPaste(),
        YOLOv5RandomAffine(max_rotate_degree=0, max_shear_degree=0),
        Polygon2Mask(),
    ],
    ids=lambda t: type(t).__name__)
def test_bitmap_masks_where_polygons_are_needed(transform):
    name = type(transform).__name__
    with pytest.raises(
            MaskTypeError,
            match=f'{name} supports gt_masks of type PolygonMasks '
            'only, got BitmapMasks'):
        transform.transform(_with_bitmap_masks())
