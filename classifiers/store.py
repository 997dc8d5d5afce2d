"""The artifact store: saving and loading classifier artifacts: a skops file and its JSON data card.

An artifact is ``<name>.skops`` holding ``{"prompt": Pipeline, "draft": Pipeline}``
and ``<name>.json``, its card: version, feature version, thresholds, the
sha256 of the skops bytes, training data and licence, library versions,
metrics. Loading refuses, with a :class:`ClassifierError` that names the fix:

* a card that is missing or unreadable, or built for other features;
* skops bytes whose sha256 differs from the card (changed or corrupt);
* any type in the file outside :data:`TRUSTED_TYPES` (checked on the file's
  schema before skops loads anything, and again by skops itself).

Never pickle. The packaged default lives in ``classifiers/artifacts`` and is
read through :mod:`importlib.resources`; retrained artifacts live in the
user's data dir, with ``current.json`` pointing at the promoted one.

Which artifact is current is decided only by :func:`resolve_current`: the
configured ``classifier.path`` if set, else the one ``current.json`` promotes,
else the packaged default. :func:`promote_current` is the one way training
changes it, and says truthfully whether the new artifact is now in use.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hybrid.errors import ClassifierError

#: Every type an artifact may contain, as ``module.qualname``. Nothing else loads.
TRUSTED_TYPES = (
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.dtype",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
)
POINTER = "current.json"
PACKAGE = "classifiers.artifacts"
DEFAULT_NAME = "default"
DEFAULT_FEATURES = "default_features.npz"


@dataclass(frozen=True)
class Artifact:
    """The two fitted pipelines, the card that describes them, and where they came from."""

    prompt_model: Any
    draft_model: Any
    card: dict
    source: str

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"])

    @property
    def draft_threshold(self) -> float:
        return float(self.card["draft_threshold"])


def _modes() -> dict[str, int]:
    """Each model an artifact holds, and how many features this code gives it."""
    from .features import DRAFT_VECTOR_SIZE, PROMPT_VECTOR_SIZE  # numpy: not needed to read a card or a path

    return {"prompt": PROMPT_VECTOR_SIZE, "draft": DRAFT_VECTOR_SIZE}


def _features_version() -> str:
    from .features import FEATURES_VERSION

    return FEATURES_VERSION


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def schema_types(data: bytes) -> set[str]:
    """Every ``module.class`` named in a skops file's schema (read without loading it)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            schema = json.loads(z.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ValueError(f"not a skops file ({e})") from e
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def dump_models(prompt_model: Any, draft_model: Any) -> bytes:
    """The skops bytes of the two pipelines; refuses to write an untrusted type."""
    import skops.io as sio

    data = sio.dumps({"prompt": prompt_model, "draft": draft_model})
    untrusted = sorted(schema_types(data) - set(TRUSTED_TYPES))
    if untrusted:
        raise ClassifierError(
            f"refusing to save a classifier holding untrusted types {untrusted}; "
            "fix: build the pipelines from StandardScaler and LogisticRegression only"
        )
    return data


