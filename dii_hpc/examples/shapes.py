"""Demo: synthetic shapes on noise, a tiny detector and a tiny segmentation network.

Nothing is downloaded: `make_shapes` draws 1-3 filled shapes (1 square, 2 disc, 3 triangle;
0 is background) on a noisy 32x32 grey image and returns the image, its per-pixel mask and
its boxes in torchvision's format, so the same data feeds both audits.
- `TinyDetector` is a single-stage grid detector (CenterNet-like, stride 4) that follows
  torchvision's contract: train mode `model(images, targets) -> dict of losses`, eval mode
  `model(images) -> [{"boxes", "labels", "scores"}]`.
- `TinySegNet` is a small dilated CNN giving (N, 4, 32, 32) logits.
Both train in seconds on a CPU; weights are cached per recipe (`_train.cached_module`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dii_hpc.examples import _train

SIZE = 32
N_CLASSES = 4  # background + square, disc, triangle
STRIDE = 4
DET_DEFAULTS = {"epochs": 25, "lr": 5e-3, "seed": 0, "n_train": 400, "width": 24,
                "batch_size": 16}
SEG_DEFAULTS = {"epochs": 25, "lr": 5e-3, "seed": 0, "n_train": 400, "width": 16,
                "batch_size": 32}


def _draw(kind: int, size: int, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float,
          r: float) -> np.ndarray:
    if kind == 1:
        return (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    if kind == 2:
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    # triangle with apex on top: rows widen towards the base
    rows = (yy >= cy - r) & (yy <= cy + r)
    half = (yy - (cy - r)) / 2.0
    return rows & (np.abs(xx - cx) <= half)


def make_shapes(n: int, seed: int = 0, size: int = SIZE,
                max_objects: int = 3) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Images (N, 1, S, S) in [0, 1], masks (N, S, S) int64, targets (boxes xyxy, labels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = rng.uniform(0.0, 0.35, (n, 1, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), dtype=np.int64)
    targets: list[dict[str, Any]] = []
    for i in range(n):
        boxes: list[list[float]] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _try in range(20):
                r = float(rng.uniform(3.5, 6.0))
                cy, cx = rng.uniform(r + 1, size - r - 2, 2)
                box = [cx - r, cy - r, cx + r + 1, cy + r + 1]
                if not any(_overlaps(box, b) for b in boxes):
                    break
            else:
                continue
            kind = int(rng.integers(1, N_CLASSES))
            region = _draw(kind, size, yy, xx, cy, cx, r) & (masks[i] == 0)
            images[i, 0][region] = rng.uniform(0.65, 1.0, int(region.sum()))
            masks[i][region] = kind
            ys, xs = np.nonzero(region)
            boxes.append([float(xs.min()), float(ys.min()), float(xs.max() + 1),
                          float(ys.max() + 1)])
            labels.append(kind)
        targets.append({"boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                        "labels": np.asarray(labels, dtype=np.int64)})
    return images, masks, targets


def _overlaps(a: list[float], b: list[float]) -> bool:
    """Boxes touch (1 px margin): shapes stay apart so every box has one clear owner."""
    return min(a[2], b[2]) + 1 > max(a[0], b[0]) and min(a[3], b[3]) + 1 > max(a[1], b[1])


def build_segnet(width: int = 16) -> Any:
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=4, dilation=4), nn.ReLU(),
        nn.Conv2d(width, N_CLASSES, 1),
    )


def build_detector(width: int = 32) -> Any:
    """A TinyDetector module (a class built inside a function: torch stays a lazy import)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class TinyDetector(nn.Module):
        """Grid detector: per cell a class heat map, a box size and a centre offset."""

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(1, width, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
            )
            self.head = nn.Conv2d(width, N_CLASSES - 1 + 4, 1)
            self.score_threshold = 0.05

        def forward(self, images: Any, targets: Any = None) -> Any:
            out = self.head(self.body(images))
            heat, size, offset = out[:, : N_CLASSES - 1], out[:, -4:-2], out[:, -2:]
            if self.training:
                if targets is None:
                    raise ValueError("targets are required in train mode")
                return _losses(heat, size, offset, targets)
            return _decode(heat.sigmoid(), size, offset.sigmoid(), self.score_threshold)

    def _losses(heat: Any, size: Any, offset: Any, targets: Any) -> dict[str, Any]:
        n, c, g, _ = heat.shape
        want = torch.zeros_like(heat)
        pos = torch.zeros((n, g, g), dtype=torch.bool, device=heat.device)
        size_t = torch.zeros_like(size)
        off_t = torch.zeros_like(offset)
        gy, gx = torch.meshgrid(torch.arange(g, device=heat.device),
                                torch.arange(g, device=heat.device), indexing="ij")
        for i, t in enumerate(targets):
            for box, label in zip(t["boxes"], t["labels"], strict=False):
                cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
                ix, iy = int(cx.clamp(0, g - 1)), int(cy.clamp(0, g - 1))
                blob = torch.exp(-((gx - ix) ** 2 + (gy - iy) ** 2) / 2.0)
                k = int(label) - 1
                want[i, k] = torch.maximum(want[i, k], blob)
                pos[i, iy, ix] = True
                size_t[i, :, iy, ix] = torch.stack([box[2] - box[0], box[3] - box[1]]) / SIZE
                off_t[i, :, iy, ix] = torch.stack([cx - ix, cy - iy])
        p = heat.sigmoid().clamp(1e-4, 1 - 1e-4)
        is_pos = want >= 0.999
        focal = torch.where(is_pos, (1 - p) ** 2 * torch.log(p),
                            (1 - want) ** 4 * p ** 2 * torch.log(1 - p))
        n_pos = max(int(pos.sum()), 1)
        m = pos.unsqueeze(1)
        return {"loss_heatmap": -focal.sum() / n_pos,
                "loss_size": (F.l1_loss(size, size_t, reduction="none") * m).sum() / n_pos * 5,
                "loss_offset": (F.l1_loss(offset.sigmoid(), off_t, reduction="none") * m).sum()
                / n_pos}

    def _decode(heat: Any, size: Any, offset: Any, thr: float) -> list[dict[str, Any]]:
        peak = heat == F.max_pool2d(heat, 3, stride=1, padding=1)
        results = []
        for i in range(heat.shape[0]):
            k, iy, ix = torch.nonzero(peak[i] & (heat[i] > thr), as_tuple=True)
            scores = heat[i, k, iy, ix]
            cx = (ix + offset[i, 0, iy, ix]) * STRIDE
            cy = (iy + offset[i, 1, iy, ix]) * STRIDE
            w, h = size[i, 0, iy, ix] * SIZE, size[i, 1, iy, ix] * SIZE
            boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
            results.append({"boxes": boxes.clamp(0, SIZE), "labels": k + 1, "scores": scores})
        return results

    return TinyDetector()


