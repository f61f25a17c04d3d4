//! `stroom lsp`: the Language Server Protocol over stdio, for editors.
//!
//! Every edit re-checks the document's whole rule set (its folder, or the `[sync] rules`
//! of the stroom.toml above it, with includes and `let`s across files) exactly as
//! `stroom check` does, with the editor's unsaved text in place of the files. Messages
//! that arrive while a check runs are taken together, so a burst of keystrokes costs one
//! check. Answers come from [`query`]; this module only speaks the protocol.

// `Uri` (fluent-uri) caches its parts in cells, so clippy calls it a mutable key; its
// hash and equality read only its text, which never changes.
#![allow(clippy::mutable_key_type)]

pub mod position;
pub mod query;
pub mod syntax;
pub mod workspace;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::*;
use position::{offset, range};
use query::{Completion, CompletionKind, Place, Symbol, SymbolKind as Kind};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use workspace::{analyze, rule_set_of, Analysis, RuleSet};

/// Why the server stopped before the client said `exit`.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    /// The client broke the protocol (or went away during the handshake).
    #[error("language server protocol: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    /// Reading or writing stdio failed.
    #[error("language server I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves one editor over stdin and stdout until it says `exit`.
pub fn serve_stdio() -> Result<(), LspError> {
    let (connection, io) = Connection::stdio();
    serve(&connection)?;
    drop(connection);
    io.join()?;
    Ok(())
}

/// What the server offers: incremental text sync, diagnostics, hover, completion,
/// definition, references, the outline, formatting and quick fixes.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "\"".into(), " ".into()]),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        ..ServerCapabilities::default()
    }
}

/// Serves one client on `connection` until it says `exit` (or hangs up).
pub fn serve(connection: &Connection) -> Result<(), LspError> {
    let init = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "stroom", "version": env!("CARGO_PKG_VERSION") },
    });
    let (id, _client) = connection.initialize_start()?;
    connection.initialize_finish(id, init)?;
    let mut server = Server {
        connection,
        open: HashMap::new(),
        sets: HashMap::new(),
        analyses: HashMap::new(),
        dirty: HashSet::new(),
        published: HashMap::new(),
        noticed: HashSet::new(),
        shutting_down: false,
    };
    while let Ok(first) = connection.receiver.recv() {
        // Everything already waiting is handled together: edits first, then one check
        // per changed rule set, then the questions, against the fresh check.
        let mut batch = vec![first];
        batch.extend(connection.receiver.try_iter());
        let mut requests = Vec::new();
        for message in batch {
            match message {
                Message::Request(r) => requests.push(r),
                Message::Notification(n) if n.method == note::Exit::METHOD => return Ok(()),
                Message::Notification(n) => server.notification(n),
                Message::Response(_) => {}
            }
        }
        server.refresh();
        for r in requests {
            server.request(r);
        }
    }
    Ok(())
}

struct Server<'c> {
    connection: &'c Connection,
    /// Open documents' text.
    open: HashMap<Uri, String>,
    /// Each open document's rule set.
    sets: HashMap<Uri, RuleSet>,
    /// The last check of each rule set with an open document.
    analyses: HashMap<RuleSet, Analysis>,
    /// Rule sets to check again.
    dirty: HashSet<RuleSet>,
    /// The files each rule set has published diagnostics for.
    published: HashMap<RuleSet, HashSet<Uri>>,
    /// Notices already shown (a bad stroom.toml is said once, not at every keystroke).
    noticed: HashSet<String>,
    shutting_down: bool,
}

