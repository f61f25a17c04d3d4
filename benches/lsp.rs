//! `stroom lsp`: from an edit to its diagnostics, through the protocol (an in-memory
//! connection to `stroom::lsp::serve`, messages serialized as on stdio), in a rule set
//! of 10,000 lines. Two shapes: one file of 10,000 lines, and ten files of 1,000 lines
//! (the edit in one of them; all ten are checked). Beside them, in the same run, the
//! plain reference: `stroom check`'s own load and check of the same files from disk,
//! which is the least any editor integration must do per edit.
//!
//! `cargo bench --bench lsp`; the figures are in book/src/performance.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lsp_server::{Connection, Message, Notification};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::*;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

const LINES: usize = 10_000;

/// A generated matrix of about `lines` lines, cut at a statement boundary.
fn rules(lines: usize, seed: u64) -> String {
    let text = stroom::generate::rules(lines / 2, seed);
    let mut out = String::new();
    let mut count = 0;
    for chunk in text
        .split_inclusive("\n\n")
        .flat_map(|c| c.split_inclusive('\n'))
    {
        out.push_str(chunk);
        count += 1;
        if count >= lines && !chunk.starts_with(' ') {
            break;
        }
    }
    out
}

fn uri(p: &Path) -> Uri {
    let url = url::Url::from_file_path(p).unwrap_or_else(|_| panic!("{}", p.display()));
    Uri::from_str(url.as_str()).unwrap_or_else(|e| panic!("{e}"))
}

struct Session {
    client: Connection,
    doc: Uri,
    text: String,
    version: i32,
    _dir: tempfile::TempDir,
    paths: Vec<PathBuf>,
}

impl Session {
    /// A rule set in `files` files of `LINES / files` lines, the first one open.
    fn start(files: usize) -> Session {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut paths = Vec::new();
        for i in 0..files {
            let mut text = rules(LINES / files, 7 + i as u64);
            if i > 0 {
                // One `default target` and one `scope` per rule set.
                text = text.lines().skip(2).collect::<Vec<_>>().join("\n") + "\n";
                // Distinct group names per file (no duplicate-rule noise).
                text = text.replace("group \"", &format!("group \"f{i}-"));
                text = text.replace("rule \"r", &format!("rule \"f{i}-r"));
            }
            let p = dir.path().join(format!("{i:02}-matrix.stroom"));
            std::fs::write(&p, &text).unwrap_or_else(|e| panic!("{e}"));
            paths.push(p);
        }
        let (server, client) = Connection::memory();
        std::thread::spawn(move || {
            let _ = stroom::lsp::serve(&server);
        });
        let init =
            lsp_server::Request::new(1.into(), "initialize".into(), InitializeParams::default());
        send(&client, init.into());
        loop {
            if let Ok(Message::Response(_)) = client.receiver.recv() {
                break;
            }
        }
        send(
            &client,
            Notification::new("initialized".into(), InitializedParams {}).into(),
        );
        let text = std::fs::read_to_string(&paths[0]).unwrap_or_else(|e| panic!("{e}"));
        let doc = uri(&paths[0]);
        send(
            &client,
            Notification::new(
                note::DidOpenTextDocument::METHOD.into(),
                DidOpenTextDocumentParams {
                    text_document: TextDocumentItem::new(
                        doc.clone(),
                        "stroom".into(),
                        1,
                        text.clone(),
                    ),
                },
            )
            .into(),
        );
        let mut s = Session {
            client,
            doc,
            text,
            version: 1,
            _dir: dir,
            paths,
        };
        s.wait_diagnostics();
        s
    }

    /// Edits the middle of the file (a comment line typed in, or taken out again, so
    /// the file stays valid and the same size) and waits for the document's diagnostics;
    /// returns how many there were.
    fn edit(&mut self) -> usize {
        self.version += 1;
        let line = (self.text.matches('\n').count() / 2) as u32;
        let at = Position::new(line, 0);
        let change = if self.version % 2 == 0 {
            TextDocumentContentChangeEvent {
                range: Some(Range::new(at, at)),
                range_length: None,
                text: "# typed\n".into(),
            }
        } else {
            TextDocumentContentChangeEvent {
                range: Some(Range::new(at, Position::new(line + 1, 0))),
                range_length: None,
                text: String::new(),
            }
        };
        send(
            &self.client,
            Notification::new(
                note::DidChangeTextDocument::METHOD.into(),
                DidChangeTextDocumentParams {
                    text_document: VersionedTextDocumentIdentifier::new(
                        self.doc.clone(),
                        self.version,
                    ),
                    content_changes: vec![change],
                },
            )
            .into(),
        );
        self.wait_diagnostics()
    }

    fn wait_diagnostics(&mut self) -> usize {
        loop {
            match self.client.receiver.recv_timeout(Duration::from_secs(60)) {
                Ok(Message::Notification(n)) if n.method == note::PublishDiagnostics::METHOD => {
                    let p: PublishDiagnosticsParams =
                        serde_json::from_value(n.params).unwrap_or_else(|e| panic!("{e}"));
                    if p.uri == self.doc {
                        return p.diagnostics.len();
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("no diagnostics: {e}"),
            }
        }
    }
}

/// Serialized and parsed again, as the stdio transport would.
fn send(c: &Connection, m: Message) {
    let mut buf = Vec::new();
    m.write(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    let again = Message::read(&mut std::io::BufReader::new(&buf[..]))
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("a message"));
    c.sender.send(again).unwrap_or_else(|e| panic!("{e}"));
}

fn lsp(c: &mut Criterion) {
    let mut g = c.benchmark_group("lsp_edit_to_diagnostics");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    for files in [1, 10] {
        let mut s = Session::start(files);
        let lines: usize = s
            .paths
            .iter()
            .map(|p| std::fs::read_to_string(p).map_or(0, |t| t.lines().count()))
            .sum();
        let shape = format!("{lines} lines in {files} file(s)");
        eprintln!("{shape}: {} diagnostics after an edit", s.edit());
        g.bench_with_input(BenchmarkId::new("stroom lsp", &shape), &(), |b, _| {
            b.iter(|| s.edit())
        });
        // An even number of edits leaves the text as it was on disk.
        if s.version % 2 == 0 {
            s.edit();
        }
        let paths = s.paths.clone();
        g.bench_with_input(
            BenchmarkId::new("reference: load + check", &shape),
            &(),
            |b, _| {
                b.iter(|| {
                    let parsed =
                        stroom::rules::load::load_paths(&paths).unwrap_or_else(|e| panic!("{e}"));
                    stroom::rules::check::check(parsed).diagnostics.len()
                })
            },
        );
    }
    g.finish();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(peak) = status.lines().find(|l| l.starts_with("VmHWM")) {
            eprintln!("peak memory of the benchmark process (server included): {peak}");
        }
    }
}

criterion_group!(benches, lsp);
criterion_main!(benches);
