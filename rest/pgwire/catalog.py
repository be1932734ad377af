"""A virtual ``pg_catalog`` and ``information_schema`` over our metastore, for the introspection
queries that drivers, ``psql`` and BI tools send.

The catalog tables live in an in-memory SQLite database (attached as schemas ``pg_catalog`` and
``information_schema``), rebuilt when the set of sources changes. A query is parsed as PostgreSQL
by sqlglot, rewritten where SQLite differs (casts to reg* types, ``= ANY(array)``, regex operators,
array aggregates, PostgreSQL's system functions) and run there; its result columns get PostgreSQL
types from the catalog's column types and the expressions' shapes.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from ksql.catalog import DataSource
from rest.pgwire import types as T
from rest.pgwire.errors import SYNTAX_ERROR, UNDEFINED_FUNCTION, UNDEFINED_TABLE, PgError, unsupported
from rest.pgwire.protocol import Field
from rest.pgwire.sqltext import cast_type, pg_name, tokenize

PG_CATALOG_NS, PUBLIC_NS, INFORMATION_SCHEMA_NS = 11, 2200, 13_000
OWNER_OID = 10
DATABASE_OID = 16_384
FIRST_USER_OID = 16_385
SERVER_VERSION = "15.0 (ksql-py)"
VERSION_TEXT = f"PostgreSQL {SERVER_VERSION} on ksql-py, a ksqlDB-compatible streaming engine"

# -- table layouts (column, PostgreSQL type) ------------------------------------------------------
_PG_CATALOG = {
    "pg_namespace": "oid oid, nspname name, nspowner oid, nspacl _aclitem",
    "pg_class": "oid oid, relname name, relnamespace oid, reltype oid, reloftype oid, relowner oid, relam oid, "
                "relfilenode oid, reltablespace oid, relpages int4, reltuples float4, relallvisible int4, "
                "reltoastrelid oid, relhasindex bool, relisshared bool, relpersistence char, relkind char, "
                "relnatts int2, relchecks int2, relhasrules bool, relhastriggers bool, relhassubclass bool, "
                "relrowsecurity bool, relforcerowsecurity bool, relispopulated bool, relreplident char, "
                "relispartition bool, relrewrite oid, relfrozenxid xid, relminmxid xid, relacl _aclitem, "
                "reloptions _text, relpartbound pg_node_tree",
    "pg_attribute": "attrelid oid, attname name, atttypid oid, attstattarget int4, attlen int2, attnum int2, "
                    "attndims int4, attcacheoff int4, atttypmod int4, attbyval bool, attalign char, "
                    "attstorage char, attcompression char, attnotnull bool, atthasdef bool, atthasmissing bool, "
                    "attidentity char, attgenerated char, attisdropped bool, attislocal bool, attinhcount int4, "
                    "attcollation oid, attacl _aclitem, attoptions _text, attfdwoptions _text, attmissingval text",
    "pg_type": "oid oid, typname name, typnamespace oid, typowner oid, typlen int2, typbyval bool, typtype char, "
               "typcategory char, typispreferred bool, typisdefined bool, typdelim char, typrelid oid, "
               "typsubscript regproc, typelem oid, typarray oid, typinput regproc, typoutput regproc, "
               "typreceive regproc, typsend regproc, typmodin regproc, typmodout regproc, typanalyze regproc, "
               "typalign char, typstorage char, typnotnull bool, typbasetype oid, typtypmod int4, typndims int4, "
               "typcollation oid, typdefaultbin pg_node_tree, typdefault text, typacl _aclitem",
    "pg_database": "oid oid, datname name, datdba oid, encoding int4, datlocprovider char, datistemplate bool, "
                   "datallowconn bool, datconnlimit int4, datfrozenxid xid, datminmxid xid, dattablespace oid, "
                   "datcollate text, datctype text, daticulocale text, datcollversion text, datacl _aclitem",
    "pg_roles": "oid oid, rolname name, rolsuper bool, rolinherit bool, rolcreaterole bool, rolcreatedb bool, "
                "rolcanlogin bool, rolreplication bool, rolconnlimit int4, rolpassword text, rolvaliduntil timestamptz, "
                "rolbypassrls bool, rolconfig _text",
    "pg_user": "usename name, usesysid oid, usecreatedb bool, usesuper bool, userepl bool, usebypassrls bool, "
               "passwd text, valuntil timestamptz, useconfig _text",
    "pg_am": "oid oid, amname name, amhandler regproc, amtype char",
    "pg_description": "objoid oid, classoid oid, objsubid int4, description text",
    "pg_settings": "name text, setting text, unit text, category text, short_desc text, extra_desc text, "
                   "context text, vartype text, source text, min_val text, max_val text, enumvals _text, "
                   "boot_val text, reset_val text, sourcefile text, sourceline int4, pending_restart bool",
    "pg_tables": "schemaname name, tablename name, tableowner name, tablespace name, hasindexes bool, "
                 "hasrules bool, hastriggers bool, rowsecurity bool",
    "pg_stat_activity": "datid oid, datname name, pid int4, leader_pid int4, usesysid oid, usename name, "
                        "application_name text, client_addr text, client_hostname text, client_port int4, "
                        "backend_start timestamptz, xact_start timestamptz, query_start timestamptz, "
                        "state_change timestamptz, wait_event_type text, wait_event text, state text, "
                        "backend_xid xid, backend_xmin xid, query_id int8, query text, backend_type text",
    "pg_collation": "oid oid, collname name, collnamespace oid, collowner oid, collprovider char, "
                    "collisdeterministic bool, collencoding int4, collcollate text, collctype text",
    "pg_tablespace": "oid oid, spcname name, spcowner oid, spcacl _aclitem, spcoptions _text",
    "pg_extension": "oid oid, extname name, extowner oid, extnamespace oid, extrelocatable bool, "
                    "extversion text, extconfig _oid, extcondition _text",
    "pg_index": "indexrelid oid, indrelid oid, indnatts int2, indnkeyatts int2, indisunique bool, "
                "indnullsnotdistinct bool, indisprimary bool, indisexclusion bool, indimmediate bool, "
                "indisclustered bool, indisvalid bool, indcheckxmin bool, indisready bool, indislive bool, "
                "indisreplident bool, indkey int2vector, indcollation oidvector, indclass oidvector, "
                "indoption int2vector, indexprs pg_node_tree, indpred pg_node_tree",
    "pg_constraint": "oid oid, conname name, connamespace oid, contype char, condeferrable bool, "
                     "condeferred bool, convalidated bool, conrelid oid, contypid oid, conindid oid, "
                     "conparentid oid, confrelid oid, confupdtype char, confdeltype char, confmatchtype char, "
                     "conislocal bool, coninhcount int4, connoinherit bool, conkey _int2, confkey _int2, "
                     "conpfeqop _oid, conppeqop _oid, conffeqop _oid, confdelsetcols _int2, conexclop _oid, "
                     "conbin pg_node_tree",
    "pg_attrdef": "oid oid, adrelid oid, adnum int2, adbin pg_node_tree",
    "pg_inherits": "inhrelid oid, inhparent oid, inhseqno int4, inhdetachpending bool",
    "pg_range": "rngtypid oid, rngsubtype oid, rngmultitypid oid, rngcollation oid, rngsubopc oid, "
                "rngcanonical regproc, rngsubdiff regproc",
    "pg_enum": "oid oid, enumtypid oid, enumsortorder float4, enumlabel name",
    "pg_proc": "oid oid, proname name, pronamespace oid, proowner oid, prolang oid, prokind char, "
               "proretset bool, pronargs int2, prorettype oid, proargtypes oidvector, prosrc text",
    "pg_trigger": "oid oid, tgrelid oid, tgparentid oid, tgname name, tgfoid oid, tgtype int2, tgenabled char, "
                  "tgisinternal bool, tgconstrrelid oid, tgconstrindid oid, tgconstraint oid",
    "pg_rewrite": "oid oid, rulename name, ev_class oid, ev_type char, ev_enabled char, is_instead bool",
    "pg_policy": "oid oid, polname name, polrelid oid, polcmd char, polpermissive bool, polroles _oid, "
                 "polqual pg_node_tree, polwithcheck pg_node_tree",
    "pg_statistic_ext": "oid oid, stxrelid oid, stxname name, stxnamespace oid, stxowner oid, "
                        "stxstattarget int4, stxkeys int2vector, stxkind _char, stxexprs pg_node_tree",
    "pg_publication": "oid oid, pubname name, pubowner oid, puballtables bool, pubinsert bool, pubupdate bool, "
                      "pubdelete bool, pubtruncate bool, pubviaroot bool",
    "pg_publication_rel": "oid oid, prpubid oid, prrelid oid, prqual pg_node_tree, prattrs int2vector",
    "pg_publication_namespace": "oid oid, pnpubid oid, pnnspid oid",
    "pg_foreign_table": "ftrelid oid, ftserver oid, ftoptions _text",
    "pg_partitioned_table": "partrelid oid, partstrat char, partnatts int2, partdefid oid, partattrs int2vector",
    "pg_sequence": "seqrelid oid, seqtypid oid, seqstart int8, seqincrement int8, seqmax int8, seqmin int8, "
                   "seqcache int8, seqcycle bool",
    "pg_views": "schemaname name, viewname name, viewowner name, definition text",
    "pg_matviews": "schemaname name, matviewname name, matviewowner name, tablespace name, hasindexes bool, "
                   "ispopulated bool, definition text",
    "pg_indexes": "schemaname name, tablename name, indexname name, tablespace name, indexdef text",
    "pg_locks": "locktype text, database oid, relation oid, pid int4, mode text, granted bool",
    "pg_cast": "oid oid, castsource oid, casttarget oid, castfunc oid, castcontext char, castmethod char",
    "pg_operator": "oid oid, oprname name, oprnamespace oid, oprleft oid, oprright oid, oprresult oid",
    "pg_language": "oid oid, lanname name, lanowner oid, lanispl bool, lanpltrusted bool",
    "pg_event_trigger": "oid oid, evtname name, evtevent name, evtowner oid, evtfoid oid, evtenabled char",
    "pg_auth_members": "oid oid, roleid oid, member oid, grantor oid, admin_option bool",
    "pg_shdescription": "objoid oid, classoid oid, description text",
    "pg_depend": "classid oid, objid oid, objsubid int4, refclassid oid, refobjid oid, refobjsubid int4, "
                 "deptype char",
    "pg_opclass": "oid oid, opcmethod oid, opcname name, opcnamespace oid, opcintype oid, opcdefault bool",
    "pg_conversion": "oid oid, conname name, connamespace oid, conforencoding int4, contoencoding int4",
    "pg_foreign_server": "oid oid, srvname name, srvowner oid, srvfdw oid",
    "pg_foreign_data_wrapper": "oid oid, fdwname name, fdwowner oid",
    "pg_user_mapping": "oid oid, umuser oid, umserver oid",
    "pg_default_acl": "oid oid, defaclrole oid, defaclnamespace oid, defaclobjtype char, defaclacl _aclitem",
    "pg_init_privs": "objoid oid, classoid oid, objsubid int4, privtype char, initprivs _aclitem",
    "pg_seclabel": "objoid oid, classoid oid, objsubid int4, provider text, label text",
    "pg_stat_user_tables": "relid oid, schemaname name, relname name, seq_scan int8, n_live_tup int8",
    "pg_timezone_names": "name text, abbrev text, utc_offset interval, is_dst bool",
}
_INFORMATION_SCHEMA = {
    "schemata": "catalog_name name, schema_name name, schema_owner name, default_character_set_catalog name, "
                "default_character_set_schema name, default_character_set_name name, sql_path varchar",
    "tables": "table_catalog name, table_schema name, table_name name, table_type varchar, "
              "self_referencing_column_name name, reference_generation varchar, user_defined_type_catalog name, "
              "user_defined_type_schema name, user_defined_type_name name, is_insertable_into varchar, "
              "is_typed varchar, commit_action varchar",
    "columns": "table_catalog name, table_schema name, table_name name, column_name name, ordinal_position int4, "
               "column_default varchar, is_nullable varchar, data_type varchar, character_maximum_length int4, "
               "character_octet_length int4, numeric_precision int4, numeric_precision_radix int4, "
               "numeric_scale int4, datetime_precision int4, interval_type varchar, interval_precision int4, "
               "character_set_catalog name, character_set_schema name, character_set_name name, "
               "collation_catalog name, collation_schema name, collation_name name, domain_catalog name, "
               "domain_schema name, domain_name name, udt_catalog name, udt_schema name, udt_name name, "
               "scope_catalog name, scope_schema name, scope_name name, maximum_cardinality int4, "
               "dtd_identifier name, is_self_referencing varchar, is_identity varchar, identity_generation varchar, "
               "identity_start varchar, identity_increment varchar, identity_maximum varchar, "
               "identity_minimum varchar, identity_cycle varchar, is_generated varchar, "
               "generation_expression varchar, is_updatable varchar",
    "views": "table_catalog name, table_schema name, table_name name, view_definition varchar, "
             "check_option varchar, is_updatable varchar, is_insertable_into varchar",
    "table_constraints": "constraint_catalog name, constraint_schema name, constraint_name name, "
                         "table_catalog name, table_schema name, table_name name, constraint_type varchar, "
                         "is_deferrable varchar, initially_deferred varchar, enforced varchar",
    "key_column_usage": "constraint_catalog name, constraint_schema name, constraint_name name, "
                        "table_catalog name, table_schema name, table_name name, column_name name, "
                        "ordinal_position int4, position_in_unique_constraint int4",
    "referential_constraints": "constraint_catalog name, constraint_schema name, constraint_name name, "
                               "unique_constraint_catalog name, unique_constraint_schema name, "
                               "unique_constraint_name name, match_option varchar, update_rule varchar, "
                               "delete_rule varchar",
    "constraint_column_usage": "table_catalog name, table_schema name, table_name name, column_name name, "
                               "constraint_catalog name, constraint_schema name, constraint_name name",
    "routines": "specific_catalog name, specific_schema name, specific_name name, routine_catalog name, "
                "routine_schema name, routine_name name, routine_type varchar, data_type varchar",
    "parameters": "specific_catalog name, specific_schema name, specific_name name, ordinal_position int4, "
                  "parameter_mode varchar, parameter_name name, data_type varchar",
    "character_sets": "character_set_catalog name, character_set_schema name, character_set_name name, "
                      "character_repertoire name, form_of_use name, default_collate_catalog name, "
                      "default_collate_schema name, default_collate_name name",
}


def _layout(spec: str) -> list[tuple[str, int]]:
    cols = []
    for part in spec.split(","):
        name, typ = part.split()
        t = T.BY_NAME[typ]
        cols.append((name, t.oid))
    return cols


SCHEMAS: dict[str, dict[str, list[tuple[str, int]]]] = {
    "pg_catalog": {k: _layout(v) for k, v in _PG_CATALOG.items()},
    "information_schema": {k: _layout(v) for k, v in _INFORMATION_SCHEMA.items()},
}
# session-dependent tables, filled right before a query that reads them
_LIVE_TABLES = {"pg_settings", "pg_stat_activity"}
_INTEGER_TYPES = {T.BOOL, T.INT2, T.INT4, T.INT8, T.OID, T.XID, T.REGPROC}


def _affinity(oid: int) -> str:
    if oid in _INTEGER_TYPES:
        return "INTEGER"
    if oid in (T.FLOAT4, T.FLOAT8):
        return "REAL"
    return "TEXT"


# -- what the catalog is built from ---------------------------------------------------------------
class SessionInfo:
    """What the catalog needs from the session asking (its settings, user, database)."""

    user: str
    database: str
    pid: int
    application_name: str

    def setting(self, name: str) -> str | None:
        raise NotImplementedError

    def set_setting(self, name: str, value: str) -> None:
        raise NotImplementedError

    def all_settings(self) -> list[tuple[str, str]]:
        raise NotImplementedError


@dataclass
class Relation:
    oid: int
    source: DataSource
    name: str  # the PostgreSQL spelling
    columns: list[tuple[str, T.ColumnType]] = field(default_factory=list)


def relation_oids(names: Iterable[str]) -> dict[str, int]:
    """Stable OIDs: the same name keeps its OID while other sources come and go."""
    taken: set[int] = set()
    out: dict[str, int] = {}
    for name in sorted(names):
        oid = FIRST_USER_OID + zlib.crc32(name.encode()) % 1_000_000 * 2
        while oid in taken:
            oid += 2
        taken.add(oid)
        out[name] = oid
    return out


def build_relations(sources: Iterable[DataSource]) -> list[Relation]:
    srcs = {s.name: s for s in sources}
    oids = relation_oids(srcs)
    rels = []
    for name, src in sorted(srcs.items()):
        cols: list[tuple[str, T.ColumnType]] = []
        for c in src.schema.columns:
            cols.append((pg_name(c.name), T.column_type(c.type)))
        rels.append(Relation(oids[name], src, pg_name(name), cols))
    return rels


def _rows(relations: list[Relation], database: str, user: str) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {
        name if schema == "pg_catalog" else f"{schema}.{name}": [] for schema, tables in SCHEMAS.items()
        for name in tables}
    rows["pg_namespace"] = [
        {"oid": PG_CATALOG_NS, "nspname": "pg_catalog", "nspowner": OWNER_OID},
        {"oid": PUBLIC_NS, "nspname": "public", "nspowner": OWNER_OID},
        {"oid": INFORMATION_SCHEMA_NS, "nspname": "information_schema", "nspowner": OWNER_OID},
    ]
    rows["pg_am"] = [{"oid": 2, "amname": "heap", "amhandler": 0, "amtype": "t"}]
    rows["pg_database"] = [{"oid": DATABASE_OID, "datname": database, "datdba": OWNER_OID, "encoding": 6,
                            "datlocprovider": "c", "datallowconn": True, "datconnlimit": -1, "dattablespace": 1663,
                            "datcollate": "C", "datctype": "C"}]
    rows["pg_roles"] = [{"oid": OWNER_OID, "rolname": user, "rolinherit": True, "rolcanlogin": True,
                         "rolconnlimit": -1}]
    rows["pg_user"] = [{"usename": user, "usesysid": OWNER_OID}]
    rows["pg_collation"] = [{"oid": 100, "collname": "default", "collnamespace": PG_CATALOG_NS,
                             "collowner": OWNER_OID, "collprovider": "d", "collisdeterministic": True,
                             "collencoding": -1},
                            {"oid": 950, "collname": "C", "collnamespace": PG_CATALOG_NS, "collowner": OWNER_OID,
                             "collprovider": "c", "collisdeterministic": True, "collencoding": -1,
                             "collcollate": "C", "collctype": "C"}]
    rows["pg_tablespace"] = [{"oid": 1663, "spcname": "pg_default", "spcowner": OWNER_OID}]
    rows["pg_type"] = [_type_row(t) for t in T.TYPES.values()]
    rows["information_schema.schemata"] = [
        {"catalog_name": database, "schema_name": s, "schema_owner": user}
        for s in ("pg_catalog", "public", "information_schema")]
    for rel in relations:
        src = rel.source
        rows["pg_class"].append({
            "oid": rel.oid, "relname": rel.name, "relnamespace": PUBLIC_NS, "relowner": OWNER_OID, "relam": 2,
            "relfilenode": rel.oid, "reltuples": -1, "relpersistence": "p", "relkind": "r",
            "relnatts": len(rel.columns), "relispopulated": True, "relreplident": "d"})
        rows["pg_description"].append({"objoid": rel.oid, "classoid": 1259, "objsubid": 0,
                                       "description": f"ksql {src.kind.lower()} {src.name} (topic {src.topic})"})
        rows["pg_tables"].append({"schemaname": "public", "tablename": rel.name, "tableowner": user})
        rows["information_schema.tables"].append({
            "table_catalog": database, "table_schema": "public", "table_name": rel.name,
            "table_type": "BASE TABLE", "is_insertable_into": "NO", "is_typed": "NO"})
        keys = [c for c in src.schema.columns if c.namespace == "KEY"]
        if keys and src.is_table:
            constraint = f"{rel.name}_pkey"
            rows["information_schema.table_constraints"].append({
                "constraint_catalog": database, "constraint_schema": "public", "constraint_name": constraint,
                "table_catalog": database, "table_schema": "public", "table_name": rel.name,
                "constraint_type": "PRIMARY KEY", "is_deferrable": "NO", "initially_deferred": "NO",
                "enforced": "YES"})
            for i, c in enumerate(keys, 1):
                rows["information_schema.key_column_usage"].append({
                    "constraint_catalog": database, "constraint_schema": "public", "constraint_name": constraint,
                    "table_catalog": database, "table_schema": "public", "table_name": rel.name,
                    "column_name": pg_name(c.name), "ordinal_position": i})
        for num, (col, ct) in enumerate(rel.columns, 1):
            pt = T.TYPES[ct.oid]
            rows["pg_attribute"].append({
                "attrelid": rel.oid, "attname": col, "atttypid": ct.oid, "attstattarget": -1, "attlen": ct.length,
                "attnum": num, "attcacheoff": -1, "atttypmod": ct.typmod, "attbyval": ct.length in (1, 2, 4, 8),
                "attalign": "i", "attstorage": "x" if ct.length < 0 else "p", "attislocal": True,
                "attcollation": 100 if pt.category == "S" else 0})
            rows["information_schema.columns"].append(_column_row(database, rel.name, col, num, ct))
    return rows


def _type_row(t: T.PgType) -> dict[str, Any]:
    return {"oid": t.oid, "typname": t.name, "typnamespace": PG_CATALOG_NS, "typowner": OWNER_OID,
            "typlen": t.length, "typbyval": t.length in (1, 2, 4, 8), "typtype": "p" if t.category == "P" else "b",
            "typcategory": t.category, "typisdefined": True, "typdelim": ",", "typelem": t.element,
            "typarray": t.array, "typalign": "i", "typstorage": "x" if t.length < 0 else "p",
            "typtypmod": -1, "typcollation": 100 if t.category == "S" else 0}


def _column_row(database: str, table: str, col: str, num: int, ct: T.ColumnType) -> dict[str, Any]:
    pt = T.TYPES[ct.oid]
    row: dict[str, Any] = {
        "table_catalog": database, "table_schema": "public", "table_name": table, "column_name": col,
        "ordinal_position": num, "is_nullable": "YES", "data_type": pt.display, "udt_catalog": database,
        "udt_schema": "pg_catalog", "udt_name": pt.name, "dtd_identifier": str(num), "is_self_referencing": "NO",
        "is_identity": "NO", "is_generated": "NEVER", "is_updatable": "NO"}
    if ct.oid == T.NUMERIC and ct.typmod >= 4:
        row.update(numeric_precision=(ct.typmod - 4) >> 16, numeric_scale=(ct.typmod - 4) & 0xFFFF,
                   numeric_precision_radix=10)
    elif ct.oid in (T.INT4, T.INT8, T.FLOAT8):
        row.update(numeric_precision={T.INT4: 32, T.INT8: 64, T.FLOAT8: 53}[ct.oid], numeric_precision_radix=2,
                   numeric_scale=0 if ct.oid != T.FLOAT8 else None)
    elif ct.oid in (T.TIMESTAMP, T.TIME):
        row["datetime_precision"] = 3
    elif ct.oid == T.DATE:
        row["datetime_precision"] = 0
    return row


# -- functions ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Function:
    fn: Callable[..., Any]
    nargs: int  # -1: any number
    returns: int


class Functions:
    """PostgreSQL's system functions as SQLite user functions, answered for the session asking."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        c = catalog
        s = lambda: catalog.session  # noqa: E731
        true = lambda *a: 1  # noqa: E731
        none = lambda *a: None  # noqa: E731
        self.table: dict[str, Function] = {
            "pg_table_is_visible": Function(lambda oid: 1 if oid is not None else None, 1, T.BOOL),
            "pg_type_is_visible": Function(true, 1, T.BOOL),
            "pg_function_is_visible": Function(true, 1, T.BOOL),
            "pg_collation_is_visible": Function(true, 1, T.BOOL),
            "pg_opclass_is_visible": Function(true, 1, T.BOOL),
            "pg_operator_is_visible": Function(true, 1, T.BOOL),
            "pg_conversion_is_visible": Function(true, 1, T.BOOL),
            "pg_get_userbyid": Function(lambda oid: s().user if oid == OWNER_OID else f"unknown (OID={oid})",
                                        1, T.NAME),
            "format_type": Function(lambda oid, mod: None if oid is None else (
                T.format_type(int(oid), -1 if mod is None else int(mod)) or "???"), 2, T.TEXT),
            "pg_get_expr": Function(none, -1, T.TEXT),
            "pg_get_indexdef": Function(none, -1, T.TEXT),
            "pg_get_constraintdef": Function(none, -1, T.TEXT),
            "pg_get_viewdef": Function(none, -1, T.TEXT),
            "pg_get_triggerdef": Function(none, -1, T.TEXT),
            "pg_get_ruledef": Function(none, -1, T.TEXT),
            "pg_get_functiondef": Function(none, -1, T.TEXT),
            "pg_get_function_arguments": Function(none, 1, T.TEXT),
            "pg_get_function_identity_arguments": Function(none, 1, T.TEXT),
            "pg_get_function_result": Function(none, 1, T.TEXT),
            "pg_get_partkeydef": Function(none, 1, T.TEXT),
            "pg_get_serial_sequence": Function(none, 2, T.TEXT),
            "pg_get_statisticsobjdef_columns": Function(none, 1, T.TEXT),
            "pg_relation_is_publishable": Function(lambda *a: 0, 1, T.BOOL),
            "obj_description": Function(c.describe, -1, T.TEXT),
            "col_description": Function(none, 2, T.TEXT),
            "shobj_description": Function(none, 2, T.TEXT),
            "current_database": Function(lambda: s().database, 0, T.NAME),
            "current_catalog": Function(lambda: s().database, 0, T.NAME),
            "current_schema": Function(lambda: "public", 0, T.NAME),
            "current_schemas": Function(lambda implicit: orjson.dumps(
                ["pg_catalog", "public"] if implicit else ["public"]).decode(), 1, 1003),
            "current_user": Function(lambda: s().user, 0, T.NAME),
            "session_user": Function(lambda: s().user, 0, T.NAME),
            "current_role": Function(lambda: s().user, 0, T.NAME),
            "user": Function(lambda: s().user, 0, T.NAME),
            "version": Function(lambda: VERSION_TEXT, 0, T.TEXT),
            "pg_backend_pid": Function(lambda: s().pid, 0, T.INT4),
            "current_setting": Function(self._current_setting, -1, T.TEXT),
            "set_config": Function(self._set_config, 3, T.TEXT),
            "pg_advisory_unlock_all": Function(lambda: "", 0, T.VOID),
            "has_table_privilege": Function(true, -1, T.BOOL),
            "has_column_privilege": Function(true, -1, T.BOOL),
            "has_any_column_privilege": Function(true, -1, T.BOOL),
            "has_schema_privilege": Function(true, -1, T.BOOL),
            "has_database_privilege": Function(true, -1, T.BOOL),
            "has_function_privilege": Function(true, -1, T.BOOL),
            "has_type_privilege": Function(true, -1, T.BOOL),
            "pg_has_role": Function(true, -1, T.BOOL),
            "pg_encoding_to_char": Function(lambda n: "UTF8" if n == 6 else "SQL_ASCII", 1, T.NAME),
            "pg_char_to_encoding": Function(lambda n: 6, 1, T.INT4),
            "pg_is_in_recovery": Function(lambda: 0, 0, T.BOOL),
            "pg_relation_size": Function(lambda *a: 0, -1, T.INT8),
            "pg_total_relation_size": Function(lambda *a: 0, 1, T.INT8),
            "pg_table_size": Function(lambda *a: 0, 1, T.INT8),
            "pg_indexes_size": Function(lambda *a: 0, 1, T.INT8),
            "pg_size_pretty": Function(lambda n: None if n is None else f"{int(n)} bytes", 1, T.TEXT),
            "pg_tablespace_location": Function(lambda *a: "", 1, T.TEXT),
            "quote_ident": Function(_quote_ident, 1, T.TEXT),
            "to_regtype": Function(lambda name: c.type_oid(name), 1, T.REGTYPE),
            "to_regclass": Function(lambda name: c.relation_oid(name), 1, T.REGCLASS),
            "to_regnamespace": Function(lambda name: c.namespace_oid(name), 1, T.REGNAMESPACE),
            "array_to_string": Function(_array_to_string, -1, T.TEXT),
            "array_length": Function(lambda a, dim: len(_json_list(a)) or None if dim == 1 else None, 2, T.INT4),
            "cardinality": Function(lambda a: len(_json_list(a)), 1, T.INT4),
            "array_upper": Function(lambda a, dim: len(_json_list(a)) or None if dim == 1 else None, 2, T.INT4),
            "array_lower": Function(lambda a, dim: 1 if _json_list(a) and dim == 1 else None, 2, T.INT4),
            # regular expressions and the reg* casts the rewriter introduces
            "regexp": Function(_regexp, 3, T.BOOL),
            "reg_name": Function(c.reg_name, 2, T.TEXT),
            "reg_oid": Function(c.reg_oid, 2, T.OID),
            "pg_bool": Function(_to_bool, 1, T.BOOL),
        }

    def register(self, db: sqlite3.Connection) -> None:
        for name, f in self.table.items():
            db.create_function(f"pgw_{name}", f.nargs, f.fn, deterministic=False)

    def _current_setting(self, name: str, missing_ok: Any = False) -> str | None:
        value = self.catalog.session.setting(name)
        if value is None and not missing_ok:
            raise sqlite3.OperationalError(f'unrecognized configuration parameter "{name}"')
        return value

    def _set_config(self, name: str, value: str, is_local: Any) -> str:
        self.catalog.session.set_setting(name, value)
        return value


