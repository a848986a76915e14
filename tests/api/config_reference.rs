//! docs/operations.md's configuration reference is generated from clap's
//! description of `platform::config::Config` (each setting's variable,
//! default and doc comment, [`Config::reference`]), and this test keeps the
//! two equal. `ZEKKA_WRITE_DOCS=1 cargo test --test api config_reference`
//! rewrites the page's table.

use std::path::Path;

use zekka_platform::Config;
use zekka_platform::config::Setting;

const BEGIN: &str =
    "<!-- config:begin (generated from platform/src/config by tests/api/config_reference.rs) -->";
const END: &str = "<!-- config:end -->";

fn table(settings: &[Setting]) -> String {
    let mut out = String::from("| variable | default | what it sets |\n|---|---|---|\n");
    for setting in settings {
        let default = setting
            .default
            .as_deref()
            .map_or_else(|| "unset".to_owned(), |value| format!("`{value}`"));
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            setting.variable,
            default.replace('|', "\\|"),
            setting.description.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn the_configuration_reference_is_the_one_the_code_documents() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page_path = root.join("docs/operations.md");
    let page = std::fs::read_to_string(&page_path).expect("docs/operations.md");
    let generated = format!("{BEGIN}\n{}{END}", table(&Config::reference()));
    let old_begin = page.find("<!-- config:begin");
    let (Some(start), Some(end)) = (old_begin, page.find(END)) else {
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
