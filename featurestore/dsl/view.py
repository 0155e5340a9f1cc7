"""FeatureView: features of one or more entities, read from one source, valid for a ttl."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from featurestore.display import Table, duration, html_of, text
from featurestore.dsl.aggregation import Aggregation, prepare_aggregation_view, window_label
from featurestore.dsl.base import Definition, check_identifier
from featurestore.dsl.checks import VIEW_CHECKS, ViewCheck, checks_text, only
from featurestore.dsl.entity import Entity
from featurestore.dsl.feature import Feature
from featurestore.dsl.source import Source
from featurestore.errors import UnknownFeatureError, did_you_mean


class FeatureView(Definition):
    """A group of features sharing entities, a source and a time-to-live.

    ``ttl=None`` means values never expire; otherwise a value is usable for ``ttl`` after its event time.
    A view over an event source may declare ``aggregations=[Aggregation(...)]`` instead of ``features``
    (see ``dsl/aggregation.py``): its features are then derived from them, and it takes no ttl.

    >>> from featurestore.dsl import Entity, FileSource
    >>> v = FeatureView(name="driver_stats", entities=[Entity(name="driver", join_keys=["driver_id"])],
    ...                 source=FileSource(name="s", path="s.parquet"), ttl=timedelta(days=1),
    ...                 features=[Feature("conv_rate", "float64")])
    >>> v.join_keys, v.feature_names
    (('driver_id',), ('conv_rate',))

    README: "Quickstart", "Point-in-time semantics".
    """

    kind_label: ClassVar[str] = "FeatureView"
    entities: tuple[Entity, ...]
    source: Source
    features: tuple[Feature, ...]
    ttl: timedelta | None
    online: bool = True
    # Windowed aggregations over an event source; when given, ``features`` are derived from them.
    aggregations: tuple[Aggregation, ...] = ()
    # Validation rules of the rows a run writes (Freshness, RowCount); features hold their own.
    checks: tuple[ViewCheck, ...] = ()
    # Leave out rows and events stamped exactly at the request time t (plain features: ``ts < t``;
    # windows ``(t - w, t)``; lifetime ``ts < t``), as OpenMLDB's EXCLUDE CURRENT_TIME: an entity row
    # stamped at the time of the event it predicts then cannot see that event (its label).
    exclude_current_time: bool = False

    @model_validator(mode="before")
    @classmethod
    def _aggregations(cls, data: Any) -> Any:
        return prepare_aggregation_view(data)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_identifier("feature view", value, allow_double_underscore=False)

    @field_validator("checks", mode="before")
    @classmethod
    def _checks(cls, value: Any) -> Any:
        return only(value, VIEW_CHECKS, "a feature view", "Feature(..., checks=[...]) of the feature")

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {value}; use ttl=None for values that never expire")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FeatureView:
        if not self.entities:
            raise ValueError("a feature view needs at least one entity")
        if not self.features:
            raise ValueError("a feature view needs at least one feature")
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features {dupes} are declared more than once")
        keys = [k for e in self.entities for k in e.join_keys]
        if len(set(keys)) != len(keys):
            raise ValueError(f"the entities' join keys {keys} repeat a column")
        reserved = set(keys) | {self.source.timestamp_field, self.source.created_timestamp_field}
        clash = sorted(set(names) & reserved)
        if clash:
            raise ValueError(
                f"features {clash} reuse a join key or timestamp column name; rename the feature"
            )
        if self.exclude_current_time:
            for a in self.aggregations:
                if a.window is not None and a.window <= timedelta(microseconds=1):
                    raise ValueError(
                        f"aggregation {a.name!r} has a window of {a.window}, which holds no event when "
                        "exclude_current_time=True (the window is (t - w, t)): use a longer window"
                    )
        for n in names:
            if n.startswith("__"):
                raise ValueError(f"feature {n!r} starts with '__', which is reserved")
        unsettled = {a.name for a in self.aggregations if a.dtype is None}  # apply settles these
        for f in self.features:
            for check in () if f.name in unsettled else f.checks:
                problem = check.fits(f.dtype)
                if problem:
                    raise ValueError(f"feature {f.name!r} ({f.dtype}): {problem}")
        return self

    @property
    def join_keys(self) -> tuple[str, ...]:
        return tuple(k for e in self.entities for k in e.join_keys)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def lookback(self) -> timedelta | None:
        """How far before a request's time (an entity row's, a materialization's end) the view reads:
        its ttl, or its longest aggregation window. ``None``: no limit (no ttl, or a lifetime window).

        >>> from featurestore import Entity, Feature, FileSource
        >>> FeatureView(name="v", entities=[Entity(name="e", join_keys=["k"])], ttl=timedelta(hours=2),
        ...             source=FileSource(name="s", path="s.parquet"),
        ...             features=[Feature("a", "int64")]).lookback
        datetime.timedelta(seconds=7200)
        """
        windows = [a.window for a in self.aggregations]
        if not windows:
            return self.ttl
        return None if None in windows else max(w for w in windows if w is not None)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise UnknownFeatureError(
            f"'{self.name}:{name}' is not a feature of view {self.name!r}{self.where()}. "
            + did_you_mean(name, self.feature_names)
        )

    def __getitem__(self, names: list[str] | tuple[str, ...] | str) -> FeatureViewProjection:
        """``view[["a", "b"]]``: a subset of the view's features, for a feature service."""
        wanted = [names] if isinstance(names, str) else list(names)
        for n in wanted:
            self.feature(n)
        return FeatureViewProjection(view=self, features=tuple(wanted))

    def data_fingerprint(self) -> str:
        """A hash of what changes this view's data: source, keys, features, ttl, aggregations and
        ``exclude_current_time``. Not metadata."""
        identity = {
            "name": self.name,
            "source": self.source.data_identity(),
            "join_keys": list(self.join_keys),
            "features": [[f.name, f.dtype] for f in self.features],
            "ttl_us": None if self.ttl is None else self.ttl // timedelta(microseconds=1),
        }
        if self.aggregations:
            identity["aggregations"] = [a.identity() for a in self.aggregations]
        if self.exclude_current_time:  # only when set: other views keep their fingerprints and versions
            identity["exclude_current_time"] = True
        return _hash(identity)

    def metadata_fingerprint(self) -> str:
        """A hash of everything else: description, owner, tags, online flag, entity metadata. Where the
        objects were defined (``defined_at``, a path relative to the working folder) is left out: two
        checkouts of one repo sharing a registry must agree."""
        excluded: dict[str, Any] = dict.fromkeys(
            ("defined_at", "source", "features", "ttl", "aggregations", "checks", "exclude_current_time"),
            True,
        )
        excluded["entities"] = {"__all__": {"defined_at"}}
        identity = self.model_dump(mode="json", exclude=excluded) | {
            "feature_docs": [f.description for f in self.features]
        }
        checks = self.checks_by_feature()
        if checks:  # only when declared: views without checks keep the fingerprint they had before
            identity["checks"] = checks
        return _hash(identity)

    def checks_by_feature(self) -> dict[str, str]:
        """The declared checks as text: the view's under ``""``, each checked feature's by its name.

        >>> from featurestore.dsl import Entity, FileSource
        >>> from featurestore.dsl.checks import Between, RowCount
        >>> FeatureView(name="v", entities=[Entity(name="e", join_keys=["k"])], ttl=None,
        ...             source=FileSource(name="s", path="s.parquet"), checks=[RowCount(min=5)],
        ...             features=[Feature("a", "int64", checks=[Between(0, 9)])]).checks_by_feature()
        {'': 'RowCount(min=5)', 'a': 'Between(0, 9)'}
        """
        out = {"": checks_text(self.checks)} if self.checks else {}
        out.update({f.name: checks_text(f.checks) for f in self.features if f.checks})
        return out

    def _tables(self) -> list[Table]:
        rows = [
            ("entities", ", ".join(f"{e.name} ({', '.join(e.join_keys)})" for e in self.entities)),
            *source_rows(self.source),
            ("ttl", "none (derived from windows)" if self.aggregations else duration(self.ttl)),
            ("online", "yes" if self.online else "no (offline only)"),
        ]
        if self.checks:
            rows.append(("checks", checks_text(self.checks)))
        rows.extend(metadata_rows(self))
        aggregations = {a.name: a for a in self.aggregations}
        described = any(f.description for f in self.features)
        checked = any(f.checks for f in self.features)
        columns = ["feature", "dtype"]
        columns += ["aggregation"] if aggregations else []
        columns += ["description"] if described else []
        columns += ["checks"] if checked else []
        features = []
        for f in self.features:
            row = [f.name, f.dtype]
            if aggregations:
                a = aggregations.get(f.name)
                row.append(f"{a.function}({a.column}) over {window_label(a.window)}" if a else "")
            row += [f.description] if described else []
            row += [checks_text(f.checks) if f.checks else ""] if checked else []
            features.append(tuple(row))
        return [
            Table(f"FeatureView {self.name}", ("property", "value"), tuple(rows)),
            Table("", tuple(columns), tuple(features)),
        ]

    def __repr__(self) -> str:
        """Name, entities, source, ttl and a table of the features with their dtypes."""
        return text(self._tables())

    __str__ = __repr__

    def _repr_html_(self) -> str:
        return html_of(self._tables())


