"""The tables of the virtual catalog: their layouts (column, PostgreSQL type) and their rows, built
from the metastore. Streams and tables are relations of the schema ``public``; their columns keep
the PostgreSQL spelling of their names (see ``sqltext.pg_name``).
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from ksql.catalog import DataSource
from rest.pgwire import types as T
from rest.pgwire.sqltext import pg_name

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
LIVE_TABLES = {"pg_settings", "pg_stat_activity"}
INTEGER_TYPES = {T.BOOL, T.INT2, T.INT4, T.INT8, T.OID, T.XID, T.REGPROC}


def affinity(oid: int) -> str:
    if oid in INTEGER_TYPES:
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


def catalog_rows(relations: list[Relation], database: str, user: str) -> dict[str, list[dict[str, Any]]]:
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


def insert_rows(db: sqlite3.Connection, table: str, cols: list[tuple[str, int]], rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    defaults = [0 if oid in INTEGER_TYPES or oid in (T.FLOAT4, T.FLOAT8) else None for _, oid in cols]
    values = [tuple(sqlite_value(r.get(c, d)) for (c, _), d in zip(cols, defaults, strict=True)) for r in rows]
    db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(cols))})", values)


def sqlite_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, list):
        return orjson.dumps(v, default=str).decode()
    if v is None or isinstance(v, (int, float, str, bytes)):
        return v
    return str(v)