def _quote_ident(s: str | None) -> str | None:
    if s is None:
        return None
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", s):
        return s
    return '"' + s.replace('"', '""') + '"'


def _json_list(a: Any) -> list[Any]:
    if a is None:
        return []
    try:
        v = orjson.loads(a) if isinstance(a, str) else a
    except orjson.JSONDecodeError:
        return []
    return v if isinstance(v, list) else []


def _array_to_string(a: Any, sep: str, null: str | None = None) -> str:
    items = _json_list(a)
    return sep.join(null if x is None and null is not None else str(x) for x in items if x is not None or null)


def _regexp(value: Any, pattern: Any, flags: str) -> int | None:
    if value is None or pattern is None:
        return None
    try:
        return 1 if re.search(str(pattern), str(value), re.I if "i" in flags else 0) else 0
    except re.error as e:
        raise sqlite3.OperationalError(f"invalid regular expression: {e}") from None


def _to_bool(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, str):
        return 1 if v.strip().lower() in ("t", "true", "y", "yes", "on", "1") else 0
    return 1 if v else 0


# -- queries --------------------------------------------------------------------------------------
_REG_TYPES = {"REGCLASS": "regclass", "REGTYPE": "regtype", "REGNAMESPACE": "regnamespace",
              "REGPROC": "regproc", "REGPROCEDURE": "regproc", "REGROLE": "regrole", "REGOPER": "regoper"}
