//! docs/operations.md's configuration reference is generated from the doc
//! comments of `platform::config` (each setting's comment starts with its
//! variable), and this test keeps the two equal: it fails when the page and
//! the code differ, or when the code reads a variable no comment names.
//! `ZEKKA_WRITE_DOCS=1 cargo test --test api config_reference` rewrites the
//! page's table.

use std::path::Path;

const BEGIN: &str =
    "<!-- config:begin (generated from platform/src/config/mod.rs by tests/api/config_reference.rs) -->";
const END: &str = "<!-- config:end -->";

/// (variable, description) for every field whose doc comment starts with
/// `` `VARIABLE`: ``, in source order.
fn documented_settings(source: &str) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    let mut doc: Vec<&str> = Vec::new();
    for line in source.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim());
            continue;
        }
        if line.starts_with("pub ") && line.ends_with(',') && !doc.is_empty() {
            let text = doc.join(" ");
            if let Some(rest) = text.strip_prefix('`')
                && let Some((name, description)) = rest.split_once("`:")
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                settings.push((name.to_owned(), description.trim().to_owned()));
            }
        }
        doc.clear();
    }
    settings
}

/// The variables `Config::from_lookup` reads.
fn read_variables(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for reader in ["get(\"", "parse(\"", "rate(\"", "flag(\"", "list(\""] {
        for piece in source.split(reader).skip(1) {
            if let Some(name) = piece.split('"').next()
                && !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

fn table(settings: &[(String, String)]) -> String {
    let mut out = String::from("| variable | what it sets |\n|---|---|\n");
    for (name, description) in settings {
        out.push_str(&format!("| `{name}` | {} |\n", description.replace('|', "\\|")));
    }
    out
}

#[test]
fn the_configuration_reference_is_the_one_the_code_documents() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The settings and their doc comments: the configuration module and its parts.
    let source = ["mod.rs", "limits.rs"]
        .iter()
        .map(|file| {
            std::fs::read_to_string(root.join("platform/src/config").join(file)).expect("config source")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let settings = documented_settings(&source);
    let named: Vec<&str> = settings.iter().map(|(name, _)| name.as_str()).collect();
    let undocumented: Vec<String> = read_variables(&source)
        .into_iter()
        .filter(|name| !named.contains(&name.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "read by Config but named by no doc comment: {undocumented:?}"
    );

    let page_path = root.join("docs/operations.md");
    let page = std::fs::read_to_string(&page_path).expect("docs/operations.md");
    let generated = format!("{BEGIN}\n{}{END}", table(&settings));
    let (Some(start), Some(end)) = (page.find(BEGIN), page.find(END)) else {
        panic!("docs/operations.md has no {BEGIN} … {END} block");
    };
    let current = &page[start..end + END.len()];
    if current != generated && std::env::var_os("ZEKKA_WRITE_DOCS").is_some() {
        std::fs::write(&page_path, page.replacen(current, &generated, 1)).expect("rewrite the page");
        return;
    }
    assert_eq!(
        current, generated,
        "docs/operations.md's configuration table is not the code's: ZEKKA_WRITE_DOCS=1 cargo test --test api config_reference"
    );
}
