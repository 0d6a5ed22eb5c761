//! `RNN`, `GRU` and `LSTM`, unrolled: the sequence's length is known when
//! importing, so each step is written out as the operator's equations
//! (`onnx/reference/ops/op_rnn.py`, `op_gru.py`, `op_lstm.py`). The inputs'
//! part of every gate is one matrix product over the whole sequence; each
//! step then adds the hidden state's part.

use super::{attr, attr_f, attr_i, attr_s, float, Importer, Result, Value};
use crate::proto::NodeProto;
use std::collections::HashMap;
use tfg_ir::Dim;

/// The longest sequence unrolled: each step is a few statements.
const STEPS: u64 = 1024;

/// The three operators' differences.
struct Cell {
    /// Gates, in the order their rows are stacked in `W`, `R` and `B`.
    gates: usize,
    /// Activations, as many as a direction takes (ONNX's defaults).
    activations: &'static [&'static str],
}

fn cell(op: &str) -> Cell {
    match op {
        "LSTM" => Cell {
            gates: 4,
            activations: &["Sigmoid", "Tanh", "Tanh"],
        },
        "GRU" => Cell {
            gates: 3,
            activations: &["Sigmoid", "Tanh"],
        },
        _ => Cell {
            gates: 1,
            activations: &["Tanh"],
        },
    }
}

/// The `.tfg` of an activation named by an RNN's `activations`, `$`
/// standing for its input; those with parameters are not supported.
fn activation(name: &str) -> Result<&'static str> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "sigmoid" => "sigmoid($)",
        "tanh" => "tanh($)",
        "relu" => "relu($)",
        "softsign" => "$ / (1 + abs($))",
        "softplus" => "softplus($)",
        other => {
            return Err(format!(
                "the activation {other} is not supported in a recurrent operator"
            ))
        }
    })
}