def train_detector(module: Any, x: np.ndarray, targets: list[dict[str, Any]], *,
                   epochs: int, lr: float, seed: int, batch_size: int = 32) -> Any:
    """Adam on the summed losses, seeded order (the user's `fit` for poisoning audits)."""
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(x)
    tt = [{k: torch.as_tensor(v) for k, v in t.items()} for t in targets]
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
            opt.zero_grad()
            sum(module(xt[idx], [tt[int(j)] for j in idx]).values()).backward()
            opt.step()
    return module.eval()


def train_segnet(module: Any, x: np.ndarray, masks: np.ndarray, *, epochs: int, lr: float,
                 seed: int, batch_size: int = 32) -> Any:
    import torch

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt, mt = torch.as_tensor(x), torch.as_tensor(masks)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(batch_size):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module(xt[idx]), mt[idx]).backward()
            opt.step()
    return module.eval()


class ShapesData:
    """Audit dataset: train/test splits of `make_shapes` (different seeds, no overlap)."""

    def __init__(self, task: str, n_train: int = 400, n_test: int = 200, seed: int = 0) -> None:
        self.task = task
        self.train = make_shapes(n_train, seed=seed)
        self.test = make_shapes(n_test, seed=seed + 10_000)

    def _pick(self, split: tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]) -> Any:
        x, masks, targets = split
        return (x, masks) if self.task == "image_segmentation" else (x, targets)

    def get_train_data(self) -> Any:
        return self._pick(self.train)

    def get_test_data(self) -> Any:
        return self._pick(self.test)


