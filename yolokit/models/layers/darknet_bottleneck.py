"""Residual pair of convs whose two kernel sizes are arguments."""
from typing import Sequence

from mmdet.models.layers.csp_layer import \
    DarknetBottleneck as MMDetDarknetBottleneck
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule

from .conv_recipe import ConvRecipe


def _check_pair(name: str, value) -> None:
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f'DarknetBottleneck: `{name}` must be a sequence of '
                         f'two ints (conv1, conv2), but got {value!r}')


class DarknetBottleneck(MMDetDarknetBottleneck):
    """``y = conv2(conv1(x)) + x``; the shortcut only when it fits.

    ``conv1`` (k1 x k1) maps ``in_channels`` to ``hidden = int(out_channels
    * expansion)`` and ``conv2`` (k2 x k2, stride 1) maps ``hidden`` to
    ``out_channels``; the sum with ``x`` is taken when ``add_identity`` and
    ``in_channels == out_channels``. (B, in, H, W) -> (B, out, H, W) for
    'same' paddings. MMDetection's block fixes (k1, k2) = (1, 3); YOLOv8's
    C2f uses (3, 3) with ``expansion=1``. The forward pass is inherited from
    MMDetection's class, so ``isinstance`` checks against it hold.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expansion (float): ``hidden / out_channels``. Defaults to 0.5.
        kernel_size (Sequence[int]): (k1, k2). Defaults to (1, 3).
        padding (Sequence[int]): Paddings of conv1 and conv2.
            Defaults to (0, 1).
        add_identity (bool): Allow the shortcut. Defaults to True.
        use_depthwise (bool): Make conv2 depth-wise separable.
            Defaults to False.
        conv_cfg, norm_cfg, act_cfg (dict): Configs of both convs; the
            defaults are ``nn.Conv2d``, BN (momentum 0.03, eps 0.001), SiLU.
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
        _check_pair('kernel_size', kernel_size)
        _check_pair('padding', padding)
        # MMDetection's __init__ would build its fixed 1x1/3x3 convs only
        # for them to be replaced; just its forward is reused.
        BaseModule.__init__(self, init_cfg)
        hidden_channels = int(out_channels * expansion)
        convs = ConvRecipe(norm_cfg, act_cfg, conv_cfg)
        self.conv1 = convs(
            in_channels, hidden_channels, kernel_size[0], padding=padding[0])
        self.conv2 = convs.depthwise(use_depthwise)(
            hidden_channels, out_channels, kernel_size[1], padding=padding[1])
        self.add_identity = add_identity and in_channels == out_channels
