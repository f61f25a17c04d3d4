//! The language server at the protocol level: a client made with `lsp-server` and
//! `lsp-types` (the crates rust-analyzer speaks with) talks to `stroom::lsp::serve` over
//! an in-memory connection. The Neovim test in `neovim.rs` drives the real binary from a
//! real editor.

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::*;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A client on an in-memory connection to a server thread.
pub struct Client {
    conn: Connection,
    server: Option<std::thread::JoinHandle<()>>,
    next: i32,
    /// Notifications received while waiting for something else.
    pending: Vec<Notification>,
}

impl Client {
    pub fn start() -> Client {
        let (server_side, client_side) = Connection::memory();
        let server = std::thread::spawn(move || {
            if let Err(e) = stroom::lsp::serve(&server_side) {
                panic!("the server stopped: {e}");
            }
        });
        let mut client = Client {
            conn: client_side,
            server: Some(server),
            next: 0,
            pending: Vec::new(),
        };
        let init: InitializeResult = client.call::<req::Initialize>(InitializeParams::default());
        assert!(init.capabilities.hover_provider.is_some());
        client.notify::<note::Initialized>(InitializedParams {});
        client
    }

    pub fn notify<N: note::Notification>(&self, params: N::Params) {
        let n = Notification::new(N::METHOD.to_string(), params);
        self.conn.sender.send(n.into()).expect("the server is gone");
    }

    /// Sends a request and waits for its answer.
    pub fn send_raw(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, lsp_server::ResponseError> {
        self.next += 1;
        let id = RequestId::from(self.next);
        let r = Request::new(id.clone(), method.to_string(), params);
        self.conn.sender.send(r.into()).expect("the server is gone");
        loop {
            match self.recv(Duration::from_secs(30)) {
                Message::Response(resp) if resp.id == id => return resp.response_result,
                Message::Notification(n) => self.pending.push(n),
                _ => {}
            }
        }
    }

    pub fn call<R: req::Request>(&mut self, params: R::Params) -> R::Result {
        let resp = self.send_raw(R::METHOD, serde_json::to_value(params).expect("params"));
        let result = resp.unwrap_or_else(|e| panic!("{} failed: {e:?}", R::METHOD));
        serde_json::from_value(result).expect("a well-formed answer")
    }

    fn recv(&self, timeout: Duration) -> Message {
        self.conn
            .receiver
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("no message from the server in {timeout:?}: {e}"))
    }

    /// The next diagnostics published for `uri` (earlier ones waiting are skipped to
    /// the latest).
    pub fn diagnostics(&mut self, uri: &Uri) -> Vec<Diagnostic> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut found = None;
            for n in std::mem::take(&mut self.pending) {
                match published(&n) {
                    Some(p) if p.uri == *uri => found = Some(p.diagnostics),
                    _ => self.pending.push(n),
                }
            }
            if let Some(d) = found {
                return d;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no diagnostics for {}", uri.as_str());
            if let Message::Notification(n) = self.recv(left) {
                self.pending.push(n);
            }
        }
    }

    /// The first diagnostics published for `uri` that satisfy `want`, skipping earlier
    /// ones (a check started before the last edit may still be on its way).
    pub fn diagnostics_until(
        &mut self,
        uri: &Uri,
        want: impl Fn(&[Diagnostic]) -> bool,
    ) -> Vec<Diagnostic> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            last = self.diagnostics(uri);
            if want(&last) {
                return last;
            }
        }
        panic!(
            "never the diagnostics wanted for {}; last {last:#?}",
            uri.as_str()
        );
    }

    pub fn open(&self, uri: &Uri, text: &str) {
        self.notify::<note::DidOpenTextDocument>(DidOpenTextDocumentParams {
            text_document: TextDocumentItem::new(uri.clone(), "stroom".into(), 1, text.into()),
        });
    }

    /// Replaces `range` of the document by `text` (an incremental change).
    pub fn edit(&self, uri: &Uri, version: i32, range: Range, text: &str) {
        self.notify::<note::DidChangeTextDocument>(DidChangeTextDocumentParams {
            text_document: VersionedTextDocumentIdentifier::new(uri.clone(), version),
            content_changes: vec![TextDocumentContentChangeEvent {
                range: Some(range),
                range_length: None,
                text: text.into(),
            }],
        });
    }

    pub fn stop(mut self) {
        let _: () = self.call::<req::Shutdown>(());
        self.notify::<note::Exit>(());
        if let Some(server) = self.server.take() {
            server.join().expect("the server thread panicked");
        }
    }
}

