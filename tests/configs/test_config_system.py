"""The config system the yolokit configs rely on (spec 04 §14.8, §14.9).

MMEngine implements inheritance; these tests pin the behaviours the shipped
configs and the documentation use: ``_base_`` as a string and as a list,
recursive merging, ``_delete_=True``, ``_base_.var`` / ``{{_base_.var}}``,
attribute assignment on ``_base_``, inheriting a shipped config through
``yolokit::``, and ``--cfg-options`` overrides parsed by ``DictAction``.
"""
import argparse
import importlib.metadata
import os.path as osp
import textwrap

import pytest
from mmengine.config import Config, DictAction

from yolokit.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
YOLOV5_S = osp.join(REPO_ROOT, 'configs', 'yolov5',
                    'yolov5_s-v61_syncbn_fast_8xb16-300e_coco.py')


def _write(directory, name: str, text: str) -> str:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# ------------------------------------------------------------ inheritance


def test_base_as_string_merges_dicts_recursively(tmp_path):
    _write(
        tmp_path, 'base.py', """
        lr = 0.01
        model = dict(type='A', backbone=dict(depth=3, width=8), neck=None)
        """)
    child = _write(
        tmp_path, 'child.py', """
        _base_ = './base.py'
        model = dict(backbone=dict(width=16))
        """)
    cfg = Config.fromfile(child)
    assert cfg.lr == 0.01
    assert cfg.model == dict(
        type='A', backbone=dict(depth=3, width=16), neck=None)


def test_base_as_list_combines_files(tmp_path):
    _write(tmp_path, 'runtime.py', "log_level = 'INFO'\n")
    _write(tmp_path, 'model.py', "model = dict(type='A')\n")
    child = _write(
        tmp_path, 'child.py', """
        _base_ = ['./runtime.py', './model.py']
        model = dict(num_classes=3)
        """)
    cfg = Config.fromfile(child)
    assert cfg.log_level == 'INFO'
    assert cfg.model == dict(type='A', num_classes=3)


def test_bases_must_not_share_keys(tmp_path):
    _write(tmp_path, 'a.py', 'x = 1\n')
    _write(tmp_path, 'b.py', 'x = 2\n')
    child = _write(tmp_path, 'child.py', "_base_ = ['./a.py', './b.py']\n")
    with pytest.raises(KeyError, match='Duplicate key'):
        Config.fromfile(child)


def test_delete_replaces_whole_dict(tmp_path):
    _write(
        tmp_path, 'base.py', """
        model = dict(backbone=dict(type='CSPNeXt', arch='P5',
                                   expand_ratio=0.5, channel_attention=True))
        """)
    child = _write(
        tmp_path, 'child.py', """
        _base_ = './base.py'
        model = dict(backbone=dict(_delete_=True, type='YOLOv6EfficientRep',
                                   widen_factor=0.5))
        """)
    cfg = Config.fromfile(child)
    assert cfg.model.backbone == dict(
        type='YOLOv6EfficientRep', widen_factor=0.5)


def test_base_variables_are_copies(tmp_path):
    _write(
        tmp_path, 'base.py', """
        img_scale = (640, 640)
        pre_transform = [dict(type='LoadImageFromFile')]
        """)
    child = _write(
        tmp_path, 'child.py', """
        _base_ = './base.py'
        scale_a = _base_.img_scale
        scale_b = {{_base_.img_scale}}
        pre_transform = [*_base_.pre_transform, dict(type='LoadAnnotations')]
        pipeline = _base_.pre_transform
        """)
    cfg = Config.fromfile(child)
    assert cfg.scale_a == (640, 640)
    assert cfg.scale_b == (640, 640)
    assert [t.type for t in cfg.pre_transform
            ] == ['LoadImageFromFile', 'LoadAnnotations']
    # The child's extended list did not change what the base defined.
    assert [t.type for t in cfg.pipeline] == ['LoadImageFromFile']


def test_assigning_to_base_attributes_changes_inherited_values(tmp_path):
    # The style of yolov5_s-v61_fast_1xb12-40e_cat.py:
    # `_base_.optim_wrapper.optimizer.batch_size_per_gpu = ...`.
    _write(
        tmp_path, 'base.py', """
        optim_wrapper = dict(optimizer=dict(lr=0.01, batch_size_per_gpu=16))
        """)
    child = _write(
        tmp_path, 'child.py', """
        _base_ = './base.py'
        _base_.optim_wrapper.optimizer.batch_size_per_gpu = 12
        """)
    cfg = Config.fromfile(child)
    assert cfg.optim_wrapper.optimizer == dict(lr=0.01, batch_size_per_gpu=12)


def test_child_variables_do_not_reach_base_dicts(tmp_path):
    """Spec 04 §14.8: redefined intermediate variables must be passed into
    the dicts that use them again."""
    child = _write(
        tmp_path, 'child.py', f"""
        _base_ = {YOLOV5_S!r}
        train_batch_size_per_gpu = 4
        img_scale = (320, 320)
        """)
    cfg = Config.fromfile(child)
    assert cfg.train_batch_size_per_gpu == 4
    assert cfg.train_dataloader.batch_size == 16
    mosaic = next(t for t in cfg.train_pipeline if t.type == 'Mosaic')
    assert mosaic.img_scale == (640, 640)


