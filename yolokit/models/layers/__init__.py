"""Building blocks shared by yolokit backbones, necks and heads."""
from .bep_c3_stage_block import BepC3StageBlock
from .bi_fusion import BiFusion
from .bottle_rep import BottleRep
from .conv_wrapper import ConvWrapper
from .csp_layer_with_two_conv import CSPLayerWithTwoConv
from .csp_res_layer import CSPResLayer
from .effective_se_layer import EffectiveSELayer
from .ppyoloe_basic_block import PPYOLOEBasicBlock
from .ppyoloe_se_layer import PPYOLOESELayer
from .csp_sppf_bottleneck import CSPSPPFBottleneck
from .darknet_bottleneck import DarknetBottleneck
from .eelan_block import EELANBlock
from .elan_block import ELANBlock
from .ema import ExpMomentumEMA
from .implicit_a import ImplicitA
from .implicit_m import ImplicitM
from .max_pool_and_stride_conv_block import MaxPoolAndStrideConvBlock
from .rep_stage_block import RepStageBlock
from .rep_vgg_block import RepVGGBlock
from .sppf_bottleneck import SPPFBottleneck
from .sppfcsp_block import SPPFCSPBlock
from .tiny_down_sample_block import TinyDownSampleBlock

__all__ = [
    'ELANBlock', 'EELANBlock', 'MaxPoolAndStrideConvBlock',
    'TinyDownSampleBlock', 'SPPFCSPBlock', 'ImplicitA', 'ImplicitM',
    'SPPFBottleneck', 'ExpMomentumEMA', 'CSPLayerWithTwoConv',
    'DarknetBottleneck', 'RepVGGBlock', 'RepStageBlock', 'BepC3StageBlock',
    'BottleRep', 'ConvWrapper', 'CSPResLayer', 'EffectiveSELayer',
    'PPYOLOEBasicBlock', 'PPYOLOESELayer', 'BiFusion', 'CSPSPPFBottleneck'
]
