//! Writing a plan document while it is made: the same bytes as the whole plan written
//! with `serde_json::to_writer_pretty`, without holding its actions. The actions are
//! made and turned into text a window of chunks at a time on all cores, and a writer
//! thread puts the text out meanwhile, so memory stays that of a few windows.

use super::{ActionJson, Document, OriginsJson, PlanOutline};
use serde::Serialize;
use serde_json::ser::Formatter;
use std::io::{self, Write};

/// Chunks of persons made at once.
const WINDOW: usize = 16;

/// Writes the plan `outline` describes as its JSON document (with a final newline).
pub fn write_plan_json(outline: &PlanOutline, out: &mut (dyn Write + Send)) -> io::Result<()> {
    let empty: [(); 0] = [];
    let document = serde_json::to_vec_pretty(&Document {
        today: outline.today,
        summary: &outline.summary,
        blocked: &outline.blocked,
        all_blocks: &outline.all_blocks,
        actions: empty,
        notes: &outline.notes,
    })?;
    // The document without actions ends its `actions` with `[]`: the actions go between.
    // Only the top level can hold this text unescaped.
    const EMPTY: &[u8] = b"\n  \"actions\": []";
    let at = document
        .windows(EMPTY.len())
        .position(|w| w == EMPTY)
        .ok_or_else(|| io::Error::other("the plan document has no actions list"))?;
    let (head, tail) = (
        &document[..at + EMPTY.len() - 1],
        &document[at + EMPTY.len() - 1..],
    );
    if outline.is_empty() {
        out.write_all(&document)?;
        return out.write_all(b"\n");
    }
    // Each statement's reason as text once, laid out as in the document (an array
    // element four levels in).
    let origins = outline
        .origins
        .iter()
        .map(|b| {
            let mut text = Vec::new();
            b.serialize(&mut serde_json::Serializer::with_formatter(
                &mut text,
                Indented::at(4),
            ))?;
            let text = String::from_utf8(text).map_err(io::Error::other)?;
            serde_json::value::RawValue::from_string(text).map_err(io::Error::from)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let origins = OriginsJson::Text(&origins);
    out.write_all(head)?;
    let text_out = &mut *out;
    // Text buffers go round between the workers and the writer: no fresh pages per chunk.
    let spare: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
    let spare = &spare;
    std::thread::scope(|scope| -> io::Result<()> {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<u8>>(2 * WINDOW);
        let writer = scope.spawn(move || -> io::Result<()> {
            let mut first = true;
            for mut text in receive {
                // Every action's text starts with `,`: the plan's first one does not.
                let skip = usize::from(first && text.first() == Some(&b','));
                first &= text.is_empty();
                text_out.write_all(&text[skip..])?;
                text.clear();
                if let Ok(mut spare) = spare.lock() {
                    spare.push(text);
                }
            }
            Ok(())
        });
        let made = outline.map_action_chunks(
            WINDOW,
            &|actions| {
                let mut text = spare
                    .lock()
                    .ok()
                    .and_then(|mut s| s.pop())
                    .unwrap_or_default();
                text.reserve(actions.len() * 320);
                for a in &actions {
                    text.extend_from_slice(b",\n    ");
                    let mut json =
                        serde_json::Serializer::with_formatter(&mut text, Indented::at(2));
                    ActionJson(a, origins).serialize(&mut json)?;
                }
                Ok::<_, serde_json::Error>(text)
            },
            &mut |text| {
                // A writer that stopped (a closed pipe) ends the walk; its error is
                // the one reported.
                send.send(text?)
                    .map_err(|_| io::Error::other("the writer stopped"))
            },
        );
        drop(send);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the plan writer failed")));
        written.and(made)
    })?;
    out.write_all(b"\n  ")?;
    out.write_all(tail)?;
    out.write_all(b"\n")
}

/// serde_json's pretty layout (two spaces per level), starting `level` levels in: an
/// action written on its own, laid out as it is inside the whole document.
struct Indented {
    level: usize,
    has_value: bool,
}

impl Indented {
    fn at(level: usize) -> Self {
        Indented {
            level,
            has_value: false,
        }
    }

    fn indent<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        const SPACES: &[u8; 64] = &[b' '; 64];
        let mut left = 2 * self.level;
        while left > 0 {
            let n = left.min(SPACES.len());
            w.write_all(&SPACES[..n])?;
            left -= n;
        }
        Ok(())
    }
}

impl Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}
