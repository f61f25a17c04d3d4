//! The language server in a real editor: Debian's Neovim, headless, configured with the
//! book's set-up block (book/src/editors.md) and scripted by tests/neovim/session.lua,
//! starts the real `stroom lsp` and works on a rule file as a user would.

use std::path::Path;

const SETTINGS: &str =
    "default target ad\n\nlet staff = person.employee_type in [\"payroll\", \"newHire\"]\n";

const GROUPS: &str = "# Sales and developers.\nwhen staff and departmnt == \"Sales\"\n  grant group \"GG-Sales\"\n\nwhen staff and lower(function) == \"developer\"\n  grant group \"GG-Dev\" in portal\n";

const CONFIG: &str = "[sync]\nrules = [\"rules\"]\n\n[targets.portal]\nkind = \"scim\"\nbase_url = \"https://portal.example.nl/scim/v2\"\n";

/// The `lua,neovim` block of the book's editors chapter.
fn book_setup() -> String {
    let chapter =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/editors.md"))
            .expect("book/src/editors.md");
    let start = chapter
        .find("```lua,neovim\n")
        .expect("the chapter has a ```lua,neovim block")
        + "```lua,neovim\n".len();
    let len = chapter[start..].find("```").expect("the block ends");
    chapter[start..start + len].to_string()
}

#[test]
fn neovim_gets_diagnostics_hover_completion_fixes_and_formatting() {
    let Ok(nvim) = which("nvim") else {
        panic!("Neovim is needed for this test: apt-get install neovim (.ci/run does)");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    std::fs::write(dir.path().join("stroom.toml"), CONFIG).expect("write");
    std::fs::write(rules.join("00-settings.stroom"), SETTINGS).expect("write");
    let file = rules.join("20-groups.stroom");
    std::fs::write(&file, GROUPS).expect("write");
    let init = dir.path().join("init.lua");
    std::fs::write(&init, book_setup()).expect("write");
    let out = dir.path().join("session.json");
    let stroom = Path::new(env!("CARGO_BIN_EXE_stroom"));
    let path = format!(
        "{}:{}",
        stroom.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let session = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/neovim/session.lua");
    let status = std::process::Command::new(nvim)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("STROOM_TEST_FILE", &file)
        .env("STROOM_TEST_OUT", &out)
        .args(["--headless", "-n", "-i", "NONE", "-u"])
        .arg(&init)
        .arg("-c")
        .arg(format!("luafile {}", session.display()))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("nvim runs");
    let seen: serde_json::Value = match std::fs::read_to_string(&out) {
        Ok(text) => serde_json::from_str(&text).expect("the session's JSON"),
        Err(e) => panic!(
            "Neovim wrote no report ({e}); status {}, stderr {}",
            status.status,
            String::from_utf8_lossy(&status.stderr)
        ),
    };
    assert_eq!(seen["error"], serde_json::Value::Null, "{seen:#}");
    assert_eq!(seen["filetype"], "stroom");

    // The misspelt field, where it stands, with its code and help.
    let d = seen["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(d.len(), 1, "{seen:#}");
    assert_eq!(d[0]["code"], "stroom::unknown_field");
    assert_eq!(
        (d[0]["lnum"].as_u64(), d[0]["col"].as_u64()),
        (Some(1), Some(15))
    );
    let message = d[0]["message"].as_str().unwrap_or("");
    assert!(message.contains("did you mean `department`?"), "{message}");

    let field = seen["hover_field"].as_str().unwrap_or("");
    assert!(
        field.contains("function: string") && field.contains("functions[].description"),
        "{field}"
    );
    let staff = seen["hover_let"].as_str().unwrap_or("");
    assert!(
        staff.contains("let staff: condition = person.employee_type in"),
        "{staff}"
    );

    // The `let` is in the other file.
    let def = &seen["definition"];
    assert!(
        def["uri"]
            .as_str()
            .unwrap_or("")
            .ends_with("/rules/00-settings.stroom"),
        "{def}"
    );
    assert_eq!(def["range"]["start"]["line"], 2);

    assert_eq!(
        seen["actions"],
        serde_json::json!(["Replace with `department`"])
    );
    assert_eq!(
        seen["after_fix"][1],
        "when staff and department == \"Sales\""
    );

    let completion: Vec<&str> = seen["completion"]
        .as_array()
        .expect("completion")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        completion.contains(&"first_name") && completion.contains(&"business_email"),
        "{completion:?}"
    );
    assert_eq!(seen["half_line"][0]["code"], "stroom::syntax", "{seen:#}");

    let formatted: Vec<&str> = seen["formatted"]
        .as_array()
        .expect("formatted")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let expected = stroom::rules::fmt::format_source(&format!(
        "when   department==\"HR\"   grant group \"GG-HR\"\n{}",
        GROUPS.replace("departmnt", "department")
    ))
    .expect("formats");
    assert_eq!(formatted.join("\n") + "\n", expected);
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}
