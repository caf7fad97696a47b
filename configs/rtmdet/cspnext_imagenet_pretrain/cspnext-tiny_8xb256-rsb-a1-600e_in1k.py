# ImageNet-1k pretraining of the CSPNeXt-tiny backbone, which produced the
# `cspnext-tiny_imagenet_600e` checkpoint that rtmdet_tiny_* configs load.
# An MMPretrain config, see cspnext-s_8xb256-rsb-a1-600e_in1k.py.
_base_ = './cspnext-s_8xb256-rsb-a1-600e_in1k.py'

model = dict(
    backbone=dict(deepen_factor=0.167, widen_factor=0.375),
    head=dict(in_channels=384))
