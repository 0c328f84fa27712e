"""Training: the task registry, the loop with exact resume, checkpoints, and DDP under torchrun (docs/train.md).

>>> from atrous.train import TASKS
>>> sorted(TASKS)
['adding', 'chorales', 'copy', 'digits', 'pdigits']
"""

from atrous.train.config import TrainConfig
from atrous.train.loop import evaluate, fit, train_step
from atrous.train.state import load_checkpoint, load_model
from atrous.train.tasks import TASKS, Task, get_task, model_kwargs, trainable_models

__all__ = ["TASKS", "Task", "TrainConfig", "evaluate", "fit", "get_task", "load_checkpoint", "load_model",
           "model_kwargs", "train_step", "trainable_models"]
