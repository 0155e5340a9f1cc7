"""The online lifecycle of a view's versions: created at apply, materialized, promoted, retired, deleted.

A data change (or a change of project) applied to a view that is being served creates a **pending**
version. Reads keep using the **active** version until the pending one has been materialized up to the
active one's watermark; then one state write makes it active, and only after that is the old namespace
deleted. A view with nothing served (new, or never fully materialized) gets its new version active at
once. A removed view's versions are retired. A namespace is deleted only when it is recorded here and no
run is still writing it, so clean-up never touches what another repo wrote.

    >>> version_id("a1b2c3d4e5f60718", "f00d42")
    'a1b2c3d4e5f60718-f00d42'
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from featurestore.errors import MaterializationError, RegistryError
from featurestore.registry.model import RegisteredView, Registry
from featurestore.registry.state import (
    RunRecord,
    StateEdit,
    StateStore,
    ViewVersion,
    Watermark,
    Writer,
    utcnow,
)

if TYPE_CHECKING:
    from featurestore.online.base import OnlineStore, OnlineView


def version_id(fingerprint: str, build: str | None = None) -> str:
    """A new version of a definition: its data fingerprint and a random build id."""
    return f"{fingerprint}-{build or secrets.token_hex(3)}"


def online_view(project: str, rv: RegisteredView, version: str | None = None) -> OnlineView:
    """What an online store needs to know about one version of a registered view."""
    from featurestore.online.base import OnlineView

    view = rv.view
    return OnlineView(
        project=project,
        name=view.name,
        version=version or rv.data_fingerprint,
        join_keys=view.join_keys,
        key_dtypes=tuple(rv.key_dtype(k) for k in view.join_keys),
        features=tuple((f.name, f.dtype) for f in view.features),
        ttl=view.ttl,
    )


def definition_of(record: ViewVersion) -> RegisteredView | None:
    """The registered view a version holds (``None`` for a record upgraded from an old state)."""
    return None if record.definition is None else RegisteredView.model_validate(record.definition)


def record_view(record: ViewVersion, rv: RegisteredView | None = None) -> OnlineView:
    """The online view of a recorded version (``rv``: its definition, when the caller has it)."""
    definition = rv or definition_of(record)
    if definition is None:
        raise RegistryError(f"the state holds no definition of version {record.short} of {record.view!r}")
    return online_view(record.project, definition, record.version)


def current_record(edit: StateEdit, project: str, rv: RegisteredView) -> ViewVersion | None:
    """The version holding the applied definition: the active one if it does, else the newest pending."""
    matching = [
        r
        for r in edit.versions(rv.name)
        if r.status != "retired" and r.project == project and r.fingerprint == rv.data_fingerprint
    ]
    active = [r for r in matching if r.status == "active"]
    chosen = active or matching[-1:]
    return chosen[0] if chosen else None


def _new_record(project: str, rv: RegisteredView, status: str, rebuild: bool = False) -> ViewVersion:
    return ViewVersion(
        view=rv.name,
        version=version_id(rv.data_fingerprint),
        project=project,
        fingerprint=rv.data_fingerprint,
        status="active" if status == "active" else "pending",
        created_at=utcnow(),
        definition=rv.model_dump(mode="json"),
        rebuild=rebuild,
    )


def _place(edit: StateEdit, project: str, rv: RegisteredView) -> ViewVersion:
    """Record a version for ``rv`` if none holds it: pending behind a served version, else active."""
    found = current_record(edit, project, rv)
    if found is not None:
        if found.definition != rv.model_dump(mode="json"):  # metadata changed: keep the record current
            found = replace(found, definition=rv.model_dump(mode="json"))
            edit.put(found)
        return found
    active = edit.active(rv.name)
    served = active is not None and (active.watermark is not None or bool(active.live_writers()))
    record = _new_record(project, rv, "pending" if served else "active")
    if active is not None and not served:
        edit.retire(active)  # nothing was ever complete in it: the new version replaces it now
    edit.put(record)
    return record


def sync_versions(registry: Registry, edit: StateEdit) -> None:
    """At apply, inside the state edit that also covers the registry write: a version for every view's
    definition; pending versions of older definitions and the versions of removed views are retired
    (their namespaces are deleted by :func:`delete_retired`)."""
    for rv in registry.views.values():
        current = _place(edit, registry.project, rv)
        for record in edit.versions(rv.name):
            if record.status == "pending" and record.version != current.version and not record.rebuild:
                edit.retire(record)  # superseded before it was ever served
    for view in {r.view for r in edit.versions()} - registry.views.keys():
        for record in edit.versions(view):
            if record.status != "retired":
                edit.retire(record)


# -- materialization runs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunTarget:
    """The version a materialization run writes, registered as one of its writers."""

    record: ViewVersion
    writer: Writer
    view: OnlineView


class DefinitionGone(MaterializationError):
    """The view was removed (or changed before it was ever written) since the run read the registry."""


def begin_run(
    state: StateStore, project: str, rv: RegisteredView, *, rebuild: bool, applied: Registry | None = None
) -> RunTarget:
    """Choose (or create) the version a run of ``rv`` writes and register the run as its writer.

    ``rebuild``: a new version of the same definition, written from scratch and promoted when complete
    (``materialize --overwrite``); an earlier unfinished rebuild is retired. ``applied``: the registry
    as it is now (read under the same lock apply writes it under); a view it no longer has, or whose
    definition changed before this one was ever recorded, raises :class:`DefinitionGone`.
    """
    writer = Writer.this_process()
    with state.edit() as edit:
        now = None if applied is None else applied.views.get(rv.name)
        changed = now is not None and now.data_fingerprint != rv.data_fingerprint
        if applied is not None and (now is None or (changed and current_record(edit, project, rv) is None)):
            what = "removed" if now is None else "changed"
            raise DefinitionGone(f"feature view {rv.name!r} was {what} by an apply since this run started")
        if rebuild:
            for record in edit.versions(rv.name):
                if record.status == "pending" and record.rebuild:
                    edit.retire(record)
            target = _new_record(project, rv, "pending", rebuild=True)
            if edit.active(rv.name) is None:
                target = replace(target, status="active", rebuild=False)
        else:
            target = _place(edit, project, rv)
        target = replace(target, writers=(*target.live_writers(), writer))
        edit.put(target)
    return RunTarget(target, writer, online_view(project, rv, target.version))


def abort_run(state: StateStore, target: RunTarget, rows_read: int | None = None) -> None:
    """A run failed: it no longer writes (its version keeps its previous watermark); the run history
    records it as ``failed``."""
    with state.edit() as edit:
        record = edit.get(target.record.view, target.record.version)
        if record is not None:
            edit.put(replace(record, writers=tuple(w for w in record.writers if w != target.writer)))
        edit.record_run(_run(target, None, rows_read, 0, "failed"))


def _run(
    target: RunTarget, mark: Watermark | None, rows_read: int | None, written: int, outcome: str
) -> RunRecord:
    return RunRecord(
        view=target.record.view,
        version=target.record.version,
        started=target.writer.since,
        finished=utcnow(),
        rows_read=rows_read,
        rows_written=written,
        watermark=None if mark is None else mark.event_time,
        outcome=outcome,
    )


@dataclass(frozen=True)
class RunOutcome:
    """What finishing a run changed in the state."""

    record: ViewVersion
    promoted: bool = False
    replaced: ViewVersion | None = None
    """The version that stopped being served because this one was promoted."""
    orphaned: bool = False
    """The version was retired while the run wrote it (a concurrent apply): its values must go."""
    run: int | None = None
    """The run's number in the run history."""