# sqlglot's nodes for PostgreSQL's niladic functions -> our function names
_NILADIC: dict[type[exp.Expr], str] = {
    exp.CurrentUser: "current_user", exp.SessionUser: "session_user", exp.CurrentSchema: "current_schema",
    exp.CurrentDatabase: "current_database", exp.CurrentCatalog: "current_catalog",
    exp.CurrentVersion: "version",
}
_NILADIC_COLUMNS = {"current_user", "session_user", "user", "current_role", "current_catalog", "current_schema"}
_SQLITE_FUNCTIONS = {"abs", "coalesce", "ifnull", "nullif", "lower", "upper", "length", "replace", "substr",
                     "substring", "trim", "ltrim", "rtrim", "round", "max", "min", "count", "sum", "avg",
                     "json_group_array", "json_array", "json_each", "group_concat", "instr", "typeof",
                     "greatest", "least", "concat", "strpos", "position"}
_FUNC_TYPES = {"count": T.INT8, "sum": T.NUMERIC, "avg": T.NUMERIC, "length": T.INT4, "lower": T.TEXT,
               "upper": T.TEXT, "concat": T.TEXT, "string_agg": T.TEXT, "replace": T.TEXT, "substring": T.TEXT,
               "trim": T.TEXT, "now": T.TIMESTAMPTZ, "current_timestamp": T.TIMESTAMPTZ}
