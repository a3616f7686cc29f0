"""The registry as the owner of the store's ``models/`` folder (found by ``store.owners``).

`store gc`, `store merge` and `store check` consult this owner whoever calls them (the CLI or
Python), so the registry's invariants hold in the library: a registered version's weights are
never collected, two stores' versions merge by content (``registry.merge``), and a version
whose weights are gone is reported as damage.
"""

from __future__ import annotations

from pathlib import Path

from dii_hpc.registry import aliases, layout, versions
from dii_hpc.registry.merge import merge_models
from dii_hpc.store.blobs import blob_path
from dii_hpc.store.check import Problem
from dii_hpc.store.owners import FolderOwner


def check(root: Path) -> list[Problem]:
    """Versions whose weights blob is missing; aliases that point at no complete version."""
    out = []
    for name in layout.model_names(root):
        complete = set()
        for record in versions.complete(root, name):
            complete.add(int(record["version"]))
            sha = str((record.get("weights") or {}).get("sha256") or "")
            if sha and not blob_path(root, sha).is_file():
                out.append(Problem("error", str(layout.version_file(root, name, record["version"])),
                                   f"models:/{name}/{record['version']}: weights blob "
                                   f"{sha[:12]} is missing"))
        for alias, version in aliases.all_of(root, name).items():
            if version not in complete:
                out.append(Problem("error", str(layout.aliases_dir(root, name) / f"{alias}.json"),
                                   f"alias {alias} of {name} points at version {version}, "
                                   "which is not registered"))
    return out


OWNER = FolderOwner(layout.MODELS_DIR, held_blobs=versions.referenced_blobs,
                    merge=merge_models, check=check)
