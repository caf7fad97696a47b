"""Removal of result keys the rest of the pipeline does not need."""
from typing import Sequence, Union

from mmcv.transforms import BaseTransform

from yolokit.registry import TRANSFORMS

__all__ = ['RemoveDataElement']


@TRANSFORMS.register_module()
class RemoveDataElement(BaseTransform):
    """Remove keys from the results; missing keys are ignored.

    Args:
        keys (str | Sequence[str]): The key or keys to remove.
    """

    def __init__(self, keys: Union[str, Sequence[str]]):
        if isinstance(keys, str):
            keys = [keys]
        if not all(isinstance(k, str) for k in keys):
            raise TypeError('RemoveDataElement: keys must be a str or a '
                            f'sequence of str, got {keys!r}')
        self.keys = list(keys)

    def transform(self, results: dict) -> dict:
        """Pop ``self.keys`` from ``results``.

        Args:
            results (dict): The result dict.

        Returns:
            dict: The result dict without the keys.
        """
        for key in self.keys:
            results.pop(key, None)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(keys={self.keys})'