_BOOL_NODES = (exp.Predicate, exp.Connector, exp.Not, exp.Exists, exp.RegexpLike, exp.RegexpILike, exp.Like,
               exp.ILike, exp.Any, exp.All, exp.Boolean)


@dataclass
class CatalogStatement:
    """A catalog query, parsed once: parameter types, result columns, SQLite text."""

    tree: exp.Expr
    param_types: list[int]
    fields: list[Field] | None  # None: known only when run (SELECT *)
    sql: str
    live_tables: set[str]


class Catalog:
    """The virtual catalog of one server: an SQLite database kept in step with the metastore."""

    def __init__(self, sources: Callable[[], Iterable[DataSource]]) -> None:
        self.sources = sources
        self.session: SessionInfo = _NO_SESSION
        self.functions = Functions(self)
        # one database per (database name, user) a client connected with: both show in the tables
        self._dbs: dict[tuple[str, str], sqlite3.Connection] = {}
        self._fingerprint: Any = None
        self._relations: list[Relation] = []

    # -- the database -------------------------------------------------------------------------
    def relations(self) -> list[Relation]:
        return self._relations

    def _refresh(self) -> sqlite3.Connection:
        srcs = list(self.sources())
        fp = tuple((s.name, s.kind, s.topic, tuple((c.name, str(c.type), c.namespace) for c in s.schema.columns))
                   for s in srcs)
        if fp != self._fingerprint:
            for old in self._dbs.values():
                old.close()
            self._dbs.clear()
            self._fingerprint = fp
            self._relations = build_relations(srcs)
        key = (self.session.database, self.session.user)
        found = self._dbs.get(key)
        if found is None:
            found = self._dbs[key] = self._build(*key)
        return found

    def _build(self, database: str, user: str) -> sqlite3.Connection:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.execute("PRAGMA case_sensitive_like = ON")
        rows = _rows(self._relations, database, user)
        for schema, tables in SCHEMAS.items():
            db.execute(f"ATTACH DATABASE ':memory:' AS {schema}")
            for table, cols in tables.items():
                db.execute(f"CREATE TABLE {schema}.{table} ("
                           + ", ".join(f'"{c}" {_affinity(oid)}' for c, oid in cols) + ")")
                key = table if schema == "pg_catalog" else f"{schema}.{table}"
                _insert(db, f"{schema}.{table}", cols, rows.get(key, []))
        self.functions.register(db)
        return db

    def _fill_live(self, db: sqlite3.Connection, tables: set[str], sessions: list[SessionInfo]) -> None:
        if "pg_settings" in tables:
            cols = SCHEMAS["pg_catalog"]["pg_settings"]
            db.execute("DELETE FROM pg_catalog.pg_settings")
            _insert(db, "pg_catalog.pg_settings", cols, [
                {"name": k, "setting": v, "context": "user", "vartype": "string", "source": "default",
                 "boot_val": v, "reset_val": v} for k, v in self.session.all_settings()])
        if "pg_stat_activity" in tables:
            cols = SCHEMAS["pg_catalog"]["pg_stat_activity"]
            db.execute("DELETE FROM pg_catalog.pg_stat_activity")
            _insert(db, "pg_catalog.pg_stat_activity", cols, [
                {"datid": DATABASE_OID, "datname": s.database, "pid": s.pid, "usesysid": OWNER_OID,
                 "usename": s.user, "application_name": s.application_name, "state": "active" if s is self.session
                 else "idle", "backend_type": "client backend"} for s in sessions])

    # -- lookups used by the functions ---------------------------------------------------------
    def describe(self, oid: Any, catalog: Any = None) -> str | None:
        for rel in self._relations:
            if rel.oid == oid:
                return f"ksql {rel.source.kind.lower()} {rel.source.name} (topic {rel.source.topic})"
        return None

    def type_oid(self, name: Any) -> int | None:
        t = T.type_by_name(str(name)) if name is not None else None
        return t.oid if t is not None else None

    def relation_oid(self, name: Any) -> int | None:
        if name is None:
            return None
        parts = [p.strip('"') for p in str(name).split(".")]
        if len(parts) > 1 and parts[-2] not in ("public",):
            return None
        for rel in self._relations:
            if rel.name == parts[-1] or rel.source.name == parts[-1]:
                return rel.oid
        return None

    def namespace_oid(self, name: Any) -> int | None:
        return {"pg_catalog": PG_CATALOG_NS, "public": PUBLIC_NS,
                "information_schema": INFORMATION_SCHEMA_NS}.get(str(name))

    def reg_oid(self, kind: str, value: Any) -> int | None:
        """``'name'::regclass`` and friends: the OID a name stands for."""
        if value is None:
            return None
        if isinstance(value, int) or str(value).isdigit():
            return int(value)
        found = {"regclass": self.relation_oid, "regtype": self.type_oid,
                 "regnamespace": self.namespace_oid}.get(kind, lambda v: None)(value)
        if found is None:
            what = {"regclass": "relation", "regtype": "type", "regnamespace": "schema"}.get(kind, kind)
            raise sqlite3.OperationalError(f'{what} "{value}" does not exist')
        return found

    def reg_name(self, kind: str, value: Any) -> str | None:
        """``oid::regclass`` shown as text: the name an OID stands for."""
        if value is None:
            return None
        if not (isinstance(value, int) or str(value).isdigit()):
            return str(value)
        oid = int(value)
        if kind == "regclass":
            for rel in self._relations:
                if rel.oid == oid:
                    return rel.name
        elif kind == "regtype":
            t = T.TYPES.get(oid)
            if t is not None:
                return t.display
            if oid == 0:
                return "-"
        elif kind == "regnamespace":
            return {PG_CATALOG_NS: "pg_catalog", PUBLIC_NS: "public",
                    INFORMATION_SCHEMA_NS: "information_schema"}.get(oid, str(oid))
        return str(oid)

    # -- queries --------------------------------------------------------------------------------
    def prepare(self, text: str, declared: list[int]) -> CatalogStatement:
        declared = _cast_params(text, declared)
        try:
            tree = sqlglot.parse_one(_pre_parse(text), read="postgres")
        except (ParseError, SqlglotError) as e:
            raise PgError(SYNTAX_ERROR, f"syntax error: {_first_line(str(e))}") from None
        if not isinstance(tree, (exp.Query, exp.Values)):
            raise unsupported(f"statement not supported on the catalog: {text[:60]}")
        typer = _Typer(self)
        count = max((int(p.this.this) for p in tree.find_all(exp.Parameter) if isinstance(p.this, exp.Literal)),
                    default=0)
        params = list(declared) + [0] * max(0, count - len(declared))
        for p in tree.find_all(exp.Parameter):
            k = int(p.this.this) - 1
            if 0 <= k < len(params) and not params[k]:
                params[k] = typer.param_type(p) or T.TEXT
        fields = typer.output_fields(tree)
        live = {t.name for t in tree.find_all(exp.Table) if t.name in _LIVE_TABLES}
        rewritten = _Rewriter(self).rewrite(tree.copy())
        try:
            sql = rewritten.sql(dialect="sqlite", unsupported_level=ErrorLevel.RAISE)
        except SqlglotError as e:
            raise unsupported(f"not supported on the catalog: {_first_line(str(e))}") from None
        return CatalogStatement(tree, params, fields, sql, live)

    def run(self, stmt: CatalogStatement, params: list[Any], session: SessionInfo,
            sessions: list[SessionInfo]) -> tuple[list[Field], list[tuple[Any, ...]]]:
        self.session = session
        try:
            db = self._refresh()
            if stmt.live_tables:
                self._fill_live(db, stmt.live_tables, sessions)
            bound = {f"p{i + 1}": _sqlite_value(v) for i, v in enumerate(params)}
            try:
                cur = db.execute(stmt.sql, bound)
            except sqlite3.OperationalError as e:
                raise _sqlite_error(e) from None
            except sqlite3.Error as e:
                raise PgError("XX000", f"catalog query failed: {e}") from None
            rows = cur.fetchall()
            if stmt.fields is None or len(stmt.fields) != len(cur.description or ()):
                stmt.fields = _fields_from(cur.description or ())
            return stmt.fields, rows
        finally:
            self.session = _NO_SESSION