def source_rows(source: Source) -> list[tuple[str, str]]:
    """A source as ``(property, value)`` rows: its kind and name, what it reads, its time columns."""
    where = {"file": "path", "sql": "query", "spark_table": "table"}.get(source.kind, "")
    rows = [("source", f"{source.kind_label} {source.name}")]
    if where:
        rows.append((f"source {where}", str(getattr(source, where))))
    times = f"event {source.timestamp_field}"
    if source.created_timestamp_field:
        times += f", created {source.created_timestamp_field}"
    rows.append(("source timestamps", times))
    return rows


def metadata_rows(obj: Definition) -> list[tuple[str, str]]:
    """Description, owner, tags (when set) and where the definition was made."""
    rows = []
    if obj.description:
        rows.append(("description", obj.description))
    if obj.owner:
        rows.append(("owner", obj.owner))
    if obj.tags:
        rows.append(("tags", ", ".join(f"{k}={v}" for k, v in sorted(obj.tags.items()))))
    if obj.defined_at:
        rows.append(("defined at", obj.defined_at))
    return rows


class FeatureViewProjection(BaseModel):
    """A subset of a feature view's features, made with ``view[["a", "b"]]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    view: FeatureView
    features: tuple[str, ...]

    def __repr__(self) -> str:
        """As it is written: ``driver_stats[['conv_rate']]`` (the view shows itself with ``repr(view)``)."""
        return f"{self.view.name}[{list(self.features)!r}]"


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
