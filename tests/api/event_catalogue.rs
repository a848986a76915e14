//! docs/events.md is the event catalogue: every event type the domain can
//! emit has its row there, and every row names an event type that exists.

use std::collections::BTreeSet;
use std::path::Path;

/// The event types named in the `event_type` methods under `dir`: each
/// arm reads `XEvent::Name { .. } => "Name"`.
fn emitted(dir: &Path, names: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read the domain sources").flatten() {
        let path = entry.path();
        if path.is_dir() {
            emitted(&path, names);
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("read a source file");
        // A file may hold more than one event type (an aggregate and its part).
        for method in source.split("fn event_type(&self) -> String {").skip(1) {
            let body = &method[..method.find(".to_owned()").unwrap_or(method.len())];
            for arm in body.split("=> \"").skip(1) {
                if let Some(name) = arm.split('"').next() {
                    names.insert(name.to_owned());
                }
            }
        }
    }
}

/// The event types with a row in the catalogue: `| \`Name\`` with a capital.
fn documented(catalogue: &str) -> BTreeSet<String> {
    catalogue
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| name.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_event_type_is_in_the_catalogue_and_nothing_else_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = BTreeSet::new();
    emitted(&root.join("domain/src"), &mut names);
    assert!(names.len() > 30, "the event types were not found: {names:?}");
    let catalogue = std::fs::read_to_string(root.join("docs/events.md")).expect("docs/events.md");
    let rows = documented(&catalogue);
    let missing: Vec<_> = names.difference(&rows).collect();
    let unknown: Vec<_> = rows.difference(&names).collect();
    assert!(
        missing.is_empty(),
        "event types without a row in docs/events.md: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows in docs/events.md for no event type: {unknown:?}"
    );
}