fn published(n: &Notification) -> Option<PublishDiagnosticsParams> {
    (n.method == note::PublishDiagnostics::METHOD)
        .then(|| serde_json::from_value(n.params.clone()).ok())
        .flatten()
}

pub fn uri_of(path: &Path) -> Uri {
    let url = url::Url::from_file_path(path).expect("an absolute path");
    Uri::from_str(url.as_str()).expect("a URI")
}

/// The position of the `nth` (0-based) occurrence of `needle` in `text`, plus `shift`
/// characters (ASCII text).
pub fn pos(text: &str, needle: &str, nth: usize, shift: u32) -> Position {
    let at = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} not in the text"))
        .0;
    let line = text[..at].matches('\n').count() as u32;
    let col = (at - text[..at].rfind('\n').map_or(0, |i| i + 1)) as u32;
    Position::new(line, col + shift)
}

fn at(uri: &Uri, p: Position) -> TextDocumentPositionParams {
    TextDocumentPositionParams::new(TextDocumentIdentifier::new(uri.clone()), p)
}

const SETTINGS: &str = "default target ad\n\nlet domain = \"example.nl\"\nlet staff = person.employee_type in [\"payroll\", \"newHire\"]\n";

const GROUPS: &str = "rule \"sales\" {\n  when staff and departmnt == \"Sales\"\n    grant group \"GG-Sales\"\n}\n\nwhen staff and lower(function) == \"developer\"\n  grant group \"GG-Sales\"\n  grant group \"GG-Dev\" in portal\n";

const CONFIG: &str = "[sync]\nrules = [\"rules\"]\n\n[targets.portal]\nkind = \"scim\"\nbase_url = \"https://portal.example.nl/scim/v2\"\n";

/// A project as users have one: stroom.toml naming a SCIM target, and a rule folder of
/// two files that share `let`s.
fn project() -> (tempfile::TempDir, Uri, Uri) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("stroom.toml"), CONFIG).expect("write");
    let settings = dir.path().join("rules/00-settings.stroom");
    let groups = dir.path().join("rules/20-groups.stroom");
    std::fs::write(&settings, SETTINGS).expect("write");
    std::fs::write(&groups, GROUPS).expect("write");
    (dir, uri_of(&settings), uri_of(&groups))
}

#[test]
fn diagnostics_follow_the_rule_set_across_files_and_unsaved_edits() {
    let (_dir, settings, groups) = project();
    let mut c = Client::start();
    c.open(&groups, GROUPS);
    // `staff` comes from the other file, `portal` from stroom.toml: only the typo is wrong.
    let d = c.diagnostics(&groups);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(
        d[0].code,
        Some(NumberOrString::String("stroom::unknown_field".into()))
    );
    assert_eq!(d[0].severity, Some(DiagnosticSeverity::ERROR));
    assert_eq!(d[0].range.start, pos(GROUPS, "departmnt", 0, 0));
    assert_eq!(d[0].range.end, pos(GROUPS, "departmnt", 0, 9));
    assert!(
        d[0].message.contains("did you mean `department`?"),
        "{}",
        d[0].message
    );

    // Fixed in the editor, not saved: the diagnostic goes.
    let typo = Range::new(
        pos(GROUPS, "departmnt", 0, 0),
        pos(GROUPS, "departmnt", 0, 9),
    );
    c.edit(&groups, 2, typo, "department");
    assert_eq!(c.diagnostics(&groups), vec![]);

    // An unsaved edit in the other file reaches this one: `staff` is gone.
    c.open(&settings, SETTINGS);
    let own = c.diagnostics(&settings);
    assert_eq!(own.len(), 1, "{own:#?}");
    assert_eq!(
        own[0].code,
        Some(NumberOrString::String("stroom::unused_let".into()))
    );
    assert_eq!(own[0].severity, Some(DiagnosticSeverity::WARNING));
    let line = pos(SETTINGS, "let staff", 0, 0);
    c.edit(
        &settings,
        2,
        Range::new(line, Position::new(line.line + 1, 0)),
        "",
    );
    let d = c.diagnostics_until(&groups, |d| !d.is_empty());
    assert_eq!(d.len(), 2, "{d:#?}");
    assert!(
        d.iter()
            .all(|d| d.message.starts_with("unknown field `staff`")),
        "{d:#?}"
    );
    // Its own file still has the one warning: `domain` is used nowhere.
    assert_eq!(c.diagnostics(&settings).len(), 1);
    c.stop();
}

