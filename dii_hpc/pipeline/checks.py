"""Every stage's own config, validated before anything is submitted (exit 2, one line).

What a stage job would refuse hours later is refused at `pipeline submit`: what each kind's
`check` checks (the sweep config as `dii-hpc submit` reads it, the audit config and its suite
or attack, the policy file, drift options, ...), the resources of its job, and that a stage
another one reads from gives what that one wants (`kind.Upstream`: ``select.from`` a sweep,
``model_from`` a select or register stage). The message is the library's own, prefixed with
the stage name.
"""

from __future__ import annotations

from dii_hpc.errors import BadInput, ConfigError
from dii_hpc.pipeline.kind import STAGE_KINDS, Upstream, givers
from dii_hpc.pipeline.spec import Pipeline, Stage, stage_error


def check(pipeline: Pipeline) -> None:
    """Validate every stage; the first problem is one ConfigError naming its stage."""
    from dii_hpc.pipeline import graph

    graph.order({n: s.needs for n, s in pipeline.stages.items()})
    for stage in pipeline.stages.values():
        _references(pipeline, stage)
        kind = STAGE_KINDS.get(stage.kind)
        try:
            if kind.launch is None:  # a kind that submits its own work has its own resources
                _resources(stage)
            kind.check(pipeline, stage)
        except ConfigError as err:
            if str(err).startswith(f"stage {stage.name}:"):
                raise
            raise stage_error(stage.name, str(err)) from err
        except BadInput as err:
            raise stage_error(stage.name, str(err)) from err


def _references(pipeline: Pipeline, stage: Stage) -> None:
    """A stage named by a field of this one gives what the field wants."""
    for ref in STAGE_KINDS.get(stage.kind).references(stage.value, stage.options):
        source = pipeline.stages[str(ref.value)]
        wants = ref.marker.wants if isinstance(ref.marker, Upstream) else ""
        if wants not in STAGE_KINDS.get(source.kind).gives:
            raise stage_error(stage.name, f"{ref.key}: {source.name} is a {source.kind} stage, "
                              f"not a {' or '.join(givers(wants))} stage")


def _resources(stage: Stage) -> None:
    """The stage job's resources (the file's defaults under the stage's own)."""
    from dii_hpc.config import typed
    from dii_hpc.config.schema import Resources

    typed.validate(Resources, stage.resources, prefix=("resources",))