def _first_line(s: str) -> str:
    return s.strip().split("\n")[0][:200]


def _sqlite_error(e: sqlite3.OperationalError) -> PgError:
    msg = str(e)
    m = re.match(r"no such table: (.*)", msg)
    if m:
        return PgError(UNDEFINED_TABLE, f'relation "{m.group(1)}" does not exist')
    m = re.match(r"no such function: (?:pgw_)?(.*)", msg)
    if m:
        return PgError(UNDEFINED_FUNCTION, f"function {m.group(1).lower()} does not exist")
    m = re.match(r"no such column: (.*)", msg)
    if m:
        return PgError("42703", f'column "{m.group(1)}" does not exist')
    if "does not exist" in msg or "unrecognized configuration" in msg:
        return PgError("42704", msg)
    if "invalid regular expression" in msg:
        return PgError("2201B", msg)
    return PgError(SYNTAX_ERROR, msg)


def _insert(db: sqlite3.Connection, table: str, cols: list[tuple[str, int]], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    defaults = [0 if oid in _INTEGER_TYPES or oid in (T.FLOAT4, T.FLOAT8) else None for _, oid in cols]
    values = [tuple(_sqlite_value(r.get(c, d)) for (c, _), d in zip(cols, defaults, strict=True)) for r in rows]
    db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(cols))})", values)


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, list):
        return orjson.dumps(v, default=str).decode()
    if v is None or isinstance(v, (int, float, str, bytes)):
        return v
    return str(v)