def test_user_config_on_shipped_config(tmp_path):
    """A user config in any folder inherits a shipped config by path."""
    child = _write(
        tmp_path, 'my_yolov5.py', f"""
        _base_ = {YOLOV5_S!r}
        num_classes = 3
        pre_transform = _base_.pre_transform
        img_scale = {{{{_base_.img_scale}}}}
        model = dict(bbox_head=dict(head_module=dict(num_classes=num_classes)))
        """)
    cfg = Config.fromfile(child)
    assert cfg.default_scope == 'yolokit'
    assert cfg.img_scale == (640, 640)
    assert [t.type for t in cfg.pre_transform
            ] == ['LoadImageFromFile', 'LoadAnnotations']
    head = cfg.model.bbox_head.head_module
    assert head.num_classes == 3
    # Everything else of the head came from the base.
    assert head.in_channels == [256, 512, 1024]
    assert cfg.model.data_preprocessor.type == 'YOLOv5DetDataPreprocessor'


# ---------------------------------------------- yolokit:: (installed configs)


def _require_installed_configs() -> str:
    """``yolokit/.mim/configs`` of the installed package, or skip."""
    try:
        importlib.metadata.distribution('yolokit')
    except importlib.metadata.PackageNotFoundError:
        pytest.skip('yolokit is not installed (pip install -e .), so '
                    '`yolokit::` config names cannot resolve')
    import yolokit
    mim_dir = osp.join(osp.dirname(yolokit.__file__), '.mim')
    # An installed yolokit must expose its configs and model index there.
    assert osp.isdir(osp.join(mim_dir, 'configs')), (
        f'{mim_dir}/configs is missing: the install did not link configs/')
    assert osp.isfile(osp.join(
        mim_dir, 'model-index.yml')), (f'{mim_dir}/model-index.yml is missing')
    # What MMEngine needs to resolve `yolokit::...`: the package name in its
    # table of OpenMMLab-style packages, and the installed package path.
    from mmengine.config.utils import MODULE2PACKAGE
    from mmengine.utils import get_installed_path
    assert MODULE2PACKAGE.get('yolokit') == 'yolokit', (
        'mmengine.config.utils.MODULE2PACKAGE has no "yolokit" entry, so '
        '`yolokit::` config names are rejected; importing yolokit must add it')
    installed = get_installed_path('yolokit')
    package_dir = osp.dirname(yolokit.__file__)
    assert osp.realpath(installed) == osp.realpath(package_dir), (
        f'mmengine locates yolokit at {installed}, not at {package_dir}; '
        '`yolokit::` names cannot find .mim/ there')
    return mim_dir


def test_inherit_through_package_scope(tmp_path):
    _require_installed_configs()
    child = _write(
        tmp_path, 'scoped.py', """
        _base_ = 'yolokit::yolov5/yolov5_s-v61_syncbn_fast_8xb16-300e_coco.py'
        model = dict(bbox_head=dict(head_module=dict(num_classes=3)))
        """)
    cfg = Config.fromfile(child)
    assert cfg.model.bbox_head.head_module.num_classes == 3
    assert cfg.model.backbone.type == 'YOLOv5CSPDarknet'
    assert cfg.model.backbone.deepen_factor == 0.33
    # MMEngine marks configs taken from a package with that package's scope.
    assert cfg.model.get('_scope_') == 'yolokit'
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'YOLODetector'
    assert model.bbox_head.num_classes == 3


def test_package_scope_reaches_base_files(tmp_path):
    _require_installed_configs()
    child = _write(
        tmp_path, 'runtime_only.py', """
        _base_ = 'yolokit::_base_/default_runtime.py'
        """)
    cfg = Config.fromfile(child)
    assert cfg.default_scope == 'yolokit'
    assert cfg.default_hooks.checkpoint == dict(
        type='CheckpointHook', interval=1, _scope_='yolokit')


# ---------------------------------------------------------- --cfg-options


def _parse_cfg_options(*options: str) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def test_cfg_options_parse_values():
    options = _parse_cfg_options('a.b=False', 'c=1', 'd=0.5', 'e=text',
                                 'f=[1,2,3]', 'g=(1,2)', 'h=[(1,2),(3,4)]',
                                 'i=None', 'j=1,2')
    assert options['a.b'] is False
    assert options['c'] == 1 and isinstance(options['c'], int)
    assert options['d'] == 0.5
    assert options['e'] == 'text'
    assert options['f'] == [1, 2, 3]
    assert options['g'] == (1, 2)
    assert options['h'] == [(1, 2), (3, 4)]
    assert options['i'] is None
    # Unbracketed commas also give a list.
    assert options['j'] == [1, 2]


def test_cfg_options_merge_into_shipped_config():
    cfg = Config.fromfile(YOLOV5_S)
    cfg.merge_from_dict(
        _parse_cfg_options(
            'model.backbone.norm_eval=False',
            'train_dataloader.dataset.pipeline.0.type=LoadImageFromNDArray',
            'model.data_preprocessor.mean=[127,127,127]',
            'train_cfg.max_epochs=5', 'default_hooks.checkpoint.interval=2'))
    assert cfg.model.backbone.norm_eval is False
    # Untouched siblings survive the dotted-key merge.
    assert cfg.model.backbone.deepen_factor == 0.33
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert pipeline[0].type == 'LoadImageFromNDArray'
    assert pipeline[1].type == 'LoadAnnotations'
    assert cfg.model.data_preprocessor.mean == [127, 127, 127]
    assert cfg.model.data_preprocessor.std == [255., 255., 255.]
    assert cfg.train_cfg.max_epochs == 5
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert cfg.default_hooks.checkpoint.interval == 2
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 3


def test_cfg_options_list_index_out_of_range():
    cfg = Config.fromfile(YOLOV5_S)
    with pytest.raises(KeyError, match='Index 99 exceeds'):
        cfg.merge_from_dict(
            _parse_cfg_options('train_dataloader.dataset.pipeline.99.type=X'))
