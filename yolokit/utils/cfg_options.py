"""The ``--cfg-options key=value ...`` argument of yolokit's tools."""
import argparse
from typing import Any, Optional, Sequence, Union

from mmengine.config import DictAction

CFG_OPTIONS_HELP = (
    'override settings of the config, as key=value pairs; nested keys are '
    'dotted (model.backbone.norm_eval=False), list items are indexed '
    '(train_dataloader.dataset.pipeline.0.type=X) and lists or tuples are '
    'quoted without spaces: key="[a,b]" or key="(a,b)"')


class CfgOptionsAction(DictAction):
    """MMEngine's :class:`DictAction` that rejects items without ``=``.

    MMEngine splits every item at its first ``=`` and fails with ``not
    enough values to unpack`` when there is none; this action turns that
    (and an empty key, as in ``=3``) into an argparse error that names the
    item and the expected ``key=value`` form, so the tool exits with its
    usage line and status 2.
    """

    def __call__(self,
                 parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: Union[str, Sequence[Any], None],
                 option_string: Optional[str] = None) -> None:
        items = [values] if isinstance(values, str) else list(values or [])
        for item in items:
            key, sep, _ = str(item).partition('=')
            if not sep or not key.strip():
                raise argparse.ArgumentError(
                    self, f'{item!r} is not a key=value pair; expected e.g. '
                    'train_cfg.max_epochs=100 (dotted key, "=", value)')
        super().__call__(parser, namespace, items, option_string)


def add_cfg_options_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--cfg-options`` (parsed by :class:`CfgOptionsAction`)."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        metavar='KEY=VALUE',
        help=CFG_OPTIONS_HELP)
