//! Writes the typed schema (`src/schema/`): diesel `table!` definitions read from the database
//! catalog after the migrations ran, so the Rust types follow the SQL and never the other way
//! round. `zmg print-schema platform|tenant` prints them; a test checks the committed files are
//! what the migrations give (as it does for the OpenAPI spec).

use std::collections::BTreeMap;

use diesel::{sql_query, sql_types as sql, QueryableByName};

use crate::{
    db::{Conn, Pool},
    migrate,
};

/// Which schema to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The shared `platform` schema, with qualified table names.
    Platform,
    /// A tenant's schema, with unqualified names (resolved through the tenant's search path).
    Tenant,
}

/// The scratch schema a tenant's migrations run in, inside a transaction that is rolled back.
const SCRATCH: &str = "zmg_print_schema";

/// Bookkeeping of the migration runner, not the product's data.
const SKIPPED: &[&str] = &["schema_migrations", "__diesel_schema_migrations"];

struct Column {
    name: String,
    sql_type: String,
}

struct Table {
    name: String,
    key: Vec<String>,
    columns: Vec<Column>,
}

/// The `table!` definitions of `which`, as committed under `src/schema/`. Migrates the platform
/// schema first; a tenant's tables come from a scratch schema that is rolled back.
pub async fn print(pool: &Pool, which: Which) -> anyhow::Result<String> {
    migrate::migrate_platform(pool).await?;
    let tx = Conn::begin(pool)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let schema = match which {
        Which::Platform => "platform",
        Which::Tenant => {
            tx.batch_execute(&format!(
                "CREATE SCHEMA {SCRATCH}; SET LOCAL search_path TO {SCRATCH}"
            ))
            .await?;
            migrate::run_tenant_migrations(&tx).await?;
            SCRATCH
        }
    };
    let tables = read_tables(&tx, schema).await?;
    let joins = read_joins(&tx, schema).await?;
    tx.rollback().await?;
    Ok(render(which, &tables, &joins))
}

/// One column of one table, from the catalog.
#[derive(QueryableByName)]
struct CatalogColumn {
    #[diesel(sql_type = sql::Text)]
    table_name: String,
    #[diesel(sql_type = sql::Text)]
    column_name: String,
    #[diesel(sql_type = sql::Text)]
    type_name: String,
    #[diesel(sql_type = sql::Bool)]
    not_null: bool,
    #[diesel(sql_type = sql::Bool)]
    in_key: bool,
    #[diesel(sql_type = sql::Nullable<sql::Integer>)]
    key_place: Option<i32>,
}

async fn read_tables(tx: &Conn, schema: &str) -> anyhow::Result<Vec<Table>> {
    let rows: Vec<CatalogColumn> = tx
        .load(sql_query(
            "SELECT c.relname::text AS table_name, a.attname::text AS column_name, t.typname::text AS type_name, a.attnotnull AS not_null,
                    coalesce(a.attnum = ANY (i.indkey::int2[]), false) AS in_key, array_position(i.indkey::int2[], a.attnum) AS key_place
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               JOIN pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
              WHERE n.nspname = $1 AND c.relkind = 'r'
              ORDER BY c.relname, a.attnum",
        )
        .bind::<sql::Text, _>(schema))
        .await?;
    let mut tables: Vec<Table> = Vec::new();
    let mut keys: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
    for r in rows {
        let CatalogColumn {
            table_name: table,
            column_name: column,
            type_name,
            not_null,
            in_key,
            key_place,
        } = r;
        if SKIPPED.contains(&table.as_str()) {
            continue;
        }
        if tables.last().is_none_or(|t| t.name != table) {
            tables.push(Table {
                name: table.clone(),
                key: Vec::new(),
                columns: Vec::new(),
            });
        }
        if in_key {
            keys.entry(table.clone())
                .or_default()
                .push((key_place.unwrap_or(0), column.clone()));
        }
        let sql_type = diesel_type(&type_name)
            .ok_or_else(|| anyhow::anyhow!("{table}.{column}: no diesel type for {type_name}"))?;
        let sql_type = if not_null {
            sql_type
        } else {
            format!("Nullable<{sql_type}>")
        };
        tables
            .last_mut()
            .expect("just pushed")
            .columns
            .push(Column {
                name: column,
                sql_type,
            });
    }
    for t in &mut tables {
        let mut key = keys
            .remove(&t.name)
            .ok_or_else(|| anyhow::anyhow!("table {} has no primary key", t.name))?;
        key.sort();
        t.key = key.into_iter().map(|(_, c)| c).collect();
    }
    Ok(tables)
}

