"""LightningModules: the training tasks (the models live in wavedil.models)."""

from wavedil.tasks.base import CHECKPOINT_KEY, Task
from wavedil.tasks.classification import ClassificationTask
from wavedil.tasks.generation import GenerationTask
from wavedil.tasks.parallel import ParallelVocoderTask
from wavedil.tasks.trainer import Trainer

__all__ = ["CHECKPOINT_KEY", "ClassificationTask", "GenerationTask", "ParallelVocoderTask",
           "Task", "Trainer"]