impl Importer<'_> {
    /// The node's outputs (`Y`, `Y_h`, and for an LSTM `Y_c`).
    pub(super) fn recurrent(
        &mut self,
        n: &NodeProto,
        op: &str,
        outputs: &HashMap<String, String>,
    ) -> Result<Vec<Value>> {
        let cell = cell(op);
        // Names of the steps' values start with the first output's.
        let out = n
            .output
            .iter()
            .find(|o| !o.is_empty())
            .cloned()
            .unwrap_or_else(|| op.to_ascii_lowercase());
        let x = self.need(n, 0)?;
        let t = self.ty(&x)?;
        let dims: Option<Vec<u64>> = t.shape.0.iter().map(Dim::known).collect();
        let layout = attr_i(n, "layout", 0);
        let (steps, batch) = match (dims.as_deref(), layout) {
            (Some(&[s, b, _]), 0) => (s, b),
            (Some(&[b, s, _]), 1) => (s, b),
            _ => return Err(format!("{op} needs an input of 3 known dims, got {t}")),
        };
        if steps > STEPS {
            return Err(format!(
                "{op} over {steps} steps is not supported (at most {STEPS})"
            ));
        }
        let hidden = u64::try_from(attr_i(n, "hidden_size", 0))
            .ok()
            .filter(|&h| h > 0)
            .ok_or("hidden_size must be positive")?;
        let directions: &[bool] = match attr_s(n, "direction").as_deref() {
            None | Some("forward") => &[false],
            Some("reverse") => &[true],
            Some("bidirectional") => &[false, true],
            Some(other) => return Err(format!("direction = {other} is not supported")),
        };
        if attr(n, "activation_alpha").is_some() || attr(n, "activation_beta").is_some() {
            return Err("activation_alpha and activation_beta are not supported".into());
        }
        if attr_i(n, "input_forget", 0) != 0 {
            return Err("input_forget is not supported".into());
        }
        let names: Vec<String> = match attr(n, "activations") {
            Some(a) => a
                .strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
            None => directions
                .iter()
                .flat_map(|_| cell.activations.iter().map(|s| s.to_string()))
                .collect(),
        };
        if names.len() != cell.activations.len() * directions.len() {
            return Err(format!(
                "{op} takes {} activations a direction, got {}",
                cell.activations.len(),
                names.len()
            ));
        }
        // Sequence lengths other than the whole sequence would need a
        // mask a batch entry.
        if let Some(Value::Tensor(_)) = self.input(n, 4)? {
            return Err(self.not_known(n, 4));
        }
        match self.ints(n, 4)? {
            None => {}
            Some(lens) if lens.iter().all(|&l| l as u64 == steps) => {}
            Some(_) => {
                return Err("sequence_lens shorter than the sequence are not supported".into())
            }
        }
        let clip = attr(n, "clip").map(|_| attr_f(n, "clip", 0.0));
        let w = self.need(n, 1)?;
        let w = self.operand(&w)?;
        let r = self.need(n, 2)?;
        let r = self.operand(&r)?;
        let b = match self.input(n, 3)? {
            Some(v) => Some(self.operand(&v)?),
            None => None,
        };
        let state = |s: &mut Self, k: usize| -> Result<Option<String>> {
            match s.input(n, k)? {
                Some(v) => s.operand(&v).map(Some),
                None => Ok(None),
            }
        };
        let (h0, c0) = (state(self, 5)?, state(self, 6)?);
        let peepholes = match op {
            "LSTM" => state(self, 7)?,
            _ => None,
        };
        let xs = self.operand(&x)?;
        // [steps, batch, input], as layout 0 has it.
        let xs = match layout {
            1 => self.bind(
                format!("transpose({xs}, perm = [1, 0, 2])"),
                &format!("{out}_x"),
            )?,
            _ => xs,
        };
        let gates = cell.gates as u64 * hidden;
        let reset_after = op == "GRU" && attr_i(n, "linear_before_reset", 0) != 0;
        let zeros = format!("broadcast_to(0.0, [{batch}, {hidden}])");
        let mut ys = Vec::new();
        let (mut last_h, mut last_c) = (Vec::new(), Vec::new());
        for (d, &reverse) in directions.iter().enumerate() {
            let act: Vec<&str> = names
                [d * cell.activations.len()..(d + 1) * cell.activations.len()]
                .iter()
                .map(|a| activation(a))
                .collect::<Result<_>>()?;
            let f = |k: usize, v: &str| -> String {
                let v = match clip {
                    Some(c) => format!("clip({v}, {}, {})", float(-c), float(c)),
                    None => v.to_string(),
                };
                act[k].replace('$', &format!("({v})"))
            };
            let hint = |what: &str| format!("{out}_{d}_{what}");
            // The inputs' part of every gate, every step: [steps, batch, gates].
            let mut pre = format!("reshape(reshape({xs}, [{}, -1]) @ transpose({w}[{d}], perm = [1, 0]), [{steps}, {batch}, {gates}])", steps * batch);
            // Both biases, but a GRU that applies the reset gate after its
            // hidden product adds the candidate's hidden bias there.
            if let Some(b) = &b {
                pre = format!("{pre} + {b}[{d}, 0:{gates}]");
                pre = match reset_after {
                    false => format!("{pre} + {b}[{d}, {gates}:{}]", 2 * gates),
                    true => format!(
                        "{pre} + pad({b}[{d}, {gates}:{}], [[0, {hidden}]])",
                        gates + 2 * hidden
                    ),
                };
            }
            let pre = self.bind(pre, &hint("inputs"))?;
            let rt = self.bind(format!("transpose({r}[{d}], perm = [1, 0])"), &hint("r"))?;
            let mut h = match &h0 {
                Some(h0) => self.bind(format!("{h0}[{d}]"), &hint("h"))?,
                None => self.bind(zeros.clone(), &hint("h"))?,
            };
            // The cell state, an LSTM's alone.
            let mut c = match (&c0, op) {
                (_, "RNN" | "GRU") => String::new(),
                (Some(c0), _) => self.bind(format!("{c0}[{d}]"), &hint("c"))?,
                (None, _) => self.bind(zeros.clone(), &hint("c"))?,
            };
            let gate = |all: &str, k: u64| format!("{all}[:, {}:{}]", k * hidden, (k + 1) * hidden);
            let mut hs = Vec::new();
            for step in 0..steps {
                let s = if reverse { steps - 1 - step } else { step };
                let xw = format!("{pre}[{s}]");
                h = match op {
                    "RNN" => self.bind(f(0, &format!("{xw} + {h} @ {rt}")), &hint("h"))?,
                    "GRU" => {
                        let hr = self.bind(format!("{h} @ {rt}"), &hint("hr"))?;
                        let z = self.bind(
                            f(0, &format!("{} + {}", gate(&xw, 0), gate(&hr, 0))),
                            &hint("z"),
                        )?;
                        let rg = self.bind(
                            f(0, &format!("{} + {}", gate(&xw, 1), gate(&hr, 1))),
                            &hint("reset"),
                        )?;
                        let candidate = match (reset_after, &b) {
                            (false, _) => format!(
                                "{} + ({rg} * {h}) @ {rt}[:, {}:{}]",
                                gate(&xw, 2),
                                2 * hidden,
                                3 * hidden
                            ),
                            (true, Some(b)) => format!(
                                "{} + {rg} * ({} + {b}[{d}, {}:{}])",
                                gate(&xw, 2),
                                gate(&hr, 2),
                                gates + 2 * hidden,
                                gates + 3 * hidden
                            ),
                            (true, None) => format!("{} + {rg} * {}", gate(&xw, 2), gate(&hr, 2)),
                        };
                        let candidate = self.bind(f(1, &candidate), &hint("candidate"))?;
                        self.bind(format!("(1 - {z}) * {candidate} + {z} * {h}"), &hint("h"))?
                    }
                    _ => {
                        let all = self.bind(format!("{xw} + {h} @ {rt}"), &hint("gates"))?;
                        // Peepholes: P holds [i, o, f], each `hidden` long.
                        let peep = |k: u64, state: &str| match &peepholes {
                            Some(p) => format!(
                                " + {p}[{d}, {}:{}] * {state}",
                                k * hidden,
                                (k + 1) * hidden
                            ),
                            None => String::new(),
                        };
                        let i = self.bind(
                            f(0, &format!("{}{}", gate(&all, 0), peep(0, &c))),
                            &hint("i"),
                        )?;
                        let fg = self.bind(
                            f(0, &format!("{}{}", gate(&all, 2), peep(2, &c))),
                            &hint("f"),
                        )?;
                        let g = self.bind(f(1, &gate(&all, 3)), &hint("g"))?;
                        c = self.bind(format!("{fg} * {c} + {i} * {g}"), &hint("c"))?;
                        let o = self.bind(
                            f(0, &format!("{}{}", gate(&all, 1), peep(1, &c))),
                            &hint("o"),
                        )?;
                        let cell_out = act[2].replace('$', &c);
                        self.bind(format!("{o} * {cell_out}"), &hint("h"))?
                    }
                };
                hs.push(h.clone());
            }
            if reverse {
                hs.reverse();
            }
            ys.push(format!("stack([{}], axis = 0)", hs.join(", ")));
            last_h.push(h);
            last_c.push(c);
        }
        // Y: [steps, directions, batch, hidden]; the states [directions,
        // batch, hidden]; layout 1 puts the batch first in each.
        let arranged = |stacked: String, perm: &str| match layout {
            1 => format!("transpose({stacked}, perm = {perm})"),
            _ => stacked,
        };
        let y = arranged(
            format!("stack([{}], axis = 1)", ys.join(", ")),
            "[2, 0, 1, 3]",
        );
        let states =
            |v: &[String]| arranged(format!("stack([{}], axis = 0)", v.join(", ")), "[1, 0, 2]");
        // One value an output, in order; an omitted one is not computed
        // (its place holds a value the caller skips).
        let mut values = Vec::new();
        let wanted = [
            Some(y),
            Some(states(&last_h)),
            (op == "LSTM").then(|| states(&last_c)),
        ];
        for (name, expr) in n.output.iter().zip(wanted) {
            values.push(match (name.is_empty(), expr) {
                (false, Some(expr)) => self.emit(expr, name, n, outputs)?,
                _ => Value::Tensor(String::new()),
            });
        }
        Ok(values)
    }
}