#[test]
fn hover_tells_types_origins_signatures_and_let_values() {
    let (_dir, _settings, groups) = project();
    let text = GROUPS.replace("departmnt", "department");
    std::fs::write(groups_path(&groups), &text).expect("write");
    let mut c = Client::start();
    c.open(&groups, &text);
    assert_eq!(c.diagnostics(&groups), vec![]);
    let hover = |c: &mut Client, p: Position| -> String {
        let h: Option<Hover> = c.call::<req::HoverRequest>(HoverParams {
            text_document_position_params: at(&groups, p),
            work_done_progress_params: Default::default(),
        });
        match h.map(|h| h.contents) {
            Some(HoverContents::Markup(m)) => m.value,
            other => panic!("no markdown hover: {other:?}"),
        }
    };
    let field = hover(&mut c, pos(&text, "department", 0, 3));
    assert!(field.contains("department: string"), "{field}");
    assert!(field.contains("departments[].description"), "{field}");
    let staff = hover(&mut c, pos(&text, "staff", 0, 2));
    assert!(
        staff.contains("let staff: condition = person.employee_type in [\"payroll\", \"newHire\"]"),
        "{staff}"
    );
    assert!(staff.contains("00-settings.stroom:4"), "{staff}");
    let lower = hover(&mut c, pos(&text, "lower", 0, 1));
    assert!(lower.contains("lower(text)"), "{lower}");
    let portal = hover(&mut c, pos(&text, "portal", 0, 1));
    assert!(
        portal.contains("a SCIM 2.0 application") && portal.contains("[targets.portal]"),
        "{portal}"
    );
    let group = hover(&mut c, pos(&text, "GG-Sales", 0, 1));
    assert!(group.contains("named 2 time(s)"), "{group}");
    // Nothing to say about a blank: null, not an error.
    let h: Option<Hover> = c.call::<req::HoverRequest>(HoverParams {
        text_document_position_params: at(&groups, Position::new(4, 0)),
        work_done_progress_params: Default::default(),
    });
    assert!(h.is_none());
    c.stop();
}

fn groups_path(uri: &Uri) -> std::path::PathBuf {
    url::Url::parse(uri.as_str())
        .expect("url")
        .to_file_path()
        .expect("a file")
}

fn labels(c: &mut Client, uri: &Uri, p: Position) -> Vec<String> {
    let r: Option<CompletionResponse> = c.call::<req::Completion>(CompletionParams {
        text_document_position: at(uri, p),
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
        context: None,
    });
    match r {
        Some(CompletionResponse::Array(items)) => items.into_iter().map(|i| i.label).collect(),
        other => panic!("no completions: {other:?}"),
    }
}

#[test]
fn completion_knows_what_fits_where_the_cursor_is() {
    let (_dir, _settings, groups) = project();
    let mut c = Client::start();
    c.open(&groups, GROUPS);
    c.diagnostics(&groups);
    // Typing a new line at the end, one step at a time, as a user does.
    let end = Position::new(GROUPS.lines().count() as u32, 0);
    let mut text = GROUPS.to_string();
    let mut version = 1;
    let mut type_in = |c: &mut Client, s: &str| -> Position {
        version += 1;
        let start = stroom_end(&text);
        c.edit(&groups, version, Range::new(start, start), s);
        text.push_str(s);
        stroom_end(&text)
    };
    assert_eq!(stroom_end(GROUPS), end);
    let p = type_in(&mut c, "when person.");
    let l = labels(&mut c, &groups, p);
    assert!(
        l.contains(&"first_name".to_string()) && l.contains(&"employee_type".to_string()),
        "{l:?}"
    );
    assert!(!l.contains(&"hours_per_week".to_string()), "{l:?}");
    let p = type_in(&mut c, "first_name == \"A\" and st");
    let l = labels(&mut c, &groups, p);
    assert!(
        l.contains(&"staff".to_string()) && l.contains(&"starts_with".to_string()),
        "{l:?}"
    );
    let p = type_in(&mut c, "aff\n  grant ");
    let l = labels(&mut c, &groups, p);
    assert_eq!(l, ["group", "license", "mailbox", "permission"]);
    let p = type_in(&mut c, "group \"");
    let l = labels(&mut c, &groups, p);
    assert_eq!(l, ["GG-Dev", "GG-Sales"]);
    let p = type_in(&mut c, "GG-New\" in ");
    let l = labels(&mut c, &groups, p);
    for t in ["ad", "entra", "exchange", "portal"] {
        assert!(l.contains(&t.to_string()), "{t} missing: {l:?}");
    }
    c.stop();
}

/// The position just past the end of `text`.
fn stroom_end(text: &str) -> Position {
    let line = text.matches('\n').count() as u32;
    let col = text.len() - text.rfind('\n').map_or(0, |i| i + 1);
    Position::new(line, col as u32)
}

