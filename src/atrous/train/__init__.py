"""Training: the task registry, the loop with exact resume, checkpoints, and DDP under torchrun (docs/train.md).

>>> from atrous.train import list_tasks
>>> {"adding", "copy", "digits", "pdigits", "chorales"} <= set(list_tasks())
True
"""

from atrous.train.config import TrainConfig
from atrous.train.loop import evaluate, fit, train_step
from atrous.train.state import load_checkpoint, load_model
from atrous.train.tasks import TASKS, Task, get_task, list_tasks, model_kwargs, register_task, trainable_models

__all__ = ["TASKS", "Task", "TrainConfig", "evaluate", "fit", "get_task", "list_tasks", "load_checkpoint",
           "load_model", "model_kwargs", "register_task", "train_step", "trainable_models"]
