"""Downloads of prior weights that fail fast and clearly when the network is unreachable.

huggingface_hub retries an unreachable hub for ~25 s per file (open_clip and timm then try a second file), so a
plain ``create_prior("clip")`` offline took ~50 s and printed 20 retry warnings. Here the reachability of a
download location is decided once per process: ``HF_HUB_OFFLINE`` set, or a single short probe (a HEAD
request with a few seconds' timeout, in a daemon thread so that a hanging name lookup cannot block). Files
already in the local cache are used without asking the network at all.

Only network failures become :class:`HubUnavailableError`; a wrong repo id, a missing file, a gated repo or a
permission error keep their own exception and message.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from functools import lru_cache

PROBE_TIMEOUT = float(os.environ.get("PTG_HUB_PROBE_TIMEOUT", "3"))

OFFLINE_ALTERNATIVES = (
    "What works offline: prior='efficientnet_lite0' (its ImageNet weights ship with a dependency) or "
    "prior='none' (no prior), or a local weights file: create_prior(spec, pretrained='/path/to/file') / "
    "PTGRefiner(..., prior_pretrained='/path/to/file'), downloaded on a machine with network access.")


class HubUnavailableError(ConnectionError, RuntimeError):
    """The weights are neither cached locally nor downloadable (offline / hub unreachable)."""


def network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the network / hub could not be reached", for the installed HTTP clients."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError, socket.gaierror, urllib.error.URLError]
    for module, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                          ("requests", ("ConnectionError", "Timeout"))):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        errors += [getattr(mod, n) for n in names if isinstance(getattr(mod, n, None), type)]
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
        errors += [LocalEntryNotFoundError, OfflineModeIsEnabled]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def offline_flag() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (also when set after huggingface_hub was imported)."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().upper() in {"1", "ON", "YES", "TRUE"}
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


@lru_cache(maxsize=None)
def _probe(url: str, timeout: float) -> str | None:
    """None if ``url`` answers (any HTTP status), else why not. Bounded by ``timeout`` (+0.5 s) in all cases."""
    result: dict[str, BaseException | bool] = {}

    def head():
        try:
            if url.startswith(hub_endpoint()):
                from huggingface_hub.utils import get_session  # the hub's own client: same proxies, certs

                get_session().head(url, timeout=timeout)
            else:
                urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            result["ok"] = True
        except urllib.error.HTTPError:  # the server answered
            result["ok"] = True
        except Exception as e:  # noqa: BLE001  (classified below; the probe itself must never raise)
            result["error"] = e

    thread = threading.Thread(target=head, name="ptg-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if result.get("ok"):
        return None
    error = result.get("error")
    if error is None:
        return f"no answer from {url} within {timeout:g} s"
    if isinstance(error, network_errors()):
        return f"{url} is unreachable ({type(error).__name__}: {error})"
    return None  # e.g. an HTTP client error that is not about reachability: let the real download report it


def unreachable(url: str | None = None) -> str | None:
    """Why downloads from ``url`` (default: the Hugging Face Hub) cannot work now, or None if they may.

    Decided once per process and location: ``HF_HUB_OFFLINE`` set, or one probe of ``PROBE_TIMEOUT`` s."""
    if offline_flag():
        return "HF_HUB_OFFLINE is set"
    endpoint = hub_endpoint()
    target = url or endpoint
    if not target.startswith(endpoint):
        parts = urllib.parse.urlsplit(target)
        target = f"{parts.scheme}://{parts.netloc}/"
    return _probe(target, PROBE_TIMEOUT)


def _unavailable(what: str, where: str, reason: str, files: list[str] | None = None) -> HubUnavailableError:
    named = f" The weights file: {' or '.join(files)}." if files else ""
    error = HubUnavailableError(f"cannot download the weights of {what} from {where}: {reason}, and they are not "
                                f"in the local cache.{named} {OFFLINE_ALTERNATIVES}")
    error.reason = reason  # why, without the advice (for callers that give their own)
    return error


def hub_file(repo_id: str, filenames: list[str], what: str, revision: str | None = None,
             cache_dir: str | None = None, token=None, force_download: bool = False,
             local_files_only: bool = False) -> str:
    """Local path of the first of ``filenames`` in hub repo ``repo_id``: from the cache, else downloaded.

    Raises :class:`HubUnavailableError` (fast) when not cached and the hub cannot be reached; a missing repo or
    file raises huggingface_hub's own error. (Also for ``PTGRefiner.from_pretrained("user/repo")``.)"""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    for name in filenames if not force_download else []:
        cached = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir, revision=revision)
        if isinstance(cached, str) and os.path.isfile(cached):
            return cached
    where = f"hub repo {repo_id!r}"
    files = [f"{hub_endpoint().rstrip('/')}/{repo_id}/resolve/{revision or 'main'}/{name}" for name in filenames]
    reason = "local_files_only=True" if local_files_only else unreachable()
    if reason:
        raise _unavailable(what, where, reason, files)
    missing = None
    for name in filenames:
        try:
            return hf_hub_download(repo_id, name, revision=revision, cache_dir=cache_dir, token=token,
                                   force_download=force_download)
        except LocalEntryNotFoundError as e:  # a subclass of EntryNotFoundError: the network failed
            raise _unavailable(what, where, f"{type(e).__name__}", files) from e
        except EntryNotFoundError as e:  # this file is not in the repo: try the next name
            missing = e
        except network_errors() as e:
            raise _unavailable(what, where, f"{type(e).__name__}: {e}", files) from e
    raise FileNotFoundError(f"hub repo {repo_id!r} has none of {filenames} (weights of {what})") from missing