impl Server<'_> {
    fn send(&self, message: impl Into<Message>) {
        // A client that went away ends the loop through the closed receiver.
        let _ = self.connection.sender.send(message.into());
    }

    fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        self.send(Notification::new(N::METHOD.to_string(), params));
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            note::DidOpenTextDocument::METHOD => {
                if let Ok(p) =
                    n.extract::<DidOpenTextDocumentParams>(note::DidOpenTextDocument::METHOD)
                {
                    let uri = p.text_document.uri;
                    let set = rule_set_of(&uri);
                    self.open.insert(uri.clone(), p.text_document.text);
                    self.dirty.insert(set.clone());
                    self.sets.insert(uri, set);
                }
            }
            note::DidChangeTextDocument::METHOD => {
                if let Ok(p) =
                    n.extract::<DidChangeTextDocumentParams>(note::DidChangeTextDocument::METHOD)
                {
                    let uri = p.text_document.uri;
                    if let Some(text) = self.open.get_mut(&uri) {
                        for change in p.content_changes {
                            apply_change(text, change);
                        }
                        self.touched(&uri);
                    }
                }
            }
            note::DidSaveTextDocument::METHOD | note::DidChangeWatchedFiles::METHOD => {
                // A file on disk changed: every rule set may include it.
                self.dirty.extend(self.analyses.keys().cloned());
            }
            note::DidCloseTextDocument::METHOD => {
                if let Ok(p) =
                    n.extract::<DidCloseTextDocumentParams>(note::DidCloseTextDocument::METHOD)
                {
                    let uri = p.text_document.uri;
                    self.open.remove(&uri);
                    if let Some(set) = self.sets.remove(&uri) {
                        if self.sets.values().any(|s| *s == set) {
                            // The others still see the file: now as it is on disk.
                            self.dirty.insert(set);
                        } else {
                            self.analyses.remove(&set);
                            self.dirty.remove(&set);
                            for uri in self.published.remove(&set).unwrap_or_default() {
                                self.publish(uri, Vec::new(), None);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// A document changed: its own rule set, and any other whose check read it.
    fn touched(&mut self, uri: &Uri) {
        if let Some(set) = self.sets.get(uri) {
            self.dirty.insert(set.clone());
        }
        for (set, analysis) in &self.analyses {
            if analysis.file_of(uri).is_some() {
                self.dirty.insert(set.clone());
            }
        }
    }

    /// Checks the changed rule sets and publishes what they found.
    fn refresh(&mut self) {
        let dirty: Vec<RuleSet> = self.dirty.drain().collect();
        for set in dirty {
            if !self.sets.values().any(|s| *s == set) {
                continue;
            }
            let analysis = analyze(&set, &self.open);
            if let Some(notice) = &analysis.notice {
                if self.noticed.insert(notice.clone()) {
                    self.notify::<note::ShowMessage>(ShowMessageParams {
                        typ: MessageType::WARNING,
                        message: notice.clone(),
                    });
                }
            }
            let mut by_file: HashMap<u32, Vec<Diagnostic>> = HashMap::new();
            for d in &analysis.diagnostics {
                by_file
                    .entry(d.span.file)
                    .or_default()
                    .push(to_lsp(&analysis, d));
            }
            let before = self.published.remove(&set).unwrap_or_default();
            let mut now = HashSet::new();
            for (i, id) in analysis.ids.iter().enumerate() {
                let Some(uri) = &id.uri else { continue };
                let diagnostics = by_file.remove(&(i as u32)).unwrap_or_default();
                if diagnostics.is_empty() && !before.contains(uri) && !self.open.contains_key(uri) {
                    continue;
                }
                if !diagnostics.is_empty() {
                    now.insert(uri.clone());
                }
                self.publish(uri.clone(), diagnostics, None);
            }
            for gone in before.difference(&now) {
                if analysis.file_of(gone).is_none() {
                    self.publish(gone.clone(), Vec::new(), None);
                }
            }
            self.published.insert(set.clone(), now);
            self.analyses.insert(set, analysis);
        }
    }

    fn publish(&self, uri: Uri, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        self.notify::<note::PublishDiagnostics>(PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        });
    }

    fn request(&mut self, r: Request) {
        let id = r.id.clone();
        if self.shutting_down {
            return self.fail(id, ErrorCode::InvalidRequest, "the server is shutting down");
        }
        let method = r.method.clone();
        let answer = match method.as_str() {
            req::Shutdown::METHOD => {
                self.shutting_down = true;
                Ok(serde_json::Value::Null)
            }
            req::HoverRequest::METHOD => self.answer::<req::HoverRequest, _>(r, |s, p| {
                let at = &p.text_document_position_params;
                let (a, file, offset) = s.locate(&at.text_document.uri, at.position)?;
                let (span, text) = query::hover(a, file, offset)?;
                Some(Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value: text,
                    }),
                    range: a.sources.get(file).map(|f| range(f, span)),
                })
            }),
            req::Completion::METHOD => self.answer::<req::Completion, _>(r, |s, p| {
                let at = &p.text_document_position;
                let uri = &at.text_document.uri;
                let text = s.open.get(uri)?;
                let a = s.analyses.get(s.sets.get(uri)?)?;
                let items = query::completions(a, text, offset(text, at.position));
                Some(CompletionResponse::Array(
                    items.into_iter().map(completion_item).collect(),
                ))
            }),
            req::GotoDefinition::METHOD => self.answer::<req::GotoDefinition, _>(r, |s, p| {
                let at = &p.text_document_position_params;
                let (a, file, offset) = s.locate(&at.text_document.uri, at.position)?;
                let places = query::definition(a, file, offset);
                let locations: Vec<Location> =
                    places.iter().filter_map(|p| place_location(a, p)).collect();
                Some(GotoDefinitionResponse::Array(locations))
            }),
            req::References::METHOD => self.answer::<req::References, _>(r, |s, p| {
                let at = &p.text_document_position;
                let (a, file, offset) = s.locate(&at.text_document.uri, at.position)?;
                let spans = query::references(a, file, offset, p.context.include_declaration);
                Some(
                    spans
                        .into_iter()
                        .filter_map(|span| place_location(a, &Place::Rules(span)))
                        .collect::<Vec<_>>(),
                )
            }),
            req::DocumentSymbolRequest::METHOD => {
                self.answer::<req::DocumentSymbolRequest, _>(r, |s, p| {
                    let (a, file) = s.analysis_of(&p.text_document.uri)?;
                    let source = a.sources.get(file)?;
                    let symbols = query::symbols(a, file);
                    Some(DocumentSymbolResponse::Nested(
                        symbols
                            .iter()
                            .map(|sym| document_symbol(source, sym))
                            .collect(),
                    ))
                })
            }
            req::CodeActionRequest::METHOD => {
                self.answer::<req::CodeActionRequest, _>(r, |s, p| {
                    let uri = &p.text_document.uri;
                    let (a, file) = s.analysis_of(uri)?;
                    let source = a.sources.get(file)?;
                    let start = offset(&source.text, p.range.start) as u32;
                    let end = offset(&source.text, p.range.end) as u32;
                    let actions = query::fixes(a, file, start, end)
                        .into_iter()
                        .map(|fix| {
                            let edit = TextEdit::new(range(source, fix.span), fix.text);
                            CodeActionOrCommand::CodeAction(CodeAction {
                                title: fix.title,
                                kind: Some(CodeActionKind::QUICKFIX),
                                edit: Some(WorkspaceEdit {
                                    changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                                    ..WorkspaceEdit::default()
                                }),
                                is_preferred: Some(true),
                                ..CodeAction::default()
                            })
                        })
                        .collect::<Vec<_>>();
                    Some(actions)
                })
            }
            req::Formatting::METHOD => {
                let params: Result<DocumentFormattingParams, _> = serde_json::from_value(r.params);
                match params {
                    Err(e) => Err((ErrorCode::InvalidParams, e.to_string())),
                    Ok(p) => self.format(&p.text_document.uri),
                }
            }
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("stroom does not answer {method}"),
            )),
        };
        match answer {
            Ok(result) => self.send(Response::new_ok(id, result)),
            Err((code, message)) => self.fail(id, code, &message),
        }
    }

    fn fail(&self, id: RequestId, code: ErrorCode, message: &str) {
        self.send(Response::new_err(id, code as i32, message.to_string()));
    }

    /// Decodes a request's parameters and answers it with `f` (`null` when it finds
    /// nothing, as the protocol has it).
    fn answer<R: lsp_types::request::Request, T: serde::Serialize>(
        &self,
        r: Request,
        f: impl FnOnce(&Self, R::Params) -> Option<T>,
    ) -> Result<serde_json::Value, (ErrorCode, String)> {
        let params: R::Params = serde_json::from_value(r.params)
            .map_err(|e| (ErrorCode::InvalidParams, format!("{}: {e}", R::METHOD)))?;
        Ok(f(self, params)
            .and_then(|result| serde_json::to_value(result).ok())
            .unwrap_or(serde_json::Value::Null))
    }

    fn analysis_of(&self, uri: &Uri) -> Option<(&Analysis, u32)> {
        let a = self.analyses.get(self.sets.get(uri)?)?;
        Some((a, a.file_of(uri)?))
    }

    fn locate(&self, uri: &Uri, at: lsp_types::Position) -> Option<(&Analysis, u32, u32)> {
        let (a, file) = self.analysis_of(uri)?;
        let source = a.sources.get(file)?;
        Some((a, file, offset(&source.text, at) as u32))
    }

    /// `stroom fmt` of the open text: one edit for the whole document, none when it is
    /// formatted already; a file with syntax errors is left alone.
    fn format(&self, uri: &Uri) -> Result<serde_json::Value, (ErrorCode, String)> {
        let Some(text) = self.open.get(uri) else {
            return Ok(serde_json::Value::Null);
        };
        match crate::rules::fmt::format_source(text) {
            Ok(formatted) if formatted == *text => Ok(serde_json::json!([])),
            Ok(formatted) => {
                let file = crate::rules::span::SourceFile::new("", text.as_str());
                let end = position::position(&file, text.len() as u32);
                let edit = TextEdit::new(Range::new(Position::new(0, 0), end), formatted);
                Ok(serde_json::to_value(vec![edit]).unwrap_or_default())
            }
            Err(crate::rules::fmt::FormatError::Syntax(d)) => Err((
                ErrorCode::RequestFailed,
                format!(
                    "not formatted: the file has {} syntax error(s); fix them first (see the diagnostics)",
                    d.len()
                ),
            )),
            Err(crate::rules::fmt::FormatError::Changed) => Err((
                ErrorCode::InternalError,
                "not formatted: the formatted text would not mean the same (a bug in Stroom; please report it)".into(),
            )),
        }
    }
}