def finish_run(
    state: StateStore,
    target: RunTarget,
    mark: Watermark,
    rows_read: int | None = None,
    profiles: dict[str, Any] | None = None,
) -> RunOutcome:
    """Record a complete run: the watermark (never moved back within a version), the run in the run
    history (capped per view) with its feature statistics (a ``stats.Profiles`` document) and, when the
    version is pending and has caught up with the active one, the switch to it, all in one state write."""
    with state.edit() as edit:
        outcome = _finish(edit, target, mark)
        status = "orphaned" if outcome.orphaned else "promoted" if outcome.promoted else "complete"
        edit.record_run(_run(target, mark, rows_read, mark.entities_written, status), profiles)
    return replace(outcome, run=edit.numbers[-1] if edit.numbers else None)


def _finish(edit: StateEdit, target: RunTarget, mark: Watermark) -> RunOutcome:
    """The records' side of finishing a run (see ``finish_run``)."""
    record = edit.get(target.record.view, target.record.version)
    if record is None or record.status == "retired":
        if record is not None:
            edit.put(replace(record, writers=tuple(w for w in record.writers if w != target.writer)))
        return RunOutcome(record or target.record, orphaned=True)
    previous = record.watermark
    if previous is not None and previous.event_time > mark.event_time:
        mark = replace(mark, event_time=previous.event_time)
    if previous is not None and previous.created_time is not None:
        created = previous.created_time
        mark = replace(mark, created_time=max(created, mark.created_time or created))
    record = replace(record, watermark=mark, writers=tuple(w for w in record.writers if w != target.writer))
    edit.put(record)
    if record.status != "pending":
        return RunOutcome(record)
    active = edit.active(record.view)
    caught_up = (
        record.rebuild
        or active is None
        or active.watermark is None
        or mark.event_time >= active.watermark.event_time
    )
    if not caught_up:
        return RunOutcome(record)
    replaced = edit.promote(record)
    return RunOutcome(edit.get(record.view, record.version) or record, True, replaced)


