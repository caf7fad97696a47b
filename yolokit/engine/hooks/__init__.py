"""Hooks of yolokit."""
from .switch_to_deploy_hook import SwitchToDeployHook
from .yolov5_param_scheduler_hook import YOLOv5ParamSchedulerHook

__all__ = ['YOLOv5ParamSchedulerHook', 'SwitchToDeployHook']