/// A one-column foreign key, from the catalog.
#[derive(QueryableByName)]
struct CatalogJoin {
    #[diesel(sql_type = sql::Text)]
    child: String,
    #[diesel(sql_type = sql::Text)]
    parent: String,
    #[diesel(sql_type = sql::Text)]
    column_name: String,
}

/// Foreign keys of one column onto another table's one-column primary key, where a pair of
/// tables has exactly one (diesel joins a pair through one key).
async fn read_joins(tx: &Conn, schema: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let rows: Vec<CatalogJoin> = tx
        .load(sql_query(
            "SELECT child.relname::text AS child, parent.relname::text AS parent, a.attname::text AS column_name
               FROM pg_constraint k
               JOIN pg_class child ON child.oid = k.conrelid JOIN pg_class parent ON parent.oid = k.confrelid
               JOIN pg_namespace n ON n.oid = child.relnamespace AND n.oid = parent.relnamespace
               JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
               JOIN pg_index i ON i.indrelid = k.confrelid AND i.indisprimary AND i.indnatts = 1
              WHERE n.nspname = $1 AND k.contype = 'f' AND cardinality(k.conkey) = 1 AND child.oid <> parent.oid
              ORDER BY 1, 2, 3",
        )
        .bind::<sql::Text, _>(schema))
        .await?;
    let mut by_pair: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for r in rows {
        by_pair
            .entry((r.child, r.parent))
            .or_default()
            .push(r.column_name);
    }
    Ok(by_pair
        .into_iter()
        .filter(|(_, cols)| cols.len() == 1)
        .map(|((child, parent), mut cols)| (child, parent, cols.remove(0)))
        .collect())
}

/// The diesel SQL type of a PostgreSQL type name (arrays are `_` and the element's name).
fn diesel_type(type_name: &str) -> Option<String> {
    if let Some(element) = type_name.strip_prefix('_') {
        return diesel_type(element).map(|e| format!("Array<{e}>"));
    }
    let name = match type_name {
        "bool" => "Bool",
        "bytea" => "Bytea",
        "date" => "Date",
        "float8" => "Float8",
        "int2" => "Int2",
        "int4" => "Int4",
        "int8" => "Int8",
        "jsonb" => "Jsonb",
        "numeric" => "Numeric",
        "text" | "varchar" => "Text",
        "timestamptz" => "Timestamptz",
        "uuid" => "Uuid",
        _ => return None,
    };
    Some(name.to_string())
}

/// A column's name in Rust: keywords get a trailing `_` and keep their SQL name.
fn rust_name(column: &str) -> (Option<&str>, String) {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
        "type", "unsafe", "use", "where", "while",
    ];
    match KEYWORDS.contains(&column) {
        true => (Some(column), format!("{column}_")),
        false => (None, column.to_string()),
    }
}

fn render(which: Which, tables: &[Table], joins: &[(String, String, String)]) -> String {
    let (label, about, prefix) = match which {
        Which::Platform => ("platform", "The shared platform schema, qualified.", "platform."),
        Which::Tenant => ("tenant", "A tenant's tables, unqualified: `TenantConn` sets the search path to the tenant's schema.", ""),
    };
    let mut out = format!("// @generated by `zmg print-schema {label}` from migrations/{label}/: do not edit.\n// {about}\n");
    for t in tables {
        out.push_str(&format!(
            "\ndiesel::table! {{\n    {prefix}{} ({}) {{\n",
            t.name,
            t.key.join(", ")
        ));
        for c in &t.columns {
            let (sql_name, name) = rust_name(&c.name);
            if let Some(sql_name) = sql_name {
                out.push_str(&format!("        #[sql_name = \"{sql_name}\"]\n"));
            }
            out.push_str(&format!("        {name} -> {},\n", c.sql_type));
        }
        out.push_str("    }\n}\n");
    }
    if !joins.is_empty() {
        out.push('\n');
    }
    for (child, parent, column) in joins {
        out.push_str(&format!(
            "diesel::joinable!({child} -> {parent} ({column}));\n"
        ));
    }
    if tables.len() > 1 {
        out.push_str("\ndiesel::allow_tables_to_appear_in_same_query!(\n");
        for t in tables {
            out.push_str(&format!("    {},\n", t.name));
        }
        out.push_str(");\n");
    }
    out
}
