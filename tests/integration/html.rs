//! `--format html`: the plan, the impact of a rule change and the reconcile report as
//! self-contained pages, opened in a real headless browser (Chromium from Debian's
//! packages): each renders, loads nothing (the page's policy forbids it and Chromium
//! reports any attempt), logs no error, and shows what people look for first.

use crate::common::{copy_example_rules, example_reconcile, stroom, text, EXAMPLE};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Chromium, or `None` outside CI when it is not installed (`.ci/run` installs it).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Chromium (apt-get install chromium)"
        );
        eprintln!("skipped: Chromium is not installed (apt-get install chromium)");
    }
    found
}

/// Opens `page` headless: the DOM as Chromium built it, and what it logged from the page.
fn open(browser: &str, page: &Path, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1200,1400",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    match screenshot {
        Some(png) => c.arg(format!("--screenshot={}", png.display())),
        None => c.arg("--dump-dom"),
    };
    let out = c
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let console: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught") || l.contains("Refused"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).to_string(), console)
}

fn write(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = stroom(args);
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3 | 5)),
        "{}",
        text(&out)
    );
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // Self-contained: nothing to fetch, no script (the SVG namespace is a name, not a
    // place to load from).
    let outside = html.replace("http://www.w3.org/2000/svg", "");
    for loads in ["http://", "https://", "<script", "<link", "src="] {
        assert!(!outside.contains(loads), "{name} has {loads}");
    }
    let path = dir.join(name);
    std::fs::write(&path, html).unwrap();
    path
}

#[test]
fn html_reports_render_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();

    // The plan: summary with its chart, joiners / movers / leavers by name, per person
    // each action with its rule, file and line.
    let mut args = vec!["plan"];
    args.extend_from_slice(EXAMPLE);
    args.extend_from_slice(&["--format", "html"]);
    let plan = write(dir.path(), "plan.html", &args);
    let (dom, console) = open(browser, &plan, None);
    assert!(console.is_empty(), "{console:#?}");
    for shown in [
        "<h1>Stroom plan for 2026-12-01</h1>",
        "<svg role=\"img\" aria-label=\"actions per operation\"",
        "id=\"counts\"",
        "Joiners (",
        "Movers (",
        "Leavers (",
        "Pieter ter Graaf (#1027)",
        "create_account",
        "(10-accounts.stroom:",
    ] {
        assert!(dom.contains(shown), "plan.html lacks {shown:?}");
    }
    assert!(!dom.contains("id=\"blocked\""));

    // A blocked plan says so before anything else.
    let rules = dir.path().join("rules");
    copy_example_rules(&rules);
    std::fs::write(
        rules.join("90-limits.stroom"),
        "threshold disable_account max 2\n",
    )
    .unwrap();
    let blocked_args = [
        "plan",
        "--rules",
        rules.to_str().unwrap(),
        "--persons",
        "rules-examples/vandijk-persons.json",
        "--state",
        "rules-examples/vandijk-state.json",
        "--today",
        "2026-12-01",
        "--format",
        "html",
    ];
    let blocked = write(dir.path(), "blocked.html", &blocked_args);
    let (dom, console) = open(browser, &blocked, None);
    assert!(console.is_empty(), "{console:#?}");
    let at = |s: &str| {
        dom.find(s)
            .unwrap_or_else(|| panic!("blocked.html lacks {s:?}"))
    };
    assert!(at("id=\"blocked\"") < at("<h2>Summary</h2>"));
    assert!(dom.contains("disable_account"));

    // The impact of a rule change: the old rules without the limit, the new with a
    // department taken out of CRM.
    let groups = rules.join("20-groups.stroom");
    let before = std::fs::read_to_string(&groups).unwrap();
    let old = dir.path().join("old");
    copy_example_rules(&old);
    std::fs::remove_file(rules.join("90-limits.stroom")).unwrap();
    std::fs::write(
        &groups,
        before.replace(
            r#"department in ["Sales", "Inside Sales", "Klantenservice"]"#,
            r#"department in ["Sales", "Inside Sales"]"#,
        ),
    )
    .unwrap();
    let mut impact_args: Vec<&str> = blocked_args.to_vec();
    let old_text = old.to_str().unwrap().to_string();
    impact_args.extend_from_slice(&["--compare-rules", &old_text]);
    let impact = write(dir.path(), "impact.html", &impact_args);
    let (dom, console) = open(browser, &impact, None);
    assert!(console.is_empty(), "{console:#?}");
    for shown in [
        "<h1>Impact of the rule change</h1>",
        "added: revoke group \"CRM-Users\"",
        "no longer grants it",
        "<svg role=\"img\"",
    ] {
        assert!(dom.contains(shown), "impact.html lacks {shown:?}");
    }

    // The reconcile report of the shipped inventory.
    let reconcile = write(
        dir.path(),
        "reconcile.html",
        &example_reconcile(&["--format", "html"]),
    );
    let (dom, console) = open(browser, &reconcile, None);
    assert!(console.is_empty(), "{console:#?}");
    for shown in [
        "<h1>Stroom reconcile on 2026-12-01</h1>",
        "findings",
        "unmanaged (",
    ] {
        assert!(dom.contains(shown), "reconcile.html lacks {shown:?}");
    }

    // And a picture of the plan, as the book shows it.
    let png = dir.path().join("plan.png");
    let (_, console) = open(browser, &plan, Some(&png));
    assert!(console.is_empty(), "{console:#?}");
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
}