#[test]
fn definitions_references_and_outline_span_the_rule_set() {
    let (dir, settings, groups) = project();
    let mut c = Client::start();
    c.open(&groups, GROUPS);
    c.diagnostics(&groups);
    let def: Option<GotoDefinitionResponse> = c.call::<req::GotoDefinition>(GotoDefinitionParams {
        text_document_position_params: at(&groups, pos(GROUPS, "staff", 1, 1)),
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    });
    let Some(GotoDefinitionResponse::Array(locs)) = def else {
        panic!("{def:?}")
    };
    assert_eq!(
        locs,
        vec![Location::new(
            settings.clone(),
            Range::new(pos(SETTINGS, "staff", 0, 0), pos(SETTINGS, "staff", 0, 5))
        )]
    );

    // A target configured in stroom.toml: its section.
    let def: Option<GotoDefinitionResponse> = c.call::<req::GotoDefinition>(GotoDefinitionParams {
        text_document_position_params: at(&groups, pos(GROUPS, "portal", 0, 2)),
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    });
    let Some(GotoDefinitionResponse::Array(locs)) = def else {
        panic!("{def:?}")
    };
    let toml = uri_of(&dir.path().canonicalize().expect("dir").join("stroom.toml"));
    assert_eq!(
        locs,
        vec![Location::new(
            toml,
            Range::new(Position::new(3, 0), Position::new(3, 0))
        )]
    );

    let refs = |c: &mut Client, p: Position, decl: bool| -> Vec<Location> {
        c.call::<req::References>(ReferenceParams {
            text_document_position: at(&groups, p),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
            context: ReferenceContext {
                include_declaration: decl,
            },
        })
        .unwrap_or_default()
    };
    let staff = refs(&mut c, pos(GROUPS, "staff", 0, 0), true);
    assert_eq!(staff.len(), 3, "{staff:#?}");
    assert_eq!(staff[0].uri, settings);
    assert!(staff[1..].iter().all(|l| l.uri == groups));
    assert_eq!(refs(&mut c, pos(GROUPS, "staff", 0, 0), false).len(), 2);
    // The same group granted twice (both in ad, the default target); GG-Dev is elsewhere.
    let sales = refs(&mut c, pos(GROUPS, "GG-Sales", 1, 0), true);
    assert_eq!(
        sales.iter().map(|l| l.range.start).collect::<Vec<_>>(),
        vec![
            pos(GROUPS, "\"GG-Sales", 0, 0),
            pos(GROUPS, "\"GG-Sales", 1, 0)
        ]
    );

    let symbols: Option<DocumentSymbolResponse> =
        c.call::<req::DocumentSymbolRequest>(DocumentSymbolParams {
            text_document: TextDocumentIdentifier::new(groups.clone()),
            work_done_progress_params: Default::default(),
            partial_result_params: Default::default(),
        });
    let Some(DocumentSymbolResponse::Nested(symbols)) = symbols else {
        panic!("{symbols:?}")
    };
    assert_eq!(symbols.len(), 1);
    assert_eq!(symbols[0].name, "rule \"sales\"");
    assert_eq!(symbols[0].kind, SymbolKind::NAMESPACE);
    let children: Vec<&str> = symbols[0]
        .children
        .iter()
        .flatten()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(children, ["when staff and departmnt == \"Sales\""]);
    c.stop();
}