def load_models(data: bytes, where: str, *, score_only: bool = False) -> tuple[Any, Any]:
    """The two pipelines in skops ``data``, after checking every type against the allowlist.

    ``score_only``: read plain scaler+logistic pipelines with numpy alone (:mod:`classifiers.linear`), without
    importing skops and scikit-learn; such models can score but not be retrained or saved.
    """
    try:
        types = schema_types(data)
    except ValueError as e:
        raise ClassifierError(f"{where} is corrupt: {e}; fix: retrain it or delete it") from e
    untrusted = sorted(types - set(TRUSTED_TYPES))
    if untrusted:
        raise ClassifierError(
            f"{where} holds untrusted types {untrusted} and was not loaded; "
            "fix: delete it and retrain with `hybrid train` (only scikit-learn "
            "Pipeline/StandardScaler/LogisticRegression and numpy arrays are trusted)"
        )
    from .linear import read_models

    modes = _modes()
    plain = read_models(data) if score_only else None
    obj: Any = dict(zip(modes, plain, strict=True)) if plain else None
    if obj is None:
        import skops.io as sio

        try:
            obj = sio.loads(data, trusted=list(TRUSTED_TYPES))
        except Exception as e:  # skops raises many kinds of errors for bad files
            raise ClassifierError(f"{where} could not be loaded ({e}); fix: retrain it or delete it") from e
    if not isinstance(obj, dict) or set(obj) != set(modes):
        raise ClassifierError(f"{where} does not hold a prompt and a draft model; fix: retrain it")
    for mode, size in modes.items():
        model = obj[mode]
        if not hasattr(model, "predict_proba") or getattr(model, "n_features_in_", None) != size:
            raise ClassifierError(
                f"{where}: the {mode} model expects {getattr(model, 'n_features_in_', '?')} "
                f"features, this code makes {size}; fix: retrain with `hybrid train`"
            )
    return obj["prompt"], obj["draft"]


def _check_card(card: object, where: str) -> dict:
    if not isinstance(card, dict):
        raise ClassifierError(f"{where}: the data card is not a JSON object; fix: retrain")
    for key in ("version", "threshold", "draft_threshold", "skops_sha256", "features_version"):
        if key not in card:
            raise ClassifierError(f"{where}: the data card has no {key!r}; fix: retrain")
    if card["features_version"] != _features_version():
        raise ClassifierError(
            f"{where} was trained on features {card['features_version']!r} but this code "
            f"makes {_features_version()!r}; fix: retrain with `hybrid train`"
        )
    return card


def artifact_from_bytes(data: bytes, card: object, where: str, *, score_only: bool = False) -> Artifact:
    card = _check_card(card, where)
    digest = sha256_bytes(data)
    if digest != card["skops_sha256"]:
        raise ClassifierError(
            f"{where} does not match its data card (sha256 {digest[:12]}…, card says "
            f"{str(card['skops_sha256'])[:12]}…): the file was changed or is corrupt; "
            "fix: delete it and retrain with `hybrid train`, or reinstall hybrid for the default"
        )
    prompt_model, draft_model = load_models(data, where, score_only=score_only)
    return Artifact(prompt_model, draft_model, card, where)


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ClassifierError(f"{path} is missing; fix: retrain with `hybrid train`") from e
    except (OSError, ValueError) as e:
        raise ClassifierError(f"{path} is unreadable ({e}); fix: retrain with `hybrid train`") from e


def load_file(skops_path: Path, *, score_only: bool = False) -> Artifact:
    """An artifact from ``X.skops`` and its card ``X.json``."""
    card = _read_json(skops_path.with_suffix(".json"))
    try:
        data = skops_path.read_bytes()
    except OSError as e:
        raise ClassifierError(f"cannot read {skops_path} ({e}); fix: retrain with `hybrid train`") from e
    return artifact_from_bytes(data, card, str(skops_path), score_only=score_only)


