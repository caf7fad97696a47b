"""A hook that tests the model in its deploy (re-parameterized) form."""
from mmengine.hooks import Hook
from mmengine.runner import Runner

from yolokit.registry import HOOKS
from yolokit.utils.switch_to_deploy import switch_to_deploy


@HOOKS.register_module()
class SwitchToDeployHook(Hook):
    """Switch the model to deploy mode before testing.

    Added by ``tools/test.py --deploy``: every submodule with a
    ``switch_to_deploy()`` method (e.g. ``RepVGGBlock``) is fused into its
    inference form, so the test measures the deployed model.
    """

    def before_test_epoch(self, runner: Runner) -> None:
        """Switch ``runner.model`` to deploy mode."""
        switch_to_deploy(runner.model)
