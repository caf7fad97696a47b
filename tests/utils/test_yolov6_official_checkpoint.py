"""yolokit/utils/yolov6_official_checkpoint.py on hand-made state_dicts.

Expected names follow MMYOLO 0.6.0's ``tools/model_converters/
yolov6_to_mmyolo.py`` and ``yolov6_v3_to_mmyolo.py`` (e.g. ``ERBlock_2`` ->
``stage1.0``, then ``stage4.0.2`` -> ``stage4.1``; ``.cv`` -> ``.conv``,
``.m.`` -> ``.block.``). The full layouts of real official models are
checked in tests/tools/model_converters/test_yolov6_to_yolokit.py.
"""
import pytest
import torch

from yolokit.utils.yolov6_official_checkpoint import (block_table, convert,
                                                      detect_release,
                                                      rename_inner)

HEAD = 'bbox_head.head_module'


def _sd(*keys, value=None):
    return {k: torch.ones(2) if value is None else value for k in keys}


@pytest.mark.parametrize(
    'inner, expected',
    [
        ('cv7.bn.bias', 'conv7.bn.bias'),
        ('m.conv1.conv1.rbr_dense.conv.weight',
         'block.conv1.conv1.rbr_dense.conv.weight'),
        ('m.block.0.alpha', 'block.block.0.alpha'),
        ('conv1.rbr_identity.running_var', 'conv1.rbr_identity.running_var'),
        ('upsample.upsample_transpose.weight', 'upsample.weight'),
        ('block.conv.weight', 'block.conv.weight'),  # ConvWrapper (yolov6l)
    ])
def test_rename_inner_by_hand(inner, expected):
    assert rename_inner(inner) == expected


def test_block_table_stages_and_sppf():
    table = block_table('0.2.0')
    assert table['backbone.ERBlock_2.0'] == 'backbone.stage1.0.0'
    assert table['backbone.ERBlock_5.1'] == 'backbone.stage4.0.1'
    assert table['backbone.ERBlock_5.2'] == 'backbone.stage4.1'
    assert table['neck.upsample1.upsample_transpose'] == \
        'neck.upsample_layers.1'
    assert block_table('0.3.0')['neck.Bifusion1'] == 'neck.upsample_layers.1'
    with pytest.raises(ValueError, match="release must be one of.*'v3'"):
        block_table('v3')


def test_convert_v2_keys_by_hand():
    src = _sd(
        'backbone.ERBlock_3.1.cv2.conv.weight',
        'backbone.ERBlock_5.2.cv1.bn.weight',
        'neck.reduce_layer1.conv.weight',
        'neck.upsample0.upsample_transpose.weight',
        'neck.downsample2.bn.bias',
        'detect.cls_preds.2.bias',
    )
    src['detect.proj'] = torch.arange(17.)
    src['detect.proj_conv.weight'] = torch.arange(17.).view(1, 17, 1, 1)
    assert list(convert(src, '0.2.0')) == [
        'backbone.stage2.0.1.conv2.conv.weight',
        'backbone.stage4.1.conv1.bn.weight',
        'neck.top_down_layers.0.1.conv.weight',
        'neck.upsample_layers.0.weight',
        'neck.downsample_layers.0.bn.bias',
        f'{HEAD}.cls_preds.2.bias',
    ]


def test_convert_v3_bifusion_by_hand():
    src = _sd('neck.Bifusion1.cv3.conv.weight',
              'neck.Bifusion1.upsample.upsample_transpose.bias',
              'neck.Bifusion1.downsample.bn.running_mean',
              'neck.Rep_n4.block.0.rbr_1x1.conv.weight')
    assert list(convert(src, '0.3.0')) == [
        'neck.upsample_layers.1.conv3.conv.weight',
        'neck.upsample_layers.1.upsample.bias',
        'neck.upsample_layers.1.downsample.bn.running_mean',
        'neck.bottom_up_layers.1.block.0.rbr_1x1.conv.weight',
    ]


def test_distillation_head_keeps_the_distance_branch():
    src = _sd('neck.Bifusion0.cv1.conv.weight')
    src['detect.reg_preds.0.weight'] = torch.zeros(68, 8, 1, 1)  # DFL
    src['detect.reg_preds_lrtb.0.weight'] = torch.full((4, 8, 1, 1), 3.)
    out = convert(src, '0.3.0')
    assert list(out) == [
        'neck.upsample_layers.0.conv1.conv.weight',
        f'{HEAD}.reg_preds.0.weight'
    ]
    assert torch.equal(out[f'{HEAD}.reg_preds.0.weight'],
                       torch.full((4, 8, 1, 1), 3.))


def test_anchor_aided_head_keeps_the_anchor_free_branches():
    src = _sd('neck.Bifusion0.cv1.conv.weight', 'detect.cls_preds_af.1.bias',
              'detect.reg_preds_af.1.bias', 'detect.cls_preds_ab.1.bias',
              'detect.reg_preds_ab.1.bias')
    assert list(convert(src, '0.3.0'))[1:] == [
        f'{HEAD}.cls_preds.1.bias', f'{HEAD}.reg_preds.1.bias'
    ]


def test_precision_and_wrapper_prefix():
    src = {
        'module.neck.upsample0.upsample_transpose.weight':
        torch.ones(2, dtype=torch.half),
        'module.neck.reduce_layer0.bn.num_batches_tracked':
        torch.tensor(5),
    }
    out = convert(src, '0.2.0')
    assert out['neck.upsample_layers.0.weight'].dtype == torch.float32
    assert out['neck.reduce_layers.2.bn.num_batches_tracked'].dtype == \
        torch.int64
    kept = convert(src, '0.2.0', to_float=False)
    assert kept['neck.upsample_layers.0.weight'].dtype == torch.half


def test_release_detection_and_errors():
    v2 = _sd('neck.upsample0.upsample_transpose.weight')
    v3 = _sd('neck.Bifusion0.cv1.conv.weight')
    assert detect_release(v2) == '0.2.0'
    assert detect_release(v3) == '0.3.0'
    with pytest.raises(ValueError, match='found those of none'):
        detect_release(_sd('neck.reduce_layer0.conv.weight'))
    with pytest.raises(ValueError, match='0.3.0 checkpoint.*expected 0.2.0'):
        convert(v3, '0.2.0')
    # a P6 model (yolov6n6 of 0.3.0) has a fifth backbone block
    with pytest.raises(KeyError, match='backbone.ERBlock_6.0.rbr_dense'):
        convert({
            **v3,
            **_sd('backbone.ERBlock_6.0.rbr_dense.conv.weight')
        }, '0.3.0')
    deployed = {**v2, **_sd('backbone.stem.rbr_reparam.weight')}
    with pytest.raises(
            ValueError,
            match='stem.rbr_reparam.weight hold '
            'RepVGG blocks fused'):
        convert(deployed, '0.2.0')
    learned = {**v2, 'detect.proj': torch.tensor([0., 1.5, 2.])}
    with pytest.raises(ValueError, match='detect.proj is expected'):
        convert(learned, '0.2.0')
