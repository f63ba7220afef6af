"""Content identities: which data a model was trained on, and which exact artifacts a registration holds.

Both are read from content, never from mtimes or paths on one machine, so they mean the same in every checkout.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml


def data_version(lock_file: Path = Path("dvc.lock"), stage: str = "prepare") -> str:
    """The md5 of `stage`'s outputs in dvc.lock: which data a model was trained on ('unknown' before any repro)."""
    if not lock_file.is_file():
        return "unknown"
    outs = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {}).get(stage, {}).get("outs", [])
    return ",".join(f"{o['path']}:{o.get('md5', '?')}" for o in outs) or "unknown"


def artifact_fingerprint(*paths: Path | str, extra: dict | None = None) -> str:
    """sha256 over the files under `paths` (relative names and bytes, in sorted order) and `extra` as JSON.

    The same artifacts give the same fingerprint on any machine and any checkout, whatever their mtimes.
    """
    digest = hashlib.sha256()
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"cannot fingerprint {root}: it does not exist (run `dvc repro`)")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digest.update(f"{root.name}/{path.relative_to(root) if path != root else ''}\0".encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            digest.update(b"\0")
    digest.update(json.dumps(extra or {}, sort_keys=True).encode())
    return digest.hexdigest()
