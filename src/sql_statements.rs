//! Splits a migration's SQL into its statements, so each is sent on its own: Citus refuses a
//! string of several DDL statements ("cannot insert multiple commands into a prepared
//! statement") when it forwards them to the worker holding a schema.

/// The statements of `sql`, in order, without their `;`. A `;` inside a string, a quoted
/// name, a dollar-quoted body (`$$ … $$`, `$fn$ … $fn$`) or a comment does not end one;
/// comments between statements travel with the next one, and stretches that hold only
/// comments and blanks are left out.
pub fn statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut substance) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = block_comment_end(bytes, i);
                continue;
            }
            b'\'' | b'"' => {
                substance = true;
                i = quoted_end(bytes, i, bytes[i]);
                continue;
            }
            b'$' => {
                substance = true;
                if let Some(tag) = dollar_tag(&sql[i..]) {
                    let body = i + tag.len();
                    i = sql[body..]
                        .find(tag)
                        .map_or(bytes.len(), |n| body + n + tag.len());
                    continue;
                }
            }
            b';' => {
                if substance {
                    out.push(sql[start..i].trim());
                }
                start = i + 1;
                substance = false;
            }
            b if !b.is_ascii_whitespace() => substance = true,
            _ => {}
        }
        i += 1;
    }
    if substance {
        out.push(sql[start..].trim());
    }
    out
}

/// Past the end of a `/* … */` comment starting at `i` (PostgreSQL nests them).
fn block_comment_end(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// Past the closing `quote` of a string or quoted name starting at `i` (a doubled quote is
/// part of it).
fn quoted_end(bytes: &[u8], mut i: usize, quote: u8) -> usize {
    i += 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    i
}

/// The opening tag (`$$` or `$name$`) at the start of `rest`, if it is one (`$1` is not).
fn dollar_tag(rest: &str) -> Option<&str> {
    let inner = &rest[1..];
    let end = inner.find('$')?;
    let name = &inner[..end];
    let starts_well = name
        .chars()
        .next()
        .is_none_or(|c| c.is_alphabetic() || c == '_');
    (starts_well && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then(|| &rest[..end + 2])
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "CREATE TABLE a (id int, note text DEFAULT 'x;y'); -- a; comment
            /* block; /* nested; */ still comment; */
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'no; never'; END $$;
            CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
            ALTER TABLE \"odd;name\" ADD COLUMN b int;
            SELECT $1::int;
            -- only a comment at the end;
            ";
        assert_eq!(
            statements(sql),
            vec![
                "CREATE TABLE a (id int, note text DEFAULT 'x;y')",
                "-- a; comment\n            /* block; /* nested; */ still comment; */\n            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\n            BEGIN RAISE EXCEPTION 'no; never'; END $$",
                "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$",
                "ALTER TABLE \"odd;name\" ADD COLUMN b int",
                "SELECT $1::int",
            ]
        );
    }

    #[test]
    fn a_last_statement_without_semicolon_and_doubled_quotes_are_kept() {
        assert_eq!(
            statements("INSERT INTO t VALUES ('it''s; fine');\nSELECT 1"),
            vec!["INSERT INTO t VALUES ('it''s; fine')", "SELECT 1"]
        );
        assert!(statements("  -- nothing\n ; ; ").is_empty());
    }

    #[test]
    fn every_shipped_migration_splits_into_statements_that_each_end_cleanly() {
        for set in [crate::migrate::PLATFORM_SQL, crate::migrate::TENANT_SQL] {
            for (name, sql) in set {
                let parts = statements(sql);
                assert!(!parts.is_empty(), "{name}");
                for part in parts {
                    assert!(!part.ends_with(';'), "{name}: {part}");
                    assert_eq!(
                        part.matches("$$").count() % 2,
                        0,
                        "{name}: a dollar-quoted body was cut: {part}"
                    );
                }
            }
        }
    }
}