def promote(state: StateStore, view: str, *, force: bool) -> tuple[ViewVersion, ViewVersion | None]:
    """Make the pending version of ``view`` active (``force``: even if it is behind the active one)."""
    with state.edit() as edit:
        pending = [r for r in edit.versions(view) if r.status == "pending"]
        if not pending:
            raise MaterializationError(
                f"feature view {view!r} has no pending version: `featurestore status` shows its versions"
            )
        record = pending[-1]
        active = edit.active(view)
        if not force and active is not None and active.watermark is not None:
            behind = record.watermark is None or record.watermark.event_time < active.watermark.event_time
            if behind:
                done = "never materialized" if record.watermark is None else record.watermark.event_time
                raise MaterializationError(
                    f"the pending version {record.short} of {view!r} is behind the active one (materialized "
                    f"up to {done}, the active one up to {active.watermark.event_time}): promoting it now "
                    "would serve older or missing values. Run `featurestore materialize --view "
                    f"{view}` (it promotes when complete), or pass --force"
                )
        replaced = edit.promote(record)
        return edit.get(view, record.version) or record, replaced


# -- clean-up -----------------------------------------------------------------------------------------


RETIRE_GRACE = timedelta(seconds=1)
"""How long a replaced version's values stay after the switch: readers look at the state before every
read, so a read that started just before the switch finishes on the old values instead of NOT_FOUND."""


def retire_grace(polls: bool, refresh: timedelta) -> timedelta:
    """The grace ``delete_retired`` gives readers: with a database registry (``polls``) a reader sees a
    switch up to ``refresh`` late (it polls the state's stamp at most that often), so the grace is
    ``2 x refresh + 1 s``; with files, readers look every 0.1 s (``store.FILES_RECHECK``): ``RETIRE_GRACE``.

    >>> retire_grace(True, timedelta(seconds=5)), retire_grace(False, timedelta(seconds=5))
    (datetime.timedelta(seconds=11), datetime.timedelta(seconds=1))
    """
    return 2 * refresh + RETIRE_GRACE if polls else RETIRE_GRACE


def delete_retired(state: StateStore, store: OnlineStore, grace: timedelta = RETIRE_GRACE) -> int:
    """Delete the namespaces of retired versions that no run writes any more; return the values deleted.

    Versions retired less than ``grace`` ago are waited for: a database backend's readers see a switch
    up to ``[registry] refresh`` late, so its grace must exceed that (``retire_grace``). The record is
    dropped only after its namespace is gone, so a failure leaves it to the next clean-up.
    """
    deleted = 0
    for record in state.versions():
        if record.status != "retired" or record.live_writers():
            continue
        if record.retired_at is not None:
            wait = (record.retired_at + grace - utcnow()).total_seconds()
            if wait > 0:
                time.sleep(wait)
        deleted += store.delete_namespace(record.namespace)
        with state.edit() as edit:
            now = edit.get(record.view, record.version)
            if now is not None and now.status == "retired" and not now.live_writers():
                edit.drop(record.view, record.version)
    return deleted


