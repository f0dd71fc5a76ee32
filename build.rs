//! Embeds the migrations: one Rust list per set (`migrations/platform/`, `migrations/tenant/`),
//! each folder's name and its `up.sql`, in order, so `src/migrate.rs` can send a migration to
//! PostgreSQL one statement at a time (Citus refuses several DDL statements in one string).

use std::{env, fs, path::Path};

fn main() {
    let root = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut out = String::new();
    for set in ["platform", "tenant"] {
        let dir = Path::new(&root).join("migrations").join(set);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| {
                entry
                    .expect("a migration folder")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        out.push_str(&format!(
            "pub const {}: &[(&str, &str)] = &[\n",
            set.to_uppercase()
        ));
        for name in names {
            let up = dir.join(&name).join("up.sql");
            assert!(up.is_file(), "{} has no up.sql", dir.join(&name).display());
            println!("cargo:rerun-if-changed={}", up.display());
            out.push_str(&format!(
                "    ({name:?}, include_str!({:?})),\n",
                up.display().to_string()
            ));
        }
        out.push_str("];\n");
    }
    let dest = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migrations.rs");
    fs::write(dest, out).expect("write the migration list");
}
