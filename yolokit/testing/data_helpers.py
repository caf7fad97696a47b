"""Random inputs for tests."""
import torch


def rand_bboxes(num_boxes: int, img_w: int, img_h: int,
                generator: torch.Generator = None) -> torch.Tensor:
    """Random valid ``(x1, y1, x2, y2)`` boxes inside a ``img_w x img_h`` image.

    Every box has positive width and height.
    """
    xy = torch.rand(num_boxes, 2, 2, generator=generator)
    lo = xy.min(dim=1).values
    hi = xy.max(dim=1).values
    scale = torch.tensor([img_w, img_h], dtype=torch.float32)
    x1y1 = lo * scale
    x2y2 = torch.maximum(hi * scale, x1y1 + 1)
    x2y2 = torch.minimum(x2y2, scale)
    x1y1 = torch.minimum(x1y1, x2y2 - 1)
    return torch.cat([x1y1, x2y2], dim=1)
