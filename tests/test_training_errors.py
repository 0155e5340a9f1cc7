"""Bad input to training sets and to apply: each is a clear error, raised before anything is written.

Apply errors start from a good, applied repo, then break one thing: the error names what, where
(view, column, types, file:line) and the registry file keeps its previous bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.errors import (
    DefinitionError,
    DefinitionLoadError,
    EntityRowsError,
    FeatureStoreError,
    SchemaMismatchError,
    SourceError,
    UnknownFeatureError,
    UnknownServiceError,
    UnknownViewError,
)
from featurestore.registry.storage import registry_path
from tests.pit_repo import make_repo, rows, write_data, write_definitions

ENTITIES = """\
from featurestore import Entity

driver = Entity(name="driver", join_keys=["driver_id"])
"""

# Line numbers matter below: `stats = FeatureView(` is line 7, `model = ...` line 14.
VIEWS = """\
from datetime import timedelta

from featurestore import Feature, FeatureService, FeatureView, FileSource

from definitions.entities import driver

stats = FeatureView(
    name="stats",
    entities=[driver],
    ttl=timedelta(hours=1),
    source=FileSource(name="stats_src", path="data/stats.parquet", timestamp_field="ts"),
    features=[Feature("conv_rate", "float64"), Feature("trips", "int64")],
)
model = FeatureService(name="model", features=[stats])
"""

T = datetime(2024, 1, 1, 12)
STATS = pa.table(
    {
        "driver_id": pa.array([1, 2], pa.int64()),
        "ts": pa.array([T, T], pa.timestamp("us")),
        "conv_rate": pa.array([0.5, 0.25], pa.float64()),
        "trips": pa.array([3, 4], pa.int64()),
    }
)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[FeatureStore]:
    """A good repo, applied."""
    store = make_repo(
        tmp_path / "repo",
        {"entities.py": ENTITIES, "views.py": VIEWS},
        {"data/stats.parquet": STATS},
        prelude=False,
    )
    yield store
    store.close()


def entities(**columns: pa.Array) -> pa.Table:
    return pa.table(columns)


GOOD_ROWS = {
    "driver_id": pa.array([1, 3], pa.int64()),
    "event_timestamp": pa.array([T, T], pa.timestamp("us")),
}


def test_the_good_repo_works(repo: FeatureStore) -> None:
    out = repo.get_training_set(entities(**GOOD_ROWS), ["stats:conv_rate", "stats:trips"]).to_arrow()
    assert rows(out, "driver_id", "conv_rate", "trips") == [(1, 0.5, 3), (3, None, None)]


# -- training sets -----------------------------------------------------------------------------------


def test_entity_rows_missing_a_join_key(repo: FeatureStore) -> None:
    bad = entities(driver=pa.array([1]), event_timestamp=pa.array([T], pa.timestamp("us")))
    with pytest.raises(EntityRowsError) as info:
        repo.get_training_set(bad, ["stats:conv_rate"])
    message = str(info.value)
    assert "'driver_id'" in message
    assert "'stats'" in message
    assert "driver, event_timestamp" in message  # the columns it does have


def test_entity_rows_missing_the_timestamp_column(repo: FeatureStore) -> None:
    bad = entities(driver_id=pa.array([1]), ts=pa.array([T], pa.timestamp("us")))
    with pytest.raises(EntityRowsError, match=r"'event_timestamp'.*timestamp_column="):
        repo.get_training_set(bad, ["stats:conv_rate"])
    # ... and the fix the message suggests works.
    out = repo.get_training_set(bad, ["stats:conv_rate"], timestamp_column="ts").to_arrow()
    assert rows(out, "driver_id", "ts", "conv_rate") == [(1, datetime(2024, 1, 1, 12, tzinfo=UTC), 0.5)]
    with pytest.raises(EntityRowsError, match=r"'when'"):
        repo.get_training_set(bad, ["stats:conv_rate"], timestamp_column="when")


@pytest.mark.parametrize(
    ("column", "type_name"),
    [
        (pa.array(["2024-01-01 12:00:00"]), "string"),
        (pa.array([1_704_110_400], pa.int64()), "int64"),
        (pa.array([1.5], pa.float64()), "double"),
    ],
    ids=["string", "int", "float"],
)
def test_a_timestamp_column_of_the_wrong_type(repo: FeatureStore, column: pa.Array, type_name: str) -> None:
    bad = entities(driver_id=pa.array([1]), event_timestamp=column)
    with pytest.raises(EntityRowsError, match=rf"'event_timestamp' has type {type_name}, not a timestamp"):
        repo.get_training_set(bad, ["stats:conv_rate"])


def test_string_timestamps_from_pandas_are_refused_too(repo: FeatureStore) -> None:
    bad = pd.DataFrame({"driver_id": [1], "event_timestamp": ["2024-01-01 12:00:00"]})
    with pytest.raises(EntityRowsError, match=r"to_datetime"):
        repo.get_training_set(bad, ["stats:conv_rate"])


def test_a_join_key_of_the_wrong_type(repo: FeatureStore) -> None:
    bad = entities(driver_id=pa.array(["1"]), event_timestamp=pa.array([T], pa.timestamp("us")))
    with pytest.raises(EntityRowsError, match=r"'driver_id' has type string.*'stats'.*int64"):
        repo.get_training_set(bad, ["stats:conv_rate"])


def test_an_unknown_view_suggests_the_closest_name(repo: FeatureStore) -> None:
    with pytest.raises(UnknownViewError, match=r"'stat'.*Did you mean 'stats'\?"):
        repo.get_training_set(entities(**GOOD_ROWS), ["stat:conv_rate"])


def test_an_unknown_feature_suggests_the_closest_name(repo: FeatureStore) -> None:
    with pytest.raises(UnknownFeatureError) as info:
        repo.get_training_set(entities(**GOOD_ROWS), ["stats:conv_rat"])
    message = str(info.value)
    assert "'stats:conv_rat'" in message
    assert "Did you mean 'conv_rate'?" in message
    assert re.search(r"definitions/views\.py:7\b", message), message  # where the view is defined


def test_an_unknown_service_suggests_the_closest_name(repo: FeatureStore) -> None:
    with pytest.raises(UnknownServiceError, match=r"'modle'.*Did you mean 'model'\?"):
        repo.get_training_set(entities(**GOOD_ROWS), "modle")


@pytest.mark.parametrize("reference", ["stats.conv_rate", "stats:conv_rate:x", ["conv_rate"]])
def test_a_malformed_feature_reference(repo: FeatureStore, reference: object) -> None:
    # A bare string without ':' is a service name; in a list it must be "view:feature".
    with pytest.raises(FeatureStoreError, match=r"view:feature|not registered"):
        repo.get_training_set(entities(**GOOD_ROWS), reference)  # type: ignore[arg-type]


def test_a_missing_entity_rows_file(repo: FeatureStore, tmp_path: Path) -> None:
    with pytest.raises(EntityRowsError, match=r"does not exist"):
        repo.get_training_set(str(tmp_path / "nope.parquet"), ["stats:conv_rate"])


def test_null_keys_give_null_features_not_errors(repo: FeatureStore) -> None:
    # A key column that is entirely null (Arrow type null), nullable integers from pandas,
    # and polars nulls: every such row matches nothing.
    t = pa.array([T, T], pa.timestamp("us"))
    forms: dict[str, object] = {
        "arrow null type": entities(driver_id=pa.nulls(2), event_timestamp=t),
        "arrow int with nulls": entities(driver_id=pa.array([None, 1], pa.int64()), event_timestamp=t),
        "pandas Int64": pd.DataFrame(
            {"driver_id": pd.array([None, 1], dtype="Int64"), "event_timestamp": [T, T]}
        ),
        "polars": pl.DataFrame({"driver_id": [None, 1], "event_timestamp": [T, T]}),
    }
    for name, entity_df in forms.items():
        out = repo.get_training_set(entity_df, ["stats:conv_rate"]).to_arrow()
        expected = [(None,), (None,)] if name == "arrow null type" else [(None,), (0.5,)]
        assert rows(out, "conv_rate") == expected, name


def test_float_keys_from_pandas_nan_are_refused_with_the_fix(repo: FeatureStore) -> None:
    # pandas turns [None, 1] into float64 NaN: a clear error, not a silent mismatch.
    bad = pd.DataFrame({"driver_id": [None, 1], "event_timestamp": [T, T]})
    with pytest.raises(EntityRowsError, match=r"'driver_id' has type double.*Cast the column"):
        repo.get_training_set(bad, ["stats:conv_rate"])


# -- apply: each broken edit is refused and the registry keeps its bytes -------------------------------

BROKEN_VIEWS: dict[str, tuple[dict[str, str], type[Exception], list[str]]] = {
    "source file does not exist": (
        {"views.py": VIEWS.replace("data/stats.parquet", "data/missing.parquet")},
        SourceError,
        [r"feature view 'stats'", r"data/missing\.parquet", r"definitions/views\.py:7\b"],
    ),
    "source file is not readable": (
        {"views.py": VIEWS.replace("data/stats.parquet", "data/garbage.parquet")},
        SourceError,
        [r"feature view 'stats'", r"cannot be read"],
    ),
    "a declared feature is missing from the source": (
        {"views.py": VIEWS.replace('Feature("trips", "int64")', 'Feature("rating", "float64")')},
        SchemaMismatchError,
        [r"feature view 'stats'", r"'rating'", r"definitions/views\.py:7\b", r"trips int64"],
    ),
    "a feature's type does not match the source": (
        {"views.py": VIEWS.replace('Feature("trips", "int64")', 'Feature("trips", "string")')},
        SchemaMismatchError,
        [r"feature view 'stats'", r"column 'trips' is int64 in the source", r"declared string"],
    ),
    "a float feature read from a string column": (
        {"views.py": VIEWS.replace("data/stats.parquet", "data/stats_text.parquet")},
        SchemaMismatchError,
        [r"feature view 'stats'", r"column 'conv_rate' is string", r"declared float64"],
    ),
    "the timestamp column is text": (
        {"views.py": VIEWS.replace("data/stats.parquet", "data/stats_text_ts.parquet")},
        SchemaMismatchError,
        [r"feature view 'stats'", r"'ts' has type string", r"timestamp\[us\]", r"CAST\(ts AS TIMESTAMPTZ\)"],
    ),
    "a definitions file raises": (
        {"views.py": VIEWS + "\nlimits = {}\nceiling = limits['max_trips']\n"},
        DefinitionLoadError,
        [r"definitions/views\.py:17\b", r"KeyError", r"max_trips"],
    ),
    "a definitions file raises inside a helper": (
        {"views.py": VIEWS + "\n\ndef helper():\n    return 1 / 0\n\n\nvalue = helper()\n"},
        DefinitionLoadError,
        [r"definitions/views\.py:18\b", r"ZeroDivisionError"],
    ),
    "a definitions file imports a missing module": (
        {"views.py": "import featurestore_plugins_that_do_not_exist\n" + VIEWS},
        DefinitionLoadError,
        [r"definitions/views\.py:1\b", r"featurestore_plugins_that_do_not_exist"],
    ),
    "a syntax error": (
        {"views.py": VIEWS + "\nbroken = = 1\n"},
        DefinitionLoadError,
        [r"definitions/views\.py:16\b", r"syntax error"],
    ),
    "two views with the same name in two files": (
        {
            "views.py": VIEWS,
            "more.py": (
                "from datetime import timedelta\n"
                "\n"
                "from featurestore import Feature, FeatureView, FileSource\n"
                "\n"
                "from definitions.entities import driver\n"
                "\n"
                "other = FeatureView(\n"
                '    name="stats",\n'
                "    entities=[driver],\n"
                "    ttl=None,\n"
                '    source=FileSource(name="other_src", path="data/stats.parquet", timestamp_field="ts"),\n'
                '    features=[Feature("trips", "int64")],\n'
                ")\n"
            ),
        },
        DefinitionLoadError,
        [r"'stats'", r"definitions/views\.py:7\b", r"definitions/more\.py:7\b"],
    ),
    "two entities with the same name": (
        {
            "views.py": VIEWS,
            "entities.py": ENTITIES + '\nrider = Entity(name="driver", join_keys=["rider_id"])\n',
        },
        DefinitionLoadError,
        [r"'driver'", r"definitions/entities\.py:3\b", r"definitions/entities\.py:5\b"],
    ),
    "a view name that is not an identifier": (
        {"views.py": VIEWS.replace('name="stats"', 'name="driver stats"')},
        DefinitionError,
        [r"'driver stats'", r"not an identifier", r"'driver_stats'", r"definitions/views\.py:7\b"],
    ),
    "a feature name that is not an identifier": (
        {"views.py": VIEWS.replace('Feature("trips", "int64")', 'Feature("trips-today", "int64")')},
        DefinitionError,
        [r"'trips-today'", r"not an identifier", r"'trips_today'", r"definitions/views\.py:12\b"],
    ),
    "a view name with a double underscore": (
        {"views.py": VIEWS.replace('name="stats"', 'name="driver__stats"')},
        DefinitionError,
        [r"'driver__stats'", r"'__'", r"'driver_stats'", r"definitions/views\.py:7\b"],
    ),
    "a zero ttl": (
        {"views.py": VIEWS.replace("ttl=timedelta(hours=1)", "ttl=timedelta(0)")},
        DefinitionError,
        [r"'stats'", r"ttl must be positive", r"ttl=None", r"definitions/views\.py:7\b"],
    ),
    "a negative ttl": (
        {"views.py": VIEWS.replace("ttl=timedelta(hours=1)", "ttl=timedelta(hours=-1)")},
        DefinitionError,
        [r"'stats'", r"ttl must be positive", r"definitions/views\.py:7\b"],
    ),
    "a service using a view that is not defined at module level": (
        {
            "views.py": VIEWS
            + (
                "\n"
                "\n"
                "def build_hidden():\n"
                "    return FeatureView(\n"
                '        name="hidden",\n'
                "        entities=[driver],\n"
                "        ttl=None,\n"
                '        source=FileSource(name="hidden_src", path="data/stats.parquet",\n'
                '                          timestamp_field="ts"),\n'
                '        features=[Feature("trips", "int64")],\n'
                "    )\n"
                "\n"
                "\n"
                'hidden_model = FeatureService(name="hidden_model", features=[build_hidden()])\n'
            )
        },
        DefinitionLoadError,
        [r"'hidden_model'", r"'hidden'", r"not defined at module level", r"definitions/views\.py:28\b"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_VIEWS))
def test_a_broken_edit_is_refused_and_the_registry_keeps_its_bytes(repo: FeatureStore, case: str) -> None:
    files, error, patterns = BROKEN_VIEWS[case]
    root = repo.root
    write_data(root, "data/stats_text.parquet", STATS.set_column(2, "conv_rate", pa.array(["0.5", "x"])))
    write_data(root, "data/stats_text_ts.parquet", STATS.set_column(1, "ts", pa.array(["2024-01-01", "x"])))
    (root / "data" / "garbage.parquet").write_bytes(b"this is not parquet\n" * 10)
    registry = registry_path(root)
    before = registry.read_bytes()
    state_before = sorted(p.name for p in registry.parent.iterdir())

    write_definitions(root, files, prelude=False)
    for attempt in (repo.plan, repo.apply, FeatureStore(root).apply):
        with pytest.raises(error) as info:
            attempt()
        message = str(info.value)
        for pattern in patterns:
            assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    assert registry.read_bytes() == before
    assert sorted(p.name for p in registry.parent.iterdir()) == state_before  # no temp files left
    # The applied registry still serves training sets.
    out = repo.get_training_set(entities(**GOOD_ROWS), ["stats:trips"]).to_arrow()
    assert rows(out, "trips") == [(3,), (None,)]

    # Fixing the files makes apply work again.
    (root / "definitions" / "more.py").unlink(missing_ok=True)
    write_definitions(root, {"entities.py": ENTITIES, "views.py": VIEWS}, prelude=False)
    assert repo.apply().empty
    assert registry.read_bytes() == before


def test_a_source_file_deleted_after_apply_fails_the_training_set_clearly(repo: FeatureStore) -> None:
    (repo.root / "data" / "stats.parquet").unlink()
    with pytest.raises(SourceError, match=r"stats\.parquet"):
        repo.get_training_set(entities(**GOOD_ROWS), ["stats:trips"]).to_arrow()


def test_every_training_set_error_is_raised_before_anything_is_written(
    repo: FeatureStore, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "training.parquet"
    bad_requests: list[tuple[pa.Table, list[str]]] = [
        (entities(event_timestamp=pa.array([T], pa.timestamp("us"))), ["stats:trips"]),
        (entities(driver_id=pa.array([1])), ["stats:trips"]),
        (entities(**GOOD_ROWS), ["stats:nope"]),
        (entities(**GOOD_ROWS), ["nope:trips"]),
    ]
    for entity_df, features in bad_requests:
        with pytest.raises(FeatureStoreError):
            repo.get_training_set(entity_df, features).to_parquet(target)
    assert not target.exists()
    assert not target.parent.exists() or not any(target.parent.iterdir())
    ok = repo.get_training_set(entities(**GOOD_ROWS), ["stats:trips"]).to_parquet(target)
    assert pq.read_table(ok).column("trips").to_pylist() == [3, None]


def test_a_parquet_file_of_entity_rows_deleted_after_planning(repo: FeatureStore, tmp_path: Path) -> None:
    # The engine reads the file itself: deleting it fails that training set, with the file named,
    # and nothing else (another training set on the same engine still runs).
    path = tmp_path / "rows.parquet"
    pq.write_table(entities(**GOOD_ROWS), path)
    from_file = repo.get_training_set(path, ["stats:conv_rate"])
    path.unlink()
    with pytest.raises(FeatureStoreError) as info:
        from_file.to_arrow()
    assert "rows.parquet" in str(info.value)
    out = repo.get_training_set(entities(**GOOD_ROWS), ["stats:conv_rate"]).to_arrow()
    assert rows(out, "driver_id", "conv_rate") == [(1, 0.5), (3, None)]