def _fields_from(description: Any) -> list[Field]:
    # columns the typer could not resolve are text: the same whatever the rows hold, so that a
    # statement describes the same way before and after it runs
    return [Field(d[0], T.TEXT) for d in description]


def _cast_params(text: str, declared: list[int]) -> list[int]:
    """``$1::oid[]`` declares $1 an oid[] (read before sqlglot, which knows fewer array types)."""
    out = list(declared)
    tokens = tokenize(text)
    for i, t in enumerate(tokens):
        if t.kind == "param" and i + 2 < len(tokens) and tokens[i + 1].is_op("::"):
            k = int(t.text[1:]) - 1
            name, _ = cast_type(tokens, i + 2)
            pt = T.type_by_name(re.sub(r"\(.*\)", "", name))
            if pt is not None and k >= 0:
                out += [0] * (k + 1 - len(out))
                if not out[k]:
                    out[k] = pt.oid
    return out


def _pre_parse(text: str) -> str:
    # sqlglot reads ``x::oid[]`` and friends only for the types it knows; the element type is
    # irrelevant to SQLite, where arrays are JSON text
    return re.sub(r"::\s*(?:pg_catalog\.)?\"?(\w+)\"?\s*\[\]", r"::\1_ARRAY_", text) \
        .replace("_ARRAY_", "[]").replace("::oid[]", "::int[]").replace("::name[]", "::text[]") \
        .replace("::regtype[]", "::int[]").replace("::regclass[]", "::int[]").replace("::char[]", "::text[]")


def _norm_type(to: exp.Expr) -> str:
    if isinstance(to, exp.ObjectIdentifier):
        return _REG_TYPES.get(to.name.upper(), to.name.lower())
    name = to.sql("postgres").lower()
    name = name.removeprefix("pg_catalog.")
    return name


