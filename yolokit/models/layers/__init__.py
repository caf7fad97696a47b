"""Building blocks shared by yolokit backbones, necks and heads."""
from .csp_layer_with_two_conv import CSPLayerWithTwoConv
from .darknet_bottleneck import DarknetBottleneck
from .ema import ExpMomentumEMA
from .sppf_bottleneck import SPPFBottleneck

__all__ = ['SPPFBottleneck', 'ExpMomentumEMA', 'CSPLayerWithTwoConv',
           'DarknetBottleneck']