/// Applies one change of `didChange` (a range replaced, or the whole text).
fn apply_change(text: &mut String, change: TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text,
        Some(r) => {
            let start = offset(text, r.start);
            let end = offset(text, r.end).max(start);
            text.replace_range(start..end, &change.text);
        }
    }
}

fn to_lsp(a: &Analysis, d: &crate::rules::diagnostic::Diagnostic) -> Diagnostic {
    let r = a
        .sources
        .get(d.span.file)
        .map_or_else(Range::default, |f| range(f, d.span));
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|(span, label)| {
            Some(DiagnosticRelatedInformation {
                location: place_location(a, &Place::Rules(*span))?,
                message: label.clone(),
            })
        })
        .collect();
    Diagnostic {
        range: r,
        severity: Some(match d.severity {
            crate::rules::diagnostic::Severity::Error => DiagnosticSeverity::ERROR,
            crate::rules::diagnostic::Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code().to_string())),
        source: Some("stroom".into()),
        message: format!("{}: {}\nhelp: {}", d.problem, d.label, d.help),
        related_information: (!related.is_empty()).then_some(related),
        ..Diagnostic::default()
    }
}

fn place_location(a: &Analysis, place: &Place) -> Option<Location> {
    match place {
        Place::Rules(span) => {
            let uri = a.ids.get(span.file as usize)?.uri.clone()?;
            Some(Location::new(uri, range(a.sources.get(span.file)?, *span)))
        }
        Place::Config(line) => {
            let (path, _) = a.config.as_ref()?;
            let path = workspace::canonical(path);
            let url = url::Url::from_file_path(&path).ok()?;
            let uri = Uri::from_str(url.as_str()).ok()?;
            let at = Position::new(*line as u32, 0);
            Some(Location::new(uri, Range::new(at, at)))
        }
    }
}

