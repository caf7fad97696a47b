"""A hook that tests the model in its deploy (re-parameterized) form."""
from mmengine.hooks import EMAHook, Hook
from mmengine.runner import Runner

from yolokit.registry import HOOKS
from yolokit.utils.switch_to_deploy import switch_to_deploy


@HOOKS.register_module()
class SwitchToDeployHook(Hook):
    """Switch the model to deploy mode before testing.

    Added by ``tools/test.py --deploy``: every submodule with a
    ``switch_to_deploy()`` method (e.g. ``RepVGGBlock``) is fused into its
    inference form and BatchNorm is folded into the preceding convolutions,
    so the test measures the deployed model.

    With an :class:`mmengine.hooks.EMAHook`, the averaged copy is switched
    too: the EMA hook swaps the averaged weights in before the test and back
    after it, parameter by parameter, which needs both models to have the
    same structure.
    """
    # After EMAHook (NORMAL or higher) has swapped the averaged weights in.
    priority = 'BELOW_NORMAL'

    def before_test_epoch(self, runner: Runner) -> None:
        """Switch ``runner.model`` (and an EMA copy) to deploy mode."""
        switch_to_deploy(runner.model)
        for hook in runner.hooks:
            ema_model = getattr(hook, 'ema_model', None)
            if isinstance(hook, EMAHook) and ema_model is not None:
                switch_to_deploy(ema_model.module)
