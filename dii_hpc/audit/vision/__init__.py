"""Audits for object detection and image segmentation (ART has no end-to-end support).

- `estimators`: ART estimators for torchvision-format detectors and per-pixel segmenters;
- `wrappers`: audit models over torch modules (`TorchDetectorWrapper`, `TorchSegmenterWrapper`);
- `validate`: one-line BadInput for boxes, masks, label ids and detector outputs;
- `metrics`: mAP@0.5 / mAP@[.5:.95] (pycocotools), mean IoU, pixel accuracy, per-class IoU;
- `attacks`, `patch`: the evasion catalogue (fgsm, pgd, dpatch, robust_dpatch, patch);
- `suite`, `engine`: levels I/II/III with the same result dict as `dii_hpc.audit.engine`.
Demo models and data: `dii_hpc.examples.shapes`.
"""
