"""Two descriptions of each database held together: what the migrations build and what the models say.

The ``.sql`` migrations are what runs; the SQLModel models (``services/*/models.py``) are what the code reads
rows into. ``describe_database`` reads a migrated database's catalog, ``describe_metadata`` reads the models'
metadata, both into the same plain shape, and ``differences`` names every column, type, nullability or index
on which they disagree (the procrastinate way: a test compares the two, so neither drifts).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy import MetaData, UniqueConstraint
from sqlalchemy.dialects import postgresql

#: The columns the migration runner itself keeps (not a service's state).
IGNORED_TABLES = frozenset({"schema_migrations"})


@dataclass(frozen=True)
class Column:
    type: str
    nullable: bool


@dataclass(frozen=True)
class IndexShape:
    columns: tuple[str, ...]
    unique: bool
    where: str | None


@dataclass
class Shape:
    columns: dict[str, dict[str, Column]]
    primary_keys: dict[str, tuple[str, ...]]
    indexes: dict[str, dict[str, IndexShape]]


_COLUMNS = """
SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

_INDEXES = """
SELECT t.relname AS table, i.relname AS index, x.indisunique AS unique, x.indisprimary AS primary,
       pg_get_expr(x.indpred, x.indrelid) AS where,
       ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n) AS columns
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public'
ORDER BY t.relname, i.relname
"""


async def describe_database(conn: asyncpg.Connection) -> Shape:
    shape = Shape({}, {}, {})
    for r in await conn.fetch(_COLUMNS):
        if r["table"] in IGNORED_TABLES:
            continue
        shape.columns.setdefault(r["table"], {})[r["column"]] = Column(r["type"], r["nullable"])
    for r in await conn.fetch(_INDEXES):
        if r["table"] in IGNORED_TABLES:
            continue
        if r["primary"]:
            shape.primary_keys[r["table"]] = tuple(r["columns"])
            continue
        shape.indexes.setdefault(r["table"], {})[r["index"]] = IndexShape(tuple(r["columns"]), r["unique"], r["where"])
    return shape


_DIALECT = postgresql.dialect()
#: How PostgreSQL's format_type names what SQLAlchemy compiles differently.
_TYPE_NAMES = {"TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "TEXT": "text", "BIGINT": "bigint",
               "INTEGER": "integer", "SMALLINT": "smallint", "UUID": "uuid", "BYTEA": "bytea", "JSONB": "jsonb",
               "BOOLEAN": "boolean", "DATE": "date", "DOUBLE PRECISION": "double precision", "NUMERIC": "numeric",
               "TEXT[]": "text[]", "DATE[]": "date[]", "BIGINT[]": "bigint[]", "INTEGER[]": "integer[]"}


def _type_name(sa_type: object) -> str:
    compiled = sa_type.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
    if compiled.startswith("NUMERIC("):
        return compiled.lower().replace(", ", ",")
    return _TYPE_NAMES.get(compiled, compiled.lower())


def describe_metadata(*metadatas: MetaData) -> Shape:
    shape = Shape({}, {}, {})
    for metadata in metadatas:
        for table in metadata.tables.values():
            shape.columns[table.name] = {c.name: Column(_type_name(c.type), bool(c.nullable)) for c in table.columns}
            shape.primary_keys[table.name] = tuple(c.name for c in table.primary_key.columns)
            indexes = {}
            for index in table.indexes:
                where = index.dialect_options["postgresql"].get("where")
                indexes[index.name] = IndexShape(tuple(c.name for c in index.columns), bool(index.unique),
                                                 None if where is None else str(where))
            for constraint in table.constraints:
                if isinstance(constraint, UniqueConstraint):
                    indexes[str(constraint.name)] = IndexShape(tuple(c.name for c in constraint.columns), True, None)
            if indexes:
                shape.indexes[table.name] = indexes
    return shape


def differences(database: Shape, models: Shape) -> list[str]:
    """Every disagreement, in words an engineer can act on; empty when the two agree."""
    found: list[str] = []
    for table in sorted(database.columns.keys() - models.columns.keys()):
        found.append(f"table {table}: built by the migrations, no model")
    for table in sorted(models.columns.keys() - database.columns.keys()):
        found.append(f"table {table}: modelled, not built by the migrations")
    for table in sorted(database.columns.keys() & models.columns.keys()):
        built, modelled = database.columns[table], models.columns[table]
        for name in built.keys() - modelled.keys():
            found.append(f"column {table}.{name}: in the database ({built[name].type}), not in the model")
        for name in modelled.keys() - built.keys():
            found.append(f"column {table}.{name}: in the model, not in the database")
        for name in sorted(built.keys() & modelled.keys()):
            if built[name].type != modelled[name].type:
                found.append(f"column {table}.{name}: database {built[name].type}, model {modelled[name].type}")
            if built[name].nullable != modelled[name].nullable:
                found.append(f"column {table}.{name}: database nullable={built[name].nullable}, "
                             f"model nullable={modelled[name].nullable}")
        if database.primary_keys.get(table) != models.primary_keys.get(table):
            found.append(f"table {table}: primary key {database.primary_keys.get(table)} in the database, "
                         f"{models.primary_keys.get(table)} in the model")
        built_ix, modelled_ix = database.indexes.get(table, {}), models.indexes.get(table, {})
        for name in sorted(built_ix.keys() - modelled_ix.keys()):
            found.append(f"index {name} on {table}: in the database, not in the model")
        for name in sorted(modelled_ix.keys() - built_ix.keys()):
            found.append(f"index {name} on {table}: in the model, not in the database")
        for name in sorted(built_ix.keys() & modelled_ix.keys()):
            if built_ix[name] != modelled_ix[name]:
                found.append(f"index {name} on {table}: database {built_ix[name]}, model {modelled_ix[name]}")
    return found