class _Typer:
    """PostgreSQL types of a catalog query's parameters and result columns."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def param_type(self, p: exp.Parameter) -> int | None:
        parent = p.parent
        while isinstance(parent, exp.Paren):
            parent = parent.parent
        if isinstance(parent, exp.Cast):
            return self._cast_type(parent)
        if isinstance(parent, exp.Any):
            cmp = parent.parent
            if isinstance(cmp, exp.Binary):
                other = cmp.this if cmp.expression is parent else cmp.expression
                t = self.expr_type(other)
                if t and T.TYPES.get(t) and T.TYPES[t].array:
                    return T.TYPES[t].array
            return None
        if isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like)):
            other = parent.this if parent.expression is p else parent.expression
            return self.expr_type(other)
        if isinstance(parent, exp.In):
            return self.expr_type(parent.this)
        if isinstance(parent, (exp.Limit, exp.Offset)):
            return T.INT8
        return None

    def _cast_type(self, cast: exp.Cast) -> int | None:
        name = _norm_type(cast.to)
        if name in _REG_TYPES.values():
            return T.TEXT  # shown by name; a parameter is given as a name too
        t = T.type_by_name(re.sub(r"\(.*\)", "", name))
        return t.oid if t is not None else None

    def output_fields(self, tree: exp.Expr) -> list[Field] | None:
        select = tree
        while isinstance(select, exp.SetOperation):
            select = select.this
        if isinstance(select, exp.Subquery):
            select = select.this
        if not isinstance(select, exp.Select):
            return None
        fields = []
        for e in select.expressions:
            if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
                star = self._star(select, e.table if isinstance(e, exp.Column) else None)
                if star is None:
                    return None
                fields += star
                continue
            oid = self.expr_type(e) or T.TEXT
            fields.append(Field(_output_name(e), oid, T.TYPES[oid].length if oid in T.TYPES else -1))
        return fields

    def _star(self, select: exp.Select, qualifier: str | None) -> list[Field] | None:
        """The columns ``*`` (or ``t.*``) stands for, in FROM order."""
        out: list[Field] = []
        for src in self._sources(select):
            if qualifier and src.alias_or_name != qualifier:
                continue
            if isinstance(src, exp.Table):
                cols = self._table_columns(src, select)
            elif isinstance(src, exp.Subquery):
                fields = self.output_fields(src.this)
                cols = {f.name: f.type_oid for f in fields} if fields is not None else {}
            else:
                return None
            if not cols:
                return None
            out += [Field(n, oid, T.TYPES[oid].length if oid in T.TYPES else -1) for n, oid in cols.items()]
        return out or None

    @staticmethod
    def _sources(select: exp.Select) -> list[exp.Expr]:
        sources: list[exp.Expr] = []
        from_ = select.args.get("from_") or select.args.get("from")
        if from_ is not None:
            sources.append(from_.this)
        sources += [j.this for j in select.args.get("joins") or []]
        return sources

    def expr_type(self, e: exp.Expr) -> int | None:
        if isinstance(e, (exp.Alias, exp.Paren)):
            return self.expr_type(e.this)
        if isinstance(e, exp.Column):
            if e.name in _NILADIC_COLUMNS and not e.table:
                return T.NAME
            return self._column_type(e)
        if isinstance(e, exp.Cast):
            return self._cast_type(e)
        if isinstance(e, exp.Literal):
            if e.is_string:
                return T.TEXT
            return T.INT4 if re.fullmatch(r"-?\d+", e.this) and abs(int(e.this)) < 2**31 else (
                T.INT8 if re.fullmatch(r"-?\d+", e.this) else T.NUMERIC)
        if isinstance(e, exp.Null):
            return T.TEXT
        if isinstance(e, _BOOL_NODES):
            return T.BOOL
        if isinstance(e, exp.Case):
            for branch in e.args.get("ifs") or []:
                t = self.expr_type(branch.args["true"])
                if t and not isinstance(branch.args["true"], exp.Null):
                    return t
            default = e.args.get("default")
            return self.expr_type(default) if default is not None else None
        if isinstance(e, exp.Coalesce):
            return self.expr_type(e.this)
        if isinstance(e, exp.Subquery):
            fields = self.output_fields(e.this)
            return fields[0].type_oid if fields else None
        if isinstance(e, (exp.ArrayAgg, exp.Array)):
            if isinstance(e, exp.ArrayAgg):
                inner = e.this.this if isinstance(e.this, exp.Order) else e.this
            else:
                inner = e.expressions[0] if e.expressions else exp.null()
                if isinstance(inner, exp.Select):
                    inner = exp.Subquery(this=inner)
            t = self.expr_type(inner)
            return T.TYPES[t].array if t in T.TYPES and T.TYPES[t].array else T.TYPES[T.TEXT].array
        if isinstance(e, (exp.Max, exp.Min)):
            return self.expr_type(e.this)
        if isinstance(e, (exp.DPipe, exp.Concat)):
            return T.TEXT
        if isinstance(e, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg)):
            return self.expr_type(e.this)
        if isinstance(e, exp.Dot) and isinstance(e.expression, exp.Func):
            return self.expr_type(e.expression)
        name = _func_name(e)
        if name:
            f = self.catalog.functions.table.get(name)
            if f is not None:
                return f.returns
            return _FUNC_TYPES.get(name)
        return None

    def _column_type(self, col: exp.Column) -> int | None:
        select = col.find_ancestor(exp.Select)
        while select is not None:
            t = self._column_in(select, col)
            if t is not None:
                return t
            select = select.find_ancestor(exp.Select)
        return None

    def _column_in(self, select: exp.Select, col: exp.Column) -> int | None:
        for src in self._sources(select):
            alias = src.alias_or_name
            if col.table and col.table != alias:
                continue
            if isinstance(src, exp.Table):
                cols = self._table_columns(src, select)
            elif isinstance(src, exp.Subquery):
                fields = self.output_fields(src.this)
                cols = {f.name: f.type_oid for f in fields} if fields else {}
            else:
                continue
            if col.name in cols:
                return cols[col.name]
        return None

    def _table_columns(self, table: exp.Table, select: exp.Select) -> dict[str, int]:
        schema = table.db.lower() if table.db else None
        for s, tables in SCHEMAS.items():
            if (schema is None or schema == s) and table.name in tables:
                return dict(tables[table.name])
        # a CTE: the types of its query's columns, named by its column list if it has one
        node: exp.Expr | None = select
        while node is not None:
            with_ = node.args.get("with_") or node.args.get("with")
            if with_ is not None:
                for cte in with_.expressions:
                    if cte.alias == table.name:
                        fields = self.output_fields(cte.this) or []
                        names = [c.name for c in (cte.args["alias"].columns or [])] or [f.name for f in fields]
                        return {n: f.type_oid for n, f in zip(names, fields, strict=False)}
            node = node.parent
        return {}


def _func_name(e: exp.Expr) -> str | None:
    if isinstance(e, exp.Anonymous):
        return str(e.name).lower()
    if type(e) in _NILADIC:
        return _NILADIC[type(e)]
    if isinstance(e, exp.Func):
        return type(e).sql_names()[0].lower()
    return None


def _output_name(e: exp.Expr) -> str:
    return _figure_name(e)[0]


def _figure_name(e: exp.Expr) -> tuple[str, int]:
    """PostgreSQL's column naming: (name, strength); a column or function name (2) beats the type
    name of a cast (1), which beats ``?column?`` (0)."""
    if isinstance(e, exp.Alias):
        return e.alias, 3
    if isinstance(e, exp.Column):
        return e.name, 2
    if isinstance(e, exp.Cast):
        name, strength = _figure_name(e.this)
        if strength <= 1:
            return _norm_type(e.to).split("(")[0].removesuffix("[]"), 1
        return name, strength
    if isinstance(e, exp.Dot) and isinstance(e.expression, exp.Func):
        return _figure_name(e.expression)
    if isinstance(e, exp.Case):
        return "case", 1
    if isinstance(e, exp.Boolean):
        return "bool", 1
    if isinstance(e, exp.Array):
        return "array", 2
    if isinstance(e, exp.Subquery):
        select = e.this
        if isinstance(select, exp.Select) and len(select.expressions) == 1:
            return _figure_name(select.expressions[0])
        return "?column?", 0
    if isinstance(e, exp.Paren):
        return _figure_name(e.this)
    name = _func_name(e)
    return (name, 2) if name else ("?column?", 0)


class _Rewriter:
    """PostgreSQL → SQLite where sqlglot's own translation is not enough."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def rewrite(self, tree: exp.Expr) -> exp.Expr:
        # bottom-up: a node is rewritten after its children, so it sees them in SQLite form
        root = tree
        for node in reversed(list(tree.dfs())):
            new = self._node(node)
            if new is not node:
                if node is root:
                    root = new
                else:
                    node.replace(new)
        return root

    def _call(self, name: str, *args: exp.Expr) -> exp.Expr:
        return exp.Anonymous(this=f"pgw_{name}", expressions=list(args))

    def _node(self, e: exp.Expr) -> exp.Expr:
        if isinstance(e, exp.Parameter) and isinstance(e.this, exp.Literal):
            return exp.Placeholder(this=f"p{e.this.this}")
        if isinstance(e, exp.Collate):
            return e.this
        if isinstance(e, exp.Dot) and isinstance(e.this, exp.Identifier) and e.this.name.lower() == "pg_catalog" \
                and isinstance(e.expression, exp.Func):
            return e.expression
        if isinstance(e, exp.Operator):
            op = str(e.args.get("operator") or "").split(".")[-1].strip()
            node = _OPERATORS.get(op)
            if node is None:
                raise unsupported(f"operator {op} is not supported on the catalog")
            return self._node(node(this=e.this, expression=e.expression))
        if isinstance(e, (exp.RegexpLike, exp.RegexpILike)):
            flags = "i" if isinstance(e, exp.RegexpILike) else ""
            return self._call("regexp", e.this, e.expression, exp.Literal.string(flags))
        if isinstance(e, exp.ByteString):
            return exp.Literal.string(str(e.this))
        if type(e) in _NILADIC:
            return self._call(_NILADIC[type(e)])
        if isinstance(e, exp.CurrentSchemas):
            return self._call("current_schemas", e.this or exp.true())
        if isinstance(e, exp.Column) and not e.table and e.name in _NILADIC_COLUMNS and not isinstance(
                e.this, exp.Star) and not e.this.quoted:
            return self._call(e.name)
        if isinstance(e, exp.Cast):
            return self._cast(e)
        if isinstance(e, exp.Anonymous):
            name = str(e.name).lower()
            if name in self.catalog.functions.table:
                return self._call(name, *e.expressions)
            if name not in _SQLITE_FUNCTIONS:
                raise PgError(UNDEFINED_FUNCTION, f"function {name}() does not exist")
            return e
        if isinstance(e, exp.ArrayToString):
            return self._call("array_to_string", e.this, *e.expressions)
        if isinstance(e, exp.ArrayAgg):
            inner = e.this.this if isinstance(e.this, exp.Order) else e.this
            return exp.Anonymous(this="json_group_array", expressions=[inner])
        if isinstance(e, exp.Array):
            items = list(e.expressions)
            if len(items) == 1 and isinstance(items[0], (exp.Query, exp.Subquery)):
                # ARRAY(SELECT x ...): the subquery's rows as one JSON array
                inner = items[0].this if isinstance(items[0], exp.Subquery) else items[0]
                if isinstance(inner, exp.Select) and inner.expressions:
                    first = inner.expressions[0]
                    inner.expressions[0].replace(exp.alias_(first.this if isinstance(first, exp.Alias) else first,
                                                            "pgw_v"))
                agg = exp.select(exp.Anonymous(this="json_group_array", expressions=[exp.column("pgw_v")]))
                return exp.Subquery(this=agg.from_(exp.Subquery(this=inner, alias=exp.TableAlias(
                    this=exp.to_identifier("pgw_a")))))
            return exp.Anonymous(this="json_array", expressions=items)
        if isinstance(e, exp.Table) and isinstance(e.this, (exp.ExplodingGenerateSeries, exp.GenerateSeries)):
            return self._series(e)
        if isinstance(e, exp.Table) and isinstance(e.this, exp.Explode) or isinstance(e, exp.Unnest) and isinstance(
                e.parent, (exp.From, exp.Join)):
            # FROM unnest(array) x: one row per element, in a column named like the alias
            arr = e.this.this if isinstance(e, exp.Table) else e.expressions[0]
            name = e.alias or "unnest"
            values = exp.select(exp.alias_(exp.column("value"), name)).from_(
                exp.Anonymous(this="json_each", expressions=[arr]))
            return exp.Subquery(this=values, alias=exp.TableAlias(this=exp.to_identifier(name)))
        if isinstance(e, exp.Bracket) and len(e.expressions) == 1:
            # arrays are JSON text; PostgreSQL subscripts count from 1
            path = exp.DPipe(this=exp.DPipe(this=exp.Literal.string("$["), expression=exp.Sub(
                this=exp.Cast(this=e.expressions[0], to=exp.DataType.build("INTEGER")),
                expression=exp.Literal.number(1))), expression=exp.Literal.string("]"))
            return exp.Anonymous(this="json_extract", expressions=[e.this, path])
        if isinstance(e, (exp.EQ, exp.NEQ)) and isinstance(e.expression, exp.Any):
            arr = e.expression.this
            arr = arr.this if isinstance(arr, exp.Paren) else arr
            values = exp.select("value").from_(exp.Anonymous(this="json_each", expressions=[arr]))
            test = exp.In(this=e.this, query=exp.Subquery(this=values))
            return exp.Not(this=test) if isinstance(e, exp.NEQ) else test
        return e

    @staticmethod
    def _series(table: exp.Table) -> exp.Expr:
        """``FROM generate_series(a, b) s``: the integers a..b as a column ``s``."""
        series = table.this
        name = table.alias or "generate_series"
        start, end = series.args.get("start"), series.args.get("end")
        step = series.args.get("step") or exp.Literal.number(1)
        cte = (f"WITH RECURSIVE pgw_series(v) AS (SELECT {start.sql('sqlite')} UNION ALL "  # type: ignore[union-attr]
               f"SELECT v + {step.sql('sqlite')} FROM pgw_series WHERE v + {step.sql('sqlite')} <= "
               f"{end.sql('sqlite')}) SELECT v AS {name} FROM pgw_series")  # type: ignore[union-attr]
        return exp.Subquery(this=sqlglot.parse_one(cte, read="sqlite"),
                            alias=exp.TableAlias(this=exp.to_identifier(name)))

    def _cast(self, e: exp.Cast) -> exp.Expr:
        name = _norm_type(e.to)
        inner = e.this
        if name in _REG_TYPES.values():
            # a reg* value compares as an OID and shows as a name
            shown = isinstance(e.parent, (exp.Alias, exp.Select))
            return self._call("reg_name" if shown else "reg_oid", exp.Literal.string(name), inner)
        if isinstance(inner, exp.Anonymous) and inner.name == "pgw_reg_oid" and T.type_by_name(name) in (
                T.TYPES[T.TEXT], T.TYPES[T.NAME], T.TYPES[T.VARCHAR]):
            return self._call("reg_name", *inner.expressions)
        if name.endswith("[]"):
            if isinstance(inner, exp.Literal) and inner.is_string:
                elem = T.type_by_name(name[:-2])
                items = T.parse_array(inner.this, lambda s: T.decode_text(elem.oid, s) if elem else s)
                return exp.Literal.string(orjson.dumps(items, default=str).decode())
            return inner
        base = re.sub(r"\(.*\)", "", name).strip()
        t = T.type_by_name(base)
        if t is None:
            raise unsupported(f"cast to {name} is not supported on the catalog")
        if t.oid == T.BOOL:
            return self._call("pg_bool", inner)
        if t.oid in _INTEGER_TYPES:
            return exp.Cast(this=inner, to=exp.DataType.build("INTEGER"))
        if t.oid in (T.FLOAT4, T.FLOAT8, T.NUMERIC):
            return exp.Cast(this=inner, to=exp.DataType.build("REAL"))
        if t.category in ("S", "Z") or t.oid in (T.TEXT, T.NAME):
            return exp.Cast(this=inner, to=exp.DataType.build("TEXT"))
        return inner


_OPERATORS: dict[str, type[exp.Expr]] = {
    "~": exp.RegexpLike, "~*": exp.RegexpILike, "=": exp.EQ, "<>": exp.NEQ, "!=": exp.NEQ, "<": exp.LT,
    "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE, "~~": exp.Like, "~~*": exp.ILike,
}


class _NoSession(SessionInfo):
    user = "ksql"
    database = "ksql"
    pid = 0
    application_name = ""

    def setting(self, name: str) -> str | None:
        return None

    def set_setting(self, name: str, value: str) -> None:
        pass

    def all_settings(self) -> list[tuple[str, str]]:
        return []


_NO_SESSION = _NoSession()
