//! The C header declaring an object file's API (see [`mod@crate::object`]):
//! structs of pointers for inputs, outputs and params with their C types
//! and shapes, and the entry functions.

use crate::object::{AotModel, Slot};
use std::fmt::Write;
use tfg_ir::DType;

/// The C element type of `d` (bools are one byte, 0 or 1).
fn c_type(d: DType) -> &'static str {
    match d {
        DType::F32 => "float",
        DType::F64 => "double",
        DType::I32 => "int32_t",
        DType::I64 => "int64_t",
        DType::Bool => "uint8_t",
    }
}

/// `name` as a C identifier: every other character becomes `_`.
fn ident(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{s}")
    } else {
        s
    }
}

fn type_text(s: &Slot) -> String {
    let dims: Vec<String> = s.shape.iter().map(u64::to_string).collect();
    format!("{}[{}]", s.dtype, dims.join(", "))
}

/// A struct of one pointer per slot, and `PREFIX_KIND_NAME_SIZE` (elements),
/// `_RANK` and `_SHAPE` macros for each. A scalar's `_SHAPE` is `{0}`, one
/// placeholder entry (its `_RANK` is 0): ISO C before C23 has no empty
/// initialiser, and the header must compile as `-std=c11 -pedantic`.
fn slots(out: &mut String, model: &str, kind: &str, ty: &str, qual: &str, slots: &[Slot]) {
    let upper = |s: &str| ident(s).to_uppercase();
    for s in slots {
        let m = format!("{}_{}_{}", upper(model), upper(kind), upper(&s.name));
        let size: u64 = s.shape.iter().product();
        let dims: Vec<String> = s.shape.iter().map(u64::to_string).collect();
        let _ = writeln!(out, "#define {m}_SIZE {size}");
        let _ = writeln!(out, "#define {m}_RANK {}", dims.len());
        if dims.is_empty() {
            let _ = writeln!(out, "#define {m}_SHAPE {{0}} /* a scalar: no dims */");
        } else {
            let _ = writeln!(out, "#define {m}_SHAPE {{{}}}", dims.join(", "));
        }
    }
    out.push_str("typedef struct {\n");
    if slots.is_empty() {
        out.push_str("    const void *unused; /* none */\n");
    }
    for s in slots {
        let _ = writeln!(
            out,
            "    {qual}{} *{}; /* {} `{}` */",
            c_type(s.dtype),
            ident(&s.name),
            type_text(s),
            s.name
        );
    }
    let _ = writeln!(out, "}} {model}_{ty};\n");
}

/// The header for `m`'s object file.
pub fn header(m: &AotModel) -> String {
    let n = &m.name;
    let guard = format!("TFG_{}_H", ident(n).to_uppercase());
    let mut o = String::new();
    let _ = write!(
        o,
        "/* {n}.h: the C API of a graph compiled ahead of time by `tfg compile`. Generated; do not edit.
 *
 * Link the object with tfg's runtime library (math, GEMM, thread pool),
 * built by `cargo build -p tfg-rt --release` as target/release/libtfg_rt.a:
 *
 *     cc main.c {n}.o -L<tfg>/target/release -ltfg_rt -lpthread -ldl -lm
 *
 * The code is compiled for the CPU `tfg compile` ran on. Tensors are
 * row-major arrays of their element type; every pointer below points at a
 * tensor's first element.
 */
#ifndef {guard}
#define {guard}

#include <stdint.h>

#ifdef __cplusplus
extern \"C\" {{
#endif

"
    );
    let _ = writeln!(o, "/* Inputs of {n}_run. */");
    slots(&mut o, n, "input", "inputs", "const ", &m.run.inputs);
    let _ = writeln!(o, "/* Outputs of {n}_run: where it writes each. */");
    slots(&mut o, n, "output", "outputs", "", &m.run.outputs);
    let params: Vec<Slot> = m
        .params
        .iter()
        .map(|p| Slot {
            name: p.name.clone(),
            dtype: p.value.dtype(),
            shape: p.value.shape.iter().map(|&d| d as u64).collect(),
        })
        .collect();
    let _ = writeln!(
        o,
        "/* The params (optimizer slots such as `w/momentum` included), owned by the model. */"
    );
    slots(&mut o, n, "param", "params", "", &params);
    let _ = write!(
        o,
        "/* A model: its params, its arena and the rest of its state (opaque). */
typedef struct {n}_model {{
    {n}_params *params;
}} {n}_model;

/* Allocates a model and sets its params from the safetensors checkpoint at
 * `checkpoint`, or, with NULL, from the graph's initialisers (computed at
 * compile time). NULL on failure: see tfg_rt_last_error(). */
{n}_model *{n}_init(const char *checkpoint);

/* Runs the graph once on `inputs`, writing every output. 0, or -1 on failure. */
int {n}_run({n}_model *model, const {n}_inputs *inputs, const {n}_outputs *outputs);

"
    );
    if let Some(t) = &m.train {
        let _ = writeln!(o, "/* Inputs of {n}_train_step. */");
        slots(
            &mut o,
            n,
            "train_input",
            "train_inputs",
            "const ",
            &t.inputs,
        );
        let loss = t
            .outputs
            .first()
            .map_or("loss".to_string(), |s| s.name.clone());
        let _ = write!(
            o,
            "/* One training step as the file's `train` item says: updates the params
 * and optimizer slots in place and returns the loss `{loss}` from before the
 * update (NaN on failure: see tfg_rt_last_error()). */
double {n}_train_step({n}_model *model, const {n}_train_inputs *inputs);

"
        );
    }
    let _ = write!(
        o,
        "/* Frees the model and everything it allocated. */
void {n}_free({n}_model *model);

/* Why the last failed call on this thread failed. */
const char *tfg_rt_last_error(void);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"
    );
    o
}