def teardown(
    state: StateStore, store: OnlineStore | None, views: list[str] | None, *, drop_state: bool
) -> tuple[int, int]:
    """Delete this repo's online values (``store`` given) and/or its state (``drop_state``) for ``views``
    (all when ``None``); return (values deleted, versions affected). Refused while a run writes one.

    Values deleted with the state kept leave the versions recorded without a watermark (so the next
    materialization is a full one); state dropped with the values kept leaves them unrecorded.
    """
    records = [r for r in state.versions() if views is None or r.view in views]
    busy = [r for r in records if r.live_writers()]
    if busy:
        writer = busy[0].live_writers()[0]
        raise MaterializationError(
            f"a materialization (pid {writer.pid} on {writer.host}, since {writer.since.isoformat()}) is "
            f"writing version {busy[0].short} of {busy[0].view!r}: wait for it to finish or stop it, then "
            "tear down"
        )
    deleted = 0
    if store is not None:
        for record in records:
            deleted += store.delete_namespace(record.namespace)
    with state.edit() as edit:
        for record in records:
            if drop_state or record.status == "retired":
                edit.drop(record.view, record.version)
            else:
                now = edit.get(record.view, record.version)
                if now is not None:
                    edit.put(replace(now, watermark=None))
    return deleted, len(records)


def has_retired(state: StateStore) -> bool:
    return any(r.status == "retired" for r in state.versions())


# -- markers: what the online store itself holds ----------------------------------------------------------


def marker_text(mark: Watermark) -> str:
    """The marker a complete run leaves in the store beside its namespace."""
    return json.dumps(
        {
            "event_time": mark.event_time.isoformat(),
            "created_time": None if mark.created_time is None else mark.created_time.isoformat(),
            "written_at": mark.updated_at.isoformat(),
        }
    )


def store_watermark(store: OnlineStore, record: ViewVersion) -> Watermark | None:
    """How far the store itself says ``record`` was materialized (``None``: it holds no marker)."""
    from datetime import datetime

    text = store.read_marker(record.namespace)
    if text is None:
        return None
    try:
        data = json.loads(text)
        created = data.get("created_time")
        return Watermark(
            version=record.version,
            event_time=datetime.fromisoformat(data["event_time"]),
            created_time=datetime.fromisoformat(created) if created else None,
            updated_at=datetime.fromisoformat(data["written_at"]),
            entities_written=0,
        )
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: trust nothing, as if absent


# -- reads: which version serves which feature ------------------------------------------------------------


@dataclass(frozen=True)
class ServedView:
    """Where the features of one view are read from while a new version may be pending."""

    current: OnlineView
    """The version of the applied definition (active, or pending and filling up)."""
    active: OnlineView | None = None
    """The served version when it differs from ``current`` and has the same join keys."""

    def version_for(self, feature: str) -> OnlineView:
        """A feature the active version holds is read from it; a new one from the current version."""
        if self.active is not None and feature in self.active.feature_names:
            return self.active
        return self.current


def serving(registry: Registry, edit: StateEdit) -> dict[str, ServedView]:
    """The versions to read for every registered view (see :class:`ServedView`)."""
    out: dict[str, ServedView] = {}
    for name, rv in registry.views.items():
        record = current_record(edit, registry.project, rv)
        current = online_view(registry.project, rv, None if record is None else record.version)
        active_record = edit.active(name)
        active = None
        if active_record is not None and (record is None or active_record.version != record.version):
            definition = definition_of(active_record)
            if definition is not None:
                candidate = record_view(active_record, definition)
                keys = (candidate.join_keys, candidate.key_dtypes)
                active = candidate if keys == (current.join_keys, current.key_dtypes) else None
        out[name] = ServedView(current, active)
    return out
