//! `--logdir DIR`: the training run as a TensorBoard event file: the step
//! graph once, then the loss and every logged value at every step, tagged by
//! their names (docs/cli.md, `train --logdir`).

use std::path::Path;
use tfg_driver::train::StepReport;
use tfg_formats::tensorboard::EventWriter;
use tfg_ir::{Graph, Tensor};

pub struct Logdir {
    writer: EventWriter,
    /// The name the loss is logged under: its `minimize` name.
    loss: String,
}

impl Logdir {
    /// A new event file in `dir`, holding `step_graph`.
    pub fn open(dir: &Path, step_graph: &Graph, loss: &str) -> Result<Logdir, String> {
        let mut writer = EventWriter::create(dir)?;
        writer.graph(step_graph)?;
        writer.flush()?;
        Ok(Logdir {
            writer,
            loss: loss.to_string(),
        })
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        self.writer.path()
    }

    /// The scalars of one step, flushed so that a running TensorBoard sees them.
    pub fn step(&mut self, report: &StepReport) -> Result<(), String> {
        let step = report.step as i64;
        let logged = report
            .logged
            .iter()
            .filter(|(_, t)| !std::ptr::eq(*t, report.loss));
        for (name, t) in std::iter::once((self.loss.as_str(), report.loss)).chain(logged.copied()) {
            self.writer.scalar(name, step, scalar(t))?;
        }
        self.writer.flush()
    }
}

/// A logged value as TensorBoard's scalars hold it.
fn scalar(t: &Tensor) -> f32 {
    t.data.get_f64(0) as f32
}