fn completion_item(c: Completion) -> CompletionItem {
    CompletionItem {
        label: c.label,
        kind: Some(match c.kind {
            CompletionKind::Field => CompletionItemKind::FIELD,
            CompletionKind::Function => CompletionItemKind::FUNCTION,
            CompletionKind::Let => CompletionItemKind::VARIABLE,
            CompletionKind::Target => CompletionItemKind::MODULE,
            CompletionKind::Keyword => CompletionItemKind::KEYWORD,
            CompletionKind::Attribute => CompletionItemKind::PROPERTY,
            CompletionKind::Value => CompletionItemKind::VALUE,
        }),
        detail: (!c.detail.is_empty()).then_some(c.detail),
        documentation: (!c.documentation.is_empty()).then_some(Documentation::MarkupContent(
            MarkupContent {
                kind: MarkupKind::Markdown,
                value: c.documentation,
            },
        )),
        ..CompletionItem::default()
    }
}

#[allow(deprecated)] // `deprecated` is a required field of the protocol's type.
fn document_symbol(source: &crate::rules::span::SourceFile, s: &Symbol) -> DocumentSymbol {
    DocumentSymbol {
        name: s.name.clone(),
        detail: None,
        kind: match s.kind {
            Kind::Rule => SymbolKind::NAMESPACE,
            Kind::Let => SymbolKind::VARIABLE,
            Kind::Account => SymbolKind::STRUCT,
            Kind::Group => SymbolKind::CLASS,
            Kind::Handover => SymbolKind::EVENT,
            Kind::Target => SymbolKind::INTERFACE,
            Kind::Statement => SymbolKind::FUNCTION,
        },
        tags: None,
        deprecated: None,
        range: range(source, s.span),
        selection_range: range(source, s.selection),
        children: (!s.children.is_empty()).then(|| {
            s.children
                .iter()
                .map(|c| document_symbol(source, c))
                .collect()
        }),
    }
}
