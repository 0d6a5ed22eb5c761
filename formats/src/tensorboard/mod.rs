//! TensorBoard event files: what `tfg train --logdir DIR` writes, so that
//! `tensorboard --logdir DIR` shows the logged scalars and the graph.
//!
//! An event file is an append-only log of `Event` protobuf messages in
//! TFRecord framing (the `record` module), named `events.out.tfevents.SECS.HOST`.
//! Readers tail it while training runs, so it is not written atomically: each
//! record is appended whole and [`EventWriter::flush`] pushes it to the file.

pub mod crc32c;
mod graph_def;
mod proto;
mod record;

use graph_def::graph_def;
use prost::Message;
use proto::{Event, Summary, SummaryValue};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The event file format TensorBoard expects in the first record.
const FILE_VERSION: &str = "brain.Event:2";

/// Appends events to one new event file.
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `DIR/events.out.tfevents.SECS.HOST` (DIR too, if missing) and
    /// writes the file-version record. A name already taken (two writers in
    /// the same second) gets a `.1`, `.2`, … suffix, which TensorBoard accepts.
    pub fn create(dir: &Path) -> Result<EventWriter, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create directory `{}`: {e}", dir.display()))?;
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let base = format!("events.out.tfevents.{secs}.{}", hostname());
        let mut suffix = 0;
        let (path, file) = loop {
            let name = match suffix {
                0 => base.clone(),
                n => format!("{base}.{n}"),
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => suffix += 1,
                Err(e) => return Err(format!("cannot create `{}`: {e}", path.display())),
            }
        };
        let mut writer = EventWriter {
            path,
            out: BufWriter::new(file),
        };
        writer.write(Event {
            file_version: Some(FILE_VERSION.to_string()),
            ..event(0)
        })?;
        writer.flush()?;
        Ok(writer)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `value` for `tag` at `step`.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f32) -> Result<(), String> {
        let summary = Summary {
            value: vec![SummaryValue {
                tag: tag.to_string(),
                simple_value: Some(value),
            }],
        };
        self.write(Event {
            summary: Some(summary),
            ..event(step)
        })
    }

    /// Records the graph, for TensorBoard's Graphs tab.
    pub fn graph(&mut self, g: &tfg_ir::Graph) -> Result<(), String> {
        self.write(Event {
            graph_def: Some(graph_def(g).encode_to_vec()),
            ..event(0)
        })
    }

    /// Pushes what was recorded to the file, so a running TensorBoard sees it.
    pub fn flush(&mut self) -> Result<(), String> {
        self.out.flush().map_err(|e| self.io_error(e))
    }

    fn write(&mut self, event: Event) -> Result<(), String> {
        record::write_record(&mut self.out, &event.encode_to_vec()).map_err(|e| self.io_error(e))
    }

    fn io_error(&self, e: std::io::Error) -> String {
        format!("cannot write `{}`: {e}", self.path.display())
    }
}

/// An empty event at `step`, stamped now.
fn event(step: i64) -> Event {
    let wall_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Event {
        wall_time,
        step,
        ..Event::default()
    }
}

/// This machine's name, as the event file name carries it; `localhost` where
/// the system does not say.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().replace(['/', '\\'], "_"))
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