def url_file(url: str, cache_dir: str, what: str, download) -> str:
    """Local path of ``url``'s file in ``cache_dir`` if present, else ``download(url)`` (which returns the path);
    :class:`HubUnavailableError` (fast) when the host cannot be reached."""
    cached = os.path.join(cache_dir, os.path.basename(urllib.parse.urlsplit(url).path))
    if not os.path.isfile(cached):  # (a cached file is checked by download(), without network if intact)
        reason = unreachable(url)
        if reason:
            raise _unavailable(what, url, reason, [url])
    try:
        return download(url)
    except network_errors() as e:
        raise _unavailable(what, url, f"{type(e).__name__}: {e}", [url]) from e


def timm_weights_file(model_name: str) -> str | None:
    """The local file of ``model_name``'s default pretrained weights (from the cache, or downloaded now) where
    timm would fetch them from the hub; None where timm loads them its own way (checked to be reachable)."""
    import timm
    from timm.models._builder import _resolve_pretrained_source
    from timm.models._hub import get_cache_dir

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return None
    cfg = cfg.to_dict()
    load_from, where = _resolve_pretrained_source(cfg)
    what = f"timm model {model_name}"
    if load_from == "hf-hub" and not cfg.get("custom_load"):
        repo, filename = where if isinstance(where, (tuple, list)) else (where, None)
        repo, _, revision = repo.partition("@")
        names = ([filename[:-4] + ".safetensors", filename] if filename and filename.endswith((".bin", ".pth"))
                 else [filename] if filename else ["model.safetensors", "pytorch_model.bin"])
        return hub_file(repo, names, what, revision=revision or None)
    if load_from in ("hf-hub", "url"):
        url = where if load_from == "url" else None
        cached = load_from == "url" and os.path.isfile(
            os.path.join(get_cache_dir(), os.path.basename(urllib.parse.urlsplit(url).path)))
        reason = None if cached else unreachable(url)
        if reason:
            raise HubUnavailableError(f"cannot download the weights of {what} from {where!r}: {reason}, and they "
                                      f"are not in the local cache. {OFFLINE_ALTERNATIVES}")
    return None
