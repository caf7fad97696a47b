"""YOLOv7's blocks match MMYOLO 0.6.0's (the ``mmyolo_reference`` oracle):
same state_dict keys in the same order and, with one set of random
weights, the same output (float32, 1e-5). One file for the five blocks of
``yolokit/models/layers/{elan_block, eelan_block,
max_pool_and_stride_conv_block, tiny_down_sample_block, sppfcsp_block}.py``
because the check is the same for each."""
import pytest
import torch

import yolokit.models.layers as ours_layers

CASES = [
    ('ELANBlock',
     dict(
         in_channels=8,
         out_channels=16,
         middle_ratio=0.5,
         block_ratio=0.5,
         num_blocks=2,
         num_convs_in_block=2), (1, 8, 6, 6)),
    # one conv per group: bare ConvModules (the neck's layout)
    ('ELANBlock',
     dict(
         in_channels=16,
         out_channels=8,
         middle_ratio=0.5,
         block_ratio=0.25,
         num_blocks=4,
         num_convs_in_block=1), (1, 16, 5, 5)),
    ('EELANBlock',
     dict(
         num_elan_block=2,
         in_channels=8,
         out_channels=8,
         middle_ratio=0.5,
         block_ratio=0.5,
         num_blocks=3,
         num_convs_in_block=2), (1, 8, 4, 4)),
    ('MaxPoolAndStrideConvBlock', dict(in_channels=8,
                                       out_channels=8), (1, 8, 6, 6)),
    # even sizes only (in both libraries): the pool floors, the conv ceils
    ('MaxPoolAndStrideConvBlock',
     dict(in_channels=8, out_channels=16,
          use_in_channels_of_middle=True), (1, 8, 8, 8)),
    ('TinyDownSampleBlock',
     dict(in_channels=8, out_channels=8, middle_ratio=0.5), (1, 8, 6, 6)),
    ('TinyDownSampleBlock', dict(in_channels=8,
                                 out_channels=16), (1, 8, 5, 5)),
    ('SPPFCSPBlock', dict(in_channels=16, out_channels=8), (1, 16, 9, 9)),
    ('SPPFCSPBlock',
     dict(in_channels=16, out_channels=8,
          is_tiny_version=True), (1, 16, 9, 9)),
    ('SPPFCSPBlock',
     dict(in_channels=16, out_channels=8,
          kernel_sizes=(5, 9, 13)), (1, 16, 9, 9)),
    ('SPPFCSPBlock',
     dict(
         in_channels=16,
         out_channels=8,
         kernel_sizes=(5, 9, 13),
         is_tiny_version=True), (1, 16, 9, 9)),
]


@pytest.mark.parametrize('name, kwargs, shape', CASES)
def test_matches_mmyolo(mmyolo_reference, name, kwargs, shape):
    torch.manual_seed(0)
    ours = getattr(ours_layers, name)(**kwargs).eval()
    theirs = getattr(mmyolo_reference.package.models.layers,
                     name)(**kwargs).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for t in ours.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape) + 0.5)  # positive: valid var
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(*shape)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
