"""The ``keypoints_cls`` fixture: yolokit's ``Keypoints`` and a stand-in.

The transforms only rely on the structure's interface (``flip_``,
``rescale_``, ``translate_``, ``clip_``, ``project_``, indexing,
``num_keypoints``, ``keypoints``, ``keypoints_visible``). Every test that
takes the fixture runs twice: with a plain-numpy stub of that interface,
which checks the transforms' use of it on its own, and with the real
structure, which checks the two work together.
"""
import numpy as np
import pytest
import torch

from yolokit.datasets.transforms.keypoint_structure import Keypoints


class StubKeypoints:

    def __init__(self, keypoints, keypoints_visible, flip_indices):
        self.keypoints = np.asarray(keypoints, dtype=np.float32)
        self.keypoints_visible = np.asarray(
            keypoints_visible, dtype=np.float32)
        self.flip_indices = list(flip_indices)

    def __len__(self):
        return len(self.keypoints)

    def __getitem__(self, index):
        return StubKeypoints(self.keypoints[index],
                             self.keypoints_visible[index], self.flip_indices)

    @property
    def num_keypoints(self):
        return torch.from_numpy((self.keypoints_visible > 0).sum(1))

    def flip_(self, img_shape, direction='horizontal'):
        assert direction == 'horizontal'
        self.keypoints[..., 0] = img_shape[1] - self.keypoints[..., 0]
        self.keypoints = self.keypoints[:, self.flip_indices]
        self.keypoints_visible = self.keypoints_visible[:, self.flip_indices]

    def rescale_(self, scale_factor):
        self.keypoints = self.keypoints * np.asarray(
            scale_factor, dtype=np.float32)

    def translate_(self, distances):
        self.keypoints = self.keypoints + np.asarray(
            distances, dtype=np.float32)

    def clip_(self, img_shape):
        self.keypoints[..., 0] = self.keypoints[..., 0].clip(0, img_shape[1])
        self.keypoints[..., 1] = self.keypoints[..., 1].clip(0, img_shape[0])

    def project_(self, matrix):
        pts = np.concatenate(
            [self.keypoints,
             np.ones_like(self.keypoints[..., :1])], -1)
        pts = pts @ np.asarray(matrix, dtype=np.float32).T
        self.keypoints = (pts[..., :2] / pts[..., 2:]).astype(np.float32)


@pytest.fixture(params=['stub', 'real'])
def keypoints_cls(request):
    return StubKeypoints if request.param == 'stub' else Keypoints
