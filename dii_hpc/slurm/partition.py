"""What a partition offers (nodes, their GRES) and whether a request fits it (pure).

sbatch accepts a job that asks for more nodes or GPUs than a partition has and leaves it
PENDING forever (reason PartitionNodeLimit / Resources) - or refuses it with a message that
does not say what the partition has.  One `sinfo -N` line per node and partition gives all a
check needs, so submission refuses such a request up front, naming both numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dii_hpc.errors import BadInput
from dii_hpc.slurm import gres as gresmod

SINFO_FORMAT = "%N|%P|%G"


@dataclass
class Partition:
    name: str
    default: bool = False
    nodes: dict[str, list[gresmod.Gres]] = field(default_factory=dict)


def parse_sinfo(text: str) -> dict[str, Partition]:
    """`sinfo -h -N -o '%N|%P|%G'` -> {partition: Partition} (the default one flagged)."""
    parts: dict[str, Partition] = {}
    for line in text.splitlines():
        cols = line.strip().split("|")
        if len(cols) < 2 or not cols[0]:
            continue
        name = cols[1].rstrip("*")
        part = parts.setdefault(name, Partition(name))
        part.default = part.default or cols[1].endswith("*")
        part.nodes[cols[0]] = gresmod.parse_node(cols[2] if len(cols) > 2 else "")
    return parts


def gres_types(config: dict[str, str] | None) -> list[str]:
    """GresTypes of `scontrol show config` ('gpu,mps'); [] when none are configured."""
    raw = (config or {}).get("GresTypes", "")
    return [] if raw in ("", "(null)") else [t.strip() for t in raw.split(",") if t.strip()]


def _pick(parts: dict[str, Partition], name: str | None) -> Partition:
    if name is None:
        default = [p for p in parts.values() if p.default] or list(parts.values())[:1]
        if not default:
            raise BadInput("partition: Slurm lists no partition at all")
        return default[0]
    if name not in parts:
        raise BadInput(f"partition: unknown partition {name!r} (partitions: {', '.join(sorted(parts))})")
    return parts[name]


def check(parts: dict[str, Partition], types: list[str], *, partition: str | None, nodes: int,
          gpus_per_node: int, gres: gresmod.Gres | None, gpu_key: str = "gpus") -> None:
    """BadInput (one line, both numbers) when the request cannot fit the partition."""
    part = _pick(parts, partition)
    have = len(part.nodes)
    if nodes > have:
        raise BadInput(f"nodes: {nodes} asked, but partition {part.name!r} has {have} node(s)")
    if gres is not None:
        _check_gres(part, types, gres)
    want_gpus = gpus_per_node or (gres.count if gres is not None and gres.name == "gpu" else 0)
    if not want_gpus:
        return
    gpu_type = gres.type if gres is not None and gres.name == "gpu" else None
    per_node = sorted((gresmod.count_on_node(g, "gpu", gpu_type) for g in part.nodes.values()),
                      reverse=True)
    kind = f"{gpu_type} GPU(s)" if gpu_type else "GPU(s)"
    most = per_node[0] if per_node else 0
    if want_gpus > most:
        raise BadInput(f"{gpu_key}: {want_gpus} {kind} per node asked, but nodes of partition "
                       f"{part.name!r} have at most {most}")
    fit = sum(1 for n in per_node if n >= want_gpus)
    if fit < nodes:
        raise BadInput(f"{gpu_key}: {nodes} node(s) with {want_gpus} {kind} asked, but partition "
                       f"{part.name!r} has {fit} such node(s)")


def _check_gres(part: Partition, types: list[str], gres: gresmod.Gres) -> None:
    if gres.name not in types:
        known = ", ".join(types) or "none"
        raise BadInput(f"gres: unknown gres {gres.name!r} (the cluster's GresTypes: {known})")
    if gres.type is None:
        return
    offered = sorted({g.type for node in part.nodes.values() for g in node
                      if g.name == gres.name and g.type})
    if gres.type not in offered:
        raise BadInput(f"gres: unknown {gres.name} type {gres.type!r} (nodes of partition "
                       f"{part.name!r} offer: {', '.join(offered) or 'no typed ' + gres.name})")