#[test]
fn quick_fixes_and_formatting_edit_like_stroom_fmt() {
    let (_dir, _settings, groups) = project();
    let mut c = Client::start();
    c.open(&groups, GROUPS);
    let d = c.diagnostics(&groups);
    let actions: Option<CodeActionResponse> = c.call::<req::CodeActionRequest>(CodeActionParams {
        text_document: TextDocumentIdentifier::new(groups.clone()),
        range: d[0].range,
        context: CodeActionContext {
            diagnostics: d.clone(),
            ..Default::default()
        },
        work_done_progress_params: Default::default(),
        partial_result_params: Default::default(),
    });
    let actions = actions.unwrap_or_default();
    assert_eq!(actions.len(), 1, "{actions:#?}");
    let CodeActionOrCommand::CodeAction(fix) = &actions[0] else {
        panic!("{actions:?}")
    };
    assert_eq!(fix.title, "Replace with `department`");
    let edits = &fix
        .edit
        .as_ref()
        .and_then(|e| e.changes.as_ref())
        .expect("changes")[&groups];
    assert_eq!(edits, &vec![TextEdit::new(d[0].range, "department".into())]);
    // Applied, the rule set is clean.
    c.edit(&groups, 2, edits[0].range, &edits[0].new_text);
    assert_eq!(c.diagnostics(&groups), vec![]);

    // Formatting: what `stroom fmt` writes, as one edit.
    let messy = "when   department==\"Sales\" grant group \"X\"\n";
    let doc = uri_of(&_dir.path().join("rules/30-messy.stroom"));
    c.open(&doc, messy);
    c.diagnostics(&doc);
    let fmt = |c: &mut Client| {
        c.send_raw(
            req::Formatting::METHOD,
            serde_json::to_value(DocumentFormattingParams {
                text_document: TextDocumentIdentifier::new(doc.clone()),
                options: FormattingOptions::default(),
                work_done_progress_params: Default::default(),
            })
            .expect("params"),
        )
    };
    let edits: Vec<TextEdit> =
        serde_json::from_value(fmt(&mut c).expect("a result")).expect("edits");
    let expected = stroom::rules::fmt::format_source(messy).expect("formats");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].new_text, expected);
    assert_eq!(
        edits[0].range,
        Range::new(Position::new(0, 0), Position::new(1, 0))
    );
    // A file that does not parse is not touched: an error that says why.
    c.edit(
        &doc,
        2,
        Range::new(Position::new(1, 0), Position::new(1, 0)),
        "when (\n",
    );
    let d = c.diagnostics(&doc);
    assert_eq!(
        d[0].code,
        Some(NumberOrString::String("stroom::syntax".into()))
    );
    let resp = fmt(&mut c);
    let err = resp.expect_err("an error");
    assert!(err.message.contains("syntax error"), "{}", err.message);
    c.stop();
}

#[test]
fn bad_requests_get_errors_and_the_server_carries_on() {
    let (_dir, _settings, groups) = project();
    let mut c = Client::start();
    c.open(&groups, GROUPS);
    c.diagnostics(&groups);
    // Parameters of the wrong shape, a method nobody knows, a document never opened,
    // a position far past the end of the file.
    let r = c.send_raw(
        req::HoverRequest::METHOD,
        serde_json::json!({"textDocument": 7}),
    );
    assert_eq!(
        r.err().map(|e| e.code),
        Some(lsp_server::ErrorCode::InvalidParams as i32)
    );
    let r = c.send_raw("stroom/unknown", serde_json::json!({}));
    assert_eq!(
        r.err().map(|e| e.code),
        Some(lsp_server::ErrorCode::MethodNotFound as i32)
    );
    let other = uri_of(Path::new("/nonexistent/never-opened.stroom"));
    let h: Option<Hover> = c.call::<req::HoverRequest>(HoverParams {
        text_document_position_params: at(&other, Position::new(0, 0)),
        work_done_progress_params: Default::default(),
    });
    assert!(h.is_none());
    let h: Option<Hover> = c.call::<req::HoverRequest>(HoverParams {
        text_document_position_params: at(&groups, Position::new(9999, 9999)),
        work_done_progress_params: Default::default(),
    });
    assert!(h.is_none());
    // A change whose range lies past the end and inside a multi-byte character: clamped,
    // no panic, and the server still answers.
    c.edit(
        &groups,
        2,
        Range::new(Position::new(500, 3), Position::new(2, 1)),
        "ë",
    );
    let d = c.diagnostics(&groups);
    assert!(!d.is_empty());
    let l = labels(&mut c, &groups, Position::new(0, 0));
    assert!(l.contains(&"when".to_string()));
    c.stop();
}

#[test]
fn a_broken_stroom_toml_is_said_once_without_its_secrets() {
    let (dir, _settings, groups) = project();
    std::fs::write(
        dir.path().join("stroom.toml"),
        "[targets.portal]\nkind = \"scim\"\ntoken = \"s3cr3t-value\"\n",
    )
    .expect("write");
    let mut c = Client::start();
    c.open(&groups, GROUPS);
    let d = c.diagnostics(&groups);
    // Checked against the built-in targets: `portal` is unknown now.
    assert!(
        d.iter()
            .any(|d| d.message.starts_with("unknown target `portal`")),
        "{d:#?}"
    );
    let shown: Vec<ShowMessageParams> = c
        .pending
        .iter()
        .filter(|n| n.method == note::ShowMessage::METHOD)
        .filter_map(|n| serde_json::from_value(n.params.clone()).ok())
        .collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].message.contains("stroom.toml"),
        "{}",
        shown[0].message
    );
    assert!(!shown[0].message.contains("s3cr3t"), "{}", shown[0].message);
    c.stop();
}
