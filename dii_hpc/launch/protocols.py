"""The two interfaces a user implements to run code through the Executor.

Structural (typing.Protocol): any class with the right method qualifies, no base class or
import of dii_hpc needed, so existing training code can be wrapped in place.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Model(Protocol):
    """A trainable thing.  The Executor calls ``train_function(data, run=run, **params)``.

    What it returns is saved: numbers become metrics, paths of existing files become
    artifacts, anything else goes to the run's ``result`` section.  Optional hooks for
    preemption/time limits: ``checkpoint() -> state`` (picklable) is called on the warning
    signal before the job is requeued, and ``restore(state)`` on the new instance after.
    """

    def train_function(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class DatasetLoader(Protocol):
    """A data source.  The Executor calls ``get_dataset()`` once per task and hands the
    result to the model's ``train_function`` as its first argument."""

    def get_dataset(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class Checkpointable(Protocol):
    """A Model that can survive preemption and time limits (both methods are needed)."""

    def checkpoint(self) -> Any: ...

    def restore(self, state: Any) -> None: ...
