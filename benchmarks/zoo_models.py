"""The models of the coverage sweep (`benchmarks/zoo.py`): where they come from and how each is built.

A :class:`Spec` names a model, its source and family, and a zero-argument builder; the builder runs in the
sweep's child process, so building a model (seconds for a large one) is never part of the analysis time and a
crash while building is recorded like any other. Nothing is downloaded: ``weights=None``, ``pretrained=False``,
``encoder_weights=None``.

Sources:
- torchvision: every classification, video classification and semantic segmentation model, and the feature
  extractor (``model.backbone``) of every detection model;
- timm: one model per family (the module that defines it), the smallest by parameter count (counted on the
  meta device once per timm version and cached in ``results/zoo_timm_pick.json``), plus the variants that
  issue 14 names (mixnet, ecaresnet, coatnet, maxvit, ghostnetv2, res2next);
- segmentation_models_pytorch: every architecture with three encoders, and an encoder alone;
- pytorch-tcn: ``TCN`` with its own options, causal and not;
- atrous: every model of the registry;
- hand-written models with functional ops (``zoo_handwritten.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
TIMM_PICK = os.path.join(HERE, "results", "zoo_timm_pick.json")

#: timm variants named in issue 14 (families hidden inside a larger timm module), besides one per module
TIMM_EXTRA = ("mixnet_s", "mnasnet_small", "ecaresnet26t", "res2next50",
              "coatnet_nano_rw_224", "maxvit_nano_rw_256", "ghostnetv2_100", "tresnet_m", "levit_128s")


@dataclass(frozen=True)
class Spec:
    """One model of the sweep."""

    name: str
    source: str
    family: str
    build: Callable[[], nn.Module] = field(repr=False, compare=False)
    #: input shape for the analysis (B C *S); None: read from the model (timm's pretrained_cfg)
    input_shape: tuple[int, ...] | None = None
    #: input shape tried first for the cross-check (small, so the gradient measurement is quick); when the
    #: model rejects it the analysis shape is used. None: the analysis shape with every spatial axis at 64
    check_shape: tuple[int, ...] | None = None


def _torchvision() -> list[Spec]:
    import torchvision
    from torchvision import models as m

    out: list[Spec] = []
    for name in m.list_models(module=m):
        size = 299 if name == "inception_v3" else 224
        out.append(Spec(f"tv/{name}", "torchvision", "classification",
                        lambda n=name: m.get_model(n, weights=None), (1, 3, size, size),
                        (1, 3, 75, 75) if name == "inception_v3" else None))
    for name in m.list_models(module=m.video):
        size = 224 if name.startswith(("mvit", "s3d", "swin3d")) else 112
        shape = (1, 3, 16, size, size)
        out.append(Spec(f"tv/{name}", "torchvision", "video classification",
                        lambda n=name: m.get_model(n, weights=None), shape, (1, 3, 8, 64, 64)))
    for name in m.list_models(module=m.segmentation):
        out.append(Spec(f"tv/{name}", "torchvision", "segmentation",
                        lambda n=name: m.get_model(n, weights=None, weights_backbone=None), (1, 3, 224, 224)))
    for name in m.list_models(module=m.detection):
        size = 320 if "320" in name else 300 if name.startswith("ssd300") else 224

        def backbone(n: str = name) -> nn.Module:
            kwargs: dict[str, Any] = {"weights": None, "weights_backbone": None}
            return m.get_model(n, **kwargs).backbone

        out.append(Spec(f"tv/{name}.backbone", "torchvision", "detection backbone", backbone, (1, 3, size, size)))
    del torchvision
    return out


def _param_count(name: str) -> int:
    import timm
    import torch

    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    return sum(p.numel() for p in model.parameters())


def timm_picks(refresh: bool = False, modules: tuple[str, ...] | None = None) -> dict[str, str]:
    """The smallest model (parameters) of each timm module, cached per timm version.

    timm's ``test_*`` models (tiny stand-ins for its own unit tests) are left out: the sweep wants each
    family's smallest real variant. ``modules`` refreshes only those modules of the cache.
    """
    import timm
    from timm.models import _registry

    cached: dict[str, Any] = {}
    if os.path.exists(TIMM_PICK):
        with open(TIMM_PICK) as f:
            cached = json.load(f)
        if cached.get("timm") != timm.__version__:
            cached = {}
    if cached and not refresh and modules is None:
        return dict(cached["picks"])
    families: dict[str, list[str]] = {}
    for name in timm.list_models():
        if not name.startswith("test_"):
            families.setdefault(_registry._model_to_module[name], []).append(name)
    picks: dict[str, str] = dict(cached.get("picks", {})) if modules else {}
    counts: dict[str, int] = dict(cached.get("params", {})) if modules else {}
    for module, names in sorted(families.items()):
        if modules is not None and module not in modules:
            continue
        sized = []
        for name in names:
            try:
                sized.append((_param_count(name), name))
            except Exception:  # a model that cannot be built on meta is not a candidate
                continue
        if sized:
            counts[module], picks[module] = min(sized)
    os.makedirs(os.path.dirname(TIMM_PICK), exist_ok=True)
    with open(TIMM_PICK, "w") as f:
        json.dump({"timm": timm.__version__, "picks": picks, "params": counts}, f, indent=1, sort_keys=True)
    return picks


def _timm() -> list[Spec]:
    import timm

    def build(name: str) -> Callable[[], nn.Module]:
        return lambda: timm.create_model(name, pretrained=False)

    out = [Spec(f"timm/{name}", "timm", module, build(name)) for module, name in sorted(timm_picks().items())]
    chosen = {s.name for s in out}
    for name in TIMM_EXTRA:
        if f"timm/{name}" not in chosen and timm.is_model(name):
            from timm.models import _registry

            out.append(Spec(f"timm/{name}", "timm", _registry._model_to_module[name] + " (issue 14)", build(name)))
    return out


SMP_ARCHS = ("Unet", "UnetPlusPlus", "FPN", "PSPNet", "DeepLabV3", "DeepLabV3Plus", "Linknet", "MAnet", "PAN",
             "UPerNet", "Segformer", "DPT")
SMP_ENCODERS = ("resnet18", "mobilenet_v2", "efficientnet-b0")
#: DPT needs a vision-transformer encoder
SMP_DPT_ENCODERS = ("tu-vit_tiny_patch16_224", "tu-deit_tiny_patch16_224", "tu-vit_small_patch16_224")


def _smp() -> list[Spec]:
    import segmentation_models_pytorch as smp

    out: list[Spec] = []
    for arch in SMP_ARCHS:
        for enc in SMP_DPT_ENCODERS if arch == "DPT" else SMP_ENCODERS:
            def build(a: str = arch, e: str = enc) -> nn.Module:
                return getattr(smp, a)(encoder_name=e, encoder_weights=None, classes=2)

            size = 224 if arch == "DPT" else 256
            out.append(Spec(f"smp/{arch}-{enc}", "segmentation_models_pytorch", arch, build, (1, 3, size, size),
                            (1, 3, 224, 224) if arch == "DPT" else None))
    for enc in ("resnet18", "mobilenet_v2"):
        out.append(Spec(f"smp/encoder-{enc}", "segmentation_models_pytorch", "encoder (list of maps)",
                        lambda e=enc: smp.encoders.get_encoder(e, weights=None), (1, 3, 256, 256)))
    return out


#: pytorch-tcn TCN variants: name -> keyword arguments (num_inputs=1 and the channels are shared)
TCN_VARIANTS: dict[str, dict[str, Any]] = {
    "causal-k4": {"causal": True},
    "noncausal-k3": {"causal": False, "kernel_size": 3},
    "causal-skip": {"causal": True, "use_skip_connections": True},
    "noncausal-skip-k5": {"causal": False, "kernel_size": 5, "use_skip_connections": True},
    "causal-dilations-1-3-9-27": {"causal": True, "kernel_size": 3, "dilations": [1, 3, 9, 27]},
    "causal-dilation-reset-4": {"causal": True, "kernel_size": 3, "dilation_reset": 4,
                                "num_channels": [8] * 6},
    "causal-batch-norm": {"causal": True, "use_norm": "batch_norm"},
    "causal-layer-norm": {"causal": True, "use_norm": "layer_norm"},
    "noncausal-no-norm": {"causal": False, "use_norm": None},
    "causal-gate": {"causal": True, "use_gate": True},
    "causal-output-projection": {"causal": True, "output_projection": 2},
}


def _tcn() -> list[Spec]:
    from pytorch_tcn import TCN

    out = []
    for name, kwargs in TCN_VARIANTS.items():
        def build(kw: dict[str, Any] = kwargs) -> nn.Module:
            options = {"num_channels": [8, 8, 8, 8], "dropout": 0.0, **kw}
            return TCN(1, **options)

        out.append(Spec(f"tcn/{name}", "pytorch-tcn", "TCN", build, (1, 1, 256), (1, 1, 256)))
    return out


def _atrous() -> list[Spec]:
    from atrous.models import create_model, list_models, model_info

    out = []
    for name in list_models():
        shape = (1, *model_info(name).input_shape[1:])
        out.append(Spec(f"atrous/{name}", "atrous", "registry", lambda n=name: create_model(n), shape, shape))
    return out


def _handwritten() -> list[Spec]:
    from zoo_handwritten import HANDWRITTEN

    return [Spec(f"user/{name}", "hand-written", "functional ops", build, shape, shape)
            for name, (build, shape) in HANDWRITTEN.items()]


#: name prefix -> the models of that source (every name is ``prefix/...``)
SOURCES: dict[str, Callable[[], list[Spec]]] = {
    "tv": _torchvision, "timm": _timm, "smp": _smp, "tcn": _tcn, "atrous": _atrous, "user": _handwritten,
}


def all_specs(prefixes: tuple[str, ...] | None = None) -> list[Spec]:
    """Every model of the sweep (or of the sources named by ``prefixes``), in a fixed order."""
    specs: list[Spec] = []
    for prefix, make in SOURCES.items():
        if prefixes is None or prefix in prefixes:
            specs += make()
    return specs
