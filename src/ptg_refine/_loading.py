"""The one load pass of a trained refiner: where it comes from is resolved once (:mod:`ptg_refine._sources`), its
files are fetched (a hub repo) or found (a folder), their checksums verified once and config.json read and checked
once; ``PTGRefiner.from_pretrained`` and the CLI's ``--refiner`` / ``--init-from`` build from the
:class:`Checkpoint` this returns. The one writer of config.json is :func:`write_config` (``save_pretrained`` and
the release tool use it). No torch here."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ._config_checks import check_refiner_config
from ._hub import HubUnavailableError, hub_file
from ._sources import HUB, RefinerSource, resolve_source

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
HUB_OPTIONS = ("revision", "token", "cache_dir", "local_files_only", "force_download")  # from_pretrained's own


@dataclass(frozen=True)
class Checkpoint:
    """A refiner's files, found and checked: ``folder`` holds ``config.json`` (read and checked: ``config``) and
    ``model.safetensors``; ``given``: the source as named; ``source``: how it was resolved."""

    given: str
    source: RefinerSource
    folder: str
    config: dict

    @property
    def weights(self) -> str:
        return os.path.join(self.folder, WEIGHTS_NAME)


def hub_checkpoint_file(repo_id: str, filename: str, **kwargs) -> str:
    """Local path of ``filename`` of hub checkpoint ``repo_id`` (cached or downloaded). Only an unreachable hub
    becomes the "Offline?" OSError; a wrong repo id or a missing file keeps huggingface_hub's own error."""
    try:
        return hub_file(repo_id, [filename], f"refiner {repo_id!r}", **kwargs)
    except HubUnavailableError as e:
        raise OSError(f"could not fetch {filename} of hub repo {repo_id!r} ({getattr(e, 'reason', e)}). "
                      "Offline? Download the repo elsewhere and pass its local folder "
                      "(save_pretrained layout: config.json + model.safetensors).") from e


def open_checkpoint(spec, fields, *, given: str | None = None, revision=None, token=None, cache_dir=None,
                    local_files_only: bool = False, force_download: bool = False) -> Checkpoint:
    """Resolve ``spec`` (:func:`ptg_refine._sources.resolve_source`; or a :class:`RefinerSource` resolved already),
    fetch or find its files, verify their checksums (a folder; a missing checksums.json warns) and read and check its
    config.json against the RefinerConfig ``fields``. Raises FileNotFoundError / OSError / ValueError / TypeError
    with one line naming the file. ``given``: the source as the user named it (for messages)."""
    from .integrity import check_pretrained_folder, read_config

    source = spec if isinstance(spec, RefinerSource) else resolve_source(spec)
    if given is None:
        given = spec.location if isinstance(spec, RefinerSource) else os.fspath(spec) if isinstance(
            spec, os.PathLike) else str(spec)
    folder = source.location
    if source.kind == HUB:
        hub = {"revision": revision, "token": token, "cache_dir": cache_dir, "local_files_only": local_files_only}
        config_file = hub_checkpoint_file(folder, CONFIG_NAME, **hub)  # fails fast
        config = read_config(config_file)
        check_refiner_config(config, f"{config_file} (of hub repo {folder!r})", fields)
        # the repo's files in the hub cache: loaded from there as a local folder, never from a same-named one
        hub_checkpoint_file(folder, WEIGHTS_NAME, force_download=force_download, **hub)
        return Checkpoint(given, source, os.path.dirname(config_file), config)
    if not os.path.isfile(os.path.join(folder, CONFIG_NAME)):
        raise FileNotFoundError(f"{folder!r} has no {CONFIG_NAME}: not a save_pretrained folder")
    if not os.path.isfile(os.path.join(folder, WEIGHTS_NAME)):
        raise FileNotFoundError(f"{folder!r} has no {WEIGHTS_NAME}")
    config = check_pretrained_folder(folder)  # valid config.json, weights match their recorded checksums
    check_refiner_config(config, os.path.join(folder, CONFIG_NAME), fields)  # keys, types, sizes
    return Checkpoint(given, source, folder, config)


def write_config(folder, config: dict) -> Path:
    """Write ``folder/config.json`` (sorted keys, 2-space indent: huggingface_hub's layout), atomically. The one
    writer of a refiner's config.json."""
    from ._outputs import write_text_atomic

    return write_text_atomic(Path(folder) / CONFIG_NAME, json.dumps(config, sort_keys=True, indent=2))