def detection_data(n_train: int = 400, n_test: int = 200, seed: int = 0) -> ShapesData:
    """Config factory: `data: dii_hpc.examples.shapes:detection_data`."""
    return ShapesData("object_detection", n_train, n_test, seed)


def segmentation_data(n_train: int = 400, n_test: int = 200, seed: int = 0) -> ShapesData:
    """Config factory: `data: dii_hpc.examples.shapes:segmentation_data`."""
    return ShapesData("image_segmentation", n_train, n_test, seed)


def shapes_detector(weights: str | None = None, **params: Any) -> Any:
    """Config factory: the demo detector, trained once per recipe and cached."""
    import torch

    from dii_hpc.audit.model.vision_wrappers import TorchDetectorWrapper

    recipe = {**DET_DEFAULTS, **params}
    kw = {k: recipe[k] for k in ("epochs", "lr", "seed", "batch_size")}

    def build() -> Any:
        torch.manual_seed(int(recipe["seed"]))
        return build_detector(int(recipe["width"]))

    def trainer(x: np.ndarray, targets: list[dict[str, Any]]) -> Any:
        return train_detector(build(), x, targets, **kw)

    module, path = _load_or_train(weights, build, lambda m: train_detector(
        m, *_train_split(recipe, "det"), **kw), {"name": "shapes-detector", **recipe})
    return TorchDetectorWrapper(module, input_shape=(1, SIZE, SIZE), nb_classes=N_CLASSES,
                                clip_values=(0.0, 1.0), trainer=trainer, weights_path=path)


def shapes_segmenter(weights: str | None = None, **params: Any) -> Any:
    """Config factory: the demo segmentation network, trained once per recipe and cached."""
    import torch

    from dii_hpc.audit.model.vision_wrappers import TorchSegmenterWrapper

    recipe = {**SEG_DEFAULTS, **params}
    kw = {k: recipe[k] for k in ("epochs", "lr", "seed", "batch_size")}

    def build() -> Any:
        torch.manual_seed(int(recipe["seed"]))
        return build_segnet(int(recipe["width"]))

    def trainer(x: np.ndarray, masks: np.ndarray) -> Any:
        return train_segnet(build(), x, masks, **kw)

    module, path = _load_or_train(weights, build, lambda m: train_segnet(
        m, *_train_split(recipe, "seg"), **kw), {"name": "shapes-segnet", **recipe})
    return TorchSegmenterWrapper(module, input_shape=(1, SIZE, SIZE), nb_classes=N_CLASSES,
                                 clip_values=(0.0, 1.0), trainer=trainer, weights_path=path)


def _train_split(recipe: dict[str, Any], kind: str) -> tuple[np.ndarray, Any]:
    x, masks, targets = make_shapes(int(recipe["n_train"]), seed=0)
    return (x, targets) if kind == "det" else (x, masks)


def _load_or_train(weights: str | None, build: Any, train: Any,
                   recipe: dict[str, Any]) -> tuple[Any, str]:
    import torch

    if weights:
        module = build()
        module.load_state_dict(torch.load(weights, weights_only=True))
        return module.eval(), weights
    module, path = _train.cached_module(build, train, recipe)
    return module, str(path)
