"""Darknet bottleneck with configurable kernel sizes (YOLOv8 C2f blocks)."""
from typing import Sequence

from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmdet.models.layers.csp_layer import \
    DarknetBottleneck as MMDetDarknetBottleneck
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig


class DarknetBottleneck(MMDetDarknetBottleneck):
    """Two stacked convs with an optional residual connection.

    ``out = conv2(conv1(x)) (+ x)``. Unlike MMDetection's block (a fixed
    1x1 then 3x3), the kernel size and padding of both convs are arguments;
    YOLOv8 uses 3x3 for both. The forward pass is MMDetection's.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expansion (float): Ratio of hidden to output channels,
            ``hidden = int(out_channels * expansion)``. Defaults to 0.5.
        kernel_size (Sequence[int]): Kernel sizes of conv1 and conv2.
            Defaults to (1, 3).
        padding (Sequence[int]): Paddings of conv1 and conv2.
            Defaults to (0, 1).
        add_identity (bool): Add the input to the output; only applied when
            ``in_channels == out_channels``. Defaults to True.
        use_depthwise (bool): Make conv2 depthwise-separable.
            Defaults to False.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict): Norm layer config.
            Defaults to ``dict(type='BN', momentum=0.03, eps=0.001)``.
        act_cfg (dict): Activation config.
            Defaults to ``dict(type='SiLU', inplace=True)``.
        init_cfg (dict or list[dict], optional): Initialization config.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expansion: float = 0.5,
                 kernel_size: Sequence[int] = (1, 3),
                 padding: Sequence[int] = (0, 1),
                 add_identity: bool = True,
                 use_depthwise: bool = False,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU', inplace=True),
                 init_cfg: OptMultiConfig = None) -> None:
        # Validate before the parent builds its fixed 1x1/3x3 convs, which
        # are replaced below.
        for name, value in (('kernel_size', kernel_size), ('padding',
                                                           padding)):
            if not isinstance(value, Sequence) or len(value) != 2:
                raise ValueError(
                    f'DarknetBottleneck: `{name}` must be a sequence of two '
                    f'ints (conv1, conv2), but got {value!r}')
        super().__init__(
            in_channels,
            out_channels,
            expansion=expansion,
            add_identity=add_identity,
            use_depthwise=use_depthwise,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)
        hidden_channels = int(out_channels * expansion)
        conv = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        self.conv1 = ConvModule(
            in_channels,
            hidden_channels,
            kernel_size[0],
            padding=padding[0],
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.conv2 = conv(
            hidden_channels,
            out_channels,
            kernel_size[1],
            stride=1,
            padding=padding[1],
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.add_identity = add_identity and in_channels == out_channels
