"""``Profiles``: the feature profiles of one set of rows (a run of a view, a training set, served
values), with what was profiled, as one JSON document that can be stored, saved to a file and compared.

    >>> import pyarrow as pa
    >>> from featurestore.stats.profiler import Profiler
    >>> profiler = Profiler({"x": "int64"})
    >>> profiler.update(pa.table({"x": [1, 2, None]}))
    >>> profiles = Profiles.of(profiler, rows=3, label="example")
    >>> Profiles.from_json(profiles.to_json()) == profiles, profiles["x"].nulls
    (True, 1)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.errors import FeatureStoreError
from featurestore.stats.profile import FeatureProfile

if TYPE_CHECKING:
    from featurestore.stats.profiler import Profiler

FORMAT = 1
"""The document's format; a later format is refused by older code with a message saying so."""


@dataclass(frozen=True)
class Profiles(Mapping[str, FeatureProfile]):
    """Feature profiles by feature name (in column order), and what they describe.

    ``label`` names the rows for people (``driver_stats run 7``, ``training set``); ``view``,
    ``version`` and ``run`` are set for a materialization run; ``created`` is when the profiles were
    taken (naive UTC).
    """

    features: Mapping[str, FeatureProfile]
    rows: int
    label: str
    view: str | None = None
    version: str | None = None
    run: int | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))

    @classmethod
    def of(cls, profiler: Profiler, *, rows: int, label: str, **what: Any) -> Profiles:
        """The profiles of everything ``profiler`` saw."""
        return cls(features=profiler.profiles(), rows=rows, label=label, **what)

    def __getitem__(self, name: str) -> FeatureProfile:
        try:
            return self.features[name]
        except KeyError:
            known = ", ".join(self.features) or "none"
            raise FeatureStoreError(
                f"{self.label} has no profile of feature {name!r}; profiled features: {known}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.features

    def __iter__(self) -> Iterator[str]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def __repr__(self) -> str:
        return f"<Profiles {self.label!r}: {self.rows:,} rows, features {', '.join(self.features) or 'none'}>"

    def _repr_html_(self) -> str:
        """A notebook's table: per feature its type, null share, min, max, mean, median and distinct count."""
        from html import escape

        def cell(value: object) -> str:
            if value is None:
                return ""
            return escape(
                f"{value:,.4g}"
                if isinstance(value, float)
                else f"{value:,}"
                if isinstance(value, int)
                else str(value)
            )

        heads = ("feature", "type", "nulls", "min", "max", "mean", "p50", "distinct")
        rows = []
        for name, p in self.features.items():
            median = p.quantiles((0.5,))
            distinct = p.distinct()
            values = [
                name,
                p.dtype,
                f"{p.null_fraction:.1%}",
                *(cell(v) for v in (p.minimum, p.maximum, p.mean, median[0] if median else None)),
                "" if distinct is None else f"~{distinct.estimate:,.0f}",
            ]
            rows.append(
                "<tr>"
                + "".join(f"<td>{escape(v) if i < 3 else v}</td>" for i, v in enumerate(values))
                + "</tr>"
            )
        head = "".join(f"<th>{h}</th>" for h in heads)
        return (
            f"<p>{escape(self.label)}: {self.rows:,} rows</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profiles):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_json(), sort_keys=True))

    def to_json(self) -> dict[str, Any]:
        """The document: ``{"format", "label", "rows", "view", "version", "run", "created", "features"}``;
        each feature's profile as ``FeatureProfile.to_json`` gives it (sketches in base64)."""
        return {
            "format": FORMAT,
            "label": self.label,
            "rows": self.rows,
            "view": self.view,
            "version": self.version,
            "run": self.run,
            "created": self.created.isoformat(),
            "features": {name: json.loads(p.to_json()) for name, p in self.features.items()},
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "profiles") -> Profiles:
        """Read a document written by ``to_json``; ``FeatureStoreError`` naming ``where`` if it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("features"), dict):
            raise FeatureStoreError(
                f"{where} is not a feature profile document (no 'features' object); write one with "
                "`featurestore training-set --profile FILE` or `featurestore stats VIEW --json`"
            )
        if data.get("format") != FORMAT:
            raise FeatureStoreError(
                f"{where} has profile format {data.get('format')!r}; this version reads format {FORMAT}: "
                "upgrade featurestore or profile the rows again"
            )
        try:
            features = {
                # A printed document (`featurestore stats --json`) has a readable "summary" beside each.
                str(name): FeatureProfile.from_json(
                    json.dumps({k: v for k, v in raw.items() if k != "summary"})
                )
                for name, raw in data["features"].items()
            }
            return cls(
                features=features,
                rows=int(data["rows"]),
                label=str(data["label"]),
                view=data.get("view"),
                version=data.get("version"),
                run=None if data.get("run") is None else int(data["run"]),
                created=datetime.fromisoformat(data["created"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise FeatureStoreError(f"{where} is not a valid feature profile document: {error}") from error

    def save(self, path: str | Path) -> Path:
        """Write the document to a JSON file (replaced atomically) and return its path."""
        from featurestore.storage.local import replace_file

        target = Path(path)
        replace_file(target, json.dumps(self.to_json(), indent=1).encode())
        return target

    @classmethod
    def load(cls, path: str | Path) -> Profiles:
        """Read a document saved by :meth:`save` (or printed by ``featurestore stats --json``)."""
        target = Path(path)
        try:
            data = json.loads(target.read_text())
        except FileNotFoundError:
            raise FeatureStoreError(
                f"no profile file {str(target)!r}; save one with `featurestore training-set --profile "
                f"{target}` or `featurestore stats VIEW --json > {target}`"
            ) from None
        except (OSError, ValueError) as error:
            raise FeatureStoreError(f"cannot read the profile file {str(target)!r}: {error}") from error
        return cls.from_json(data, where=str(target))
