//! The crate dependency rules of docs/architecture.md ("Dependency rules"), checked against
//! every crate's Cargo.toml: a crate that depends on one it must not fails this test, naming
//! both.

use std::{collections::BTreeMap, path::Path};

/// `crate -> forbidden dependencies`, from the lines "- `crate` must not depend on: a, b".
fn rules(architecture: &str) -> BTreeMap<String, Vec<String>> {
    architecture
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("- `")?;
            let (krate, rest) = rest.split_once('`')?;
            let list = rest.strip_prefix(" must not depend on: ")?;
            Some((
                krate.to_owned(),
                list.split(',')
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty())
                    .collect(),
            ))
        })
        .collect()
}

/// `crate name -> its [dependencies]`, for every crate under crates/.
fn dependencies(root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let parsed: toml::Table = text.parse().expect("Cargo.toml parses");
        let name = parsed["package"]["name"].as_str().expect("package name").to_owned();
        let deps = parsed
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        out.insert(name, deps);
    }
    out
}

#[test]
fn every_crate_keeps_the_dependency_rules_of_the_architecture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("docs/architecture.md")).expect("architecture");
    let rules = rules(&architecture);
    assert!(rules.len() >= 8, "the rules section is there: {rules:?}");
    let crates = dependencies(root);
    let mut broken = Vec::new();
    for (krate, forbidden) in &rules {
        let deps = crates
            .get(krate)
            .unwrap_or_else(|| panic!("docs/architecture.md names `{krate}`, which is not a crate here"));
        for dep in forbidden.iter().filter(|f| deps.contains(f)) {
            broken.push(format!("{krate} depends on {dep}"));
        }
    }
    assert!(broken.is_empty(), "dependency rules broken: {broken:?}");
}

#[test]
fn the_rule_parser_reads_the_documented_form() {
    let parsed = rules("text\n- `a` must not depend on: b, c\n- not a rule\n");
    assert_eq!(parsed.get("a"), Some(&vec!["b".to_owned(), "c".to_owned()]));
    assert_eq!(parsed.len(), 1);
}