def load_packaged(*, score_only: bool = False) -> Artifact:
    """The default artifact shipped inside the package."""
    root = resources.files(PACKAGE)
    try:
        data = root.joinpath(f"{DEFAULT_NAME}.skops").read_bytes()
        card = json.loads(root.joinpath(f"{DEFAULT_NAME}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ClassifierError(
            f"the packaged default classifier is missing or unreadable ({e}); fix: reinstall hybrid"
        ) from e
    return artifact_from_bytes(data, card, f"packaged {DEFAULT_NAME}.skops", score_only=score_only)


def packaged_card() -> dict:
    """The packaged default's data card (without loading its models)."""
    try:
        text = resources.files(PACKAGE).joinpath(f"{DEFAULT_NAME}.json").read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as e:
        raise ClassifierError(f"the packaged data card is missing or unreadable ({e}); fix: reinstall hybrid") from e


def packaged_features() -> dict[str, Any]:
    """The shipped training vectors and targets (for ``train(base="default")``)."""
    import numpy as np

    try:
        with (
            resources.files(PACKAGE).joinpath(DEFAULT_FEATURES).open("rb") as f,
            np.load(f, allow_pickle=False) as npz,
        ):
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as e:
        raise ClassifierError(
            f"the packaged training features are missing or unreadable ({e}); "
            'fix: reinstall hybrid, or train with base="none"'
        ) from e


def promoted_path(directory: Path) -> Path | None:
    """The skops file ``current.json`` in ``directory`` points at, if any."""
    pointer = directory / POINTER
    if not pointer.exists():
        return None
    obj = _read_json(pointer)
    name = obj.get("artifact") if isinstance(obj, dict) else None
    if not isinstance(name, str) or "/" in name or "\\" in name or not name.endswith(".skops"):
        raise ClassifierError(
            f"{pointer} does not name an artifact in its folder; fix: delete {pointer} "
            "to use the packaged default, or retrain with `hybrid train`"
        )
    return directory / name


@dataclass(frozen=True)
class Current:
    """The artifact in use and where it came from: ``configured``, ``promoted`` or ``packaged``."""

    artifact: Artifact
    origin: str
    path: Path | None = None

    def describe(self) -> str:
        where = {"configured": "classifier.path", "promoted": "promoted in", "packaged": "packaged default"}[self.origin]
        return f"{self.artifact.version} ({where}{f' {self.path}' if self.path else ''})"


def resolve_current(configured: Path | None, directory: Path | None, *, score_only: bool = False) -> Current:
    """The classifier in use: ``configured`` (``classifier.path``) if set, else the promoted one, else the default.

    The one place this is decided: the runtime loads through it and training compares against it.
    """
    if configured is not None:
        path = Path(configured).expanduser()
        return Current(load_file(path, score_only=score_only), "configured", path)
    promoted = promoted_path(directory) if directory is not None else None
    if promoted is not None:
        return Current(load_file(promoted, score_only=score_only), "promoted", promoted)
    return Current(load_packaged(score_only=score_only), "packaged")


def load_current(directory: Path | None, *, score_only: bool = False) -> Artifact:
    """The promoted artifact in ``directory`` if there is one, else the packaged default."""
    return resolve_current(None, directory, score_only=score_only).artifact


def promote_current(configured: Path | None, directory: Path, skops_path: Path) -> tuple[bool, str]:
    """Make ``skops_path`` the current classifier, if the configuration lets it be: ``(in_use, what happened)``.

    With ``classifier.path`` configured, that file stays in use and ``current.json`` is left alone.
    """
    if configured is not None:
        return False, (
            f"classifier.path = {configured} is configured and stays in use; to use the new one, set "
            f"classifier.path = {skops_path} (or unset it and promote with `hybrid train --force`)"
        )
    promote(directory, skops_path)
    return True, f"now in use ({directory / POINTER} points at {skops_path.name})"


def write_artifact(directory: Path, name: str, prompt_model: Any, draft_model: Any, card: dict) -> Path:
    """Write ``name.skops`` and ``name.json`` into ``directory``; returns the skops path."""
    directory.mkdir(parents=True, exist_ok=True)
    data = dump_models(prompt_model, draft_model)
    card = {**card, "skops_sha256": sha256_bytes(data), "features_version": _features_version()}
    path = directory / f"{name}.skops"
    _atomic_write(path, data)
    _atomic_write(path.with_suffix(".json"), json.dumps(card, indent=2, sort_keys=True).encode())
    return path


def promote(directory: Path, skops_path: Path) -> None:
    """Point ``current.json`` in ``directory`` at ``skops_path`` (atomically)."""
    payload = {"artifact": skops_path.name}
    _atomic_write(directory / POINTER, json.dumps(payload, indent=2).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
