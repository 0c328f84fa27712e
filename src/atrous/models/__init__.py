"""The model zoo: ``create_model(name, **kwargs)``, ``list_models()``, ``register_model``.

Importing this package registers every family.
"""

from atrous.models import genomics, graph, sequence, vision
from atrous.models import genomics_baselines as genomics_baselines  # baselines of the enhancer task
from atrous.models import small_cnn as small_cnn  # the dilated_cnn of the vision tasks
from atrous.models._registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = [
    "ModelInfo", "create_model", "genomics", "graph", "list_models", "model_info", "register_model", "sequence",
    "vision",
]
