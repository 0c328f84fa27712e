"""Training tasks as deterministic, seeded ``torch.utils.data.Dataset`` s (docs/data.md).

* :class:`AddingProblem`, :class:`CopyMemory`: Bai et al.'s (2018) synthetic long-memory tasks, generated.
* :class:`SequentialDigits`: scikit-learn's bundled 8×8 digits pixel by pixel (sequential / permuted), the
  offline stand-in for sequential MNIST.
* :class:`BachChorales`: 88-key piano rolls derived from music21's bundled Bach chorales (JSB-style).

scikit-learn and music21 are optional (``pip install atrous[data]``) and imported only when a dataset that needs
them is built.
"""

from atrous.data._common import MissingDependencyError, cache_dir
from atrous.data.digits import SequentialDigits
from atrous.data.music import BachChorales, collate_rolls, frame_nll
from atrous.data.synthetic import AddingProblem, CopyMemory

__all__ = ["AddingProblem", "BachChorales", "CopyMemory", "MissingDependencyError", "SequentialDigits",
           "cache_dir", "collate_rolls", "frame_nll"]
