//! The file formats tfg reads and writes, and nothing else: numpy's `.npy`
//! ([`npy`]), safetensors checkpoints ([`safetensors`]), the `--json` reports
//! ([`json`]), numpy-style printing of arrays ([`arrayprint`]), TensorBoard
//! event files ([`tensorboard`]), and the one way tfg writes a file so that it
//! appears whole or not at all ([`whole_file`]).
//!
//! This crate knows tensors (`tfg_ir::Tensor`) and bytes. It must not know
//! about graphs being compiled or run, sessions, the command line or how
//! errors are printed: readers and writers return `Result<_, String>` with a
//! message that names the file, and the caller decides what to do with it.
//! (The TensorBoard writer draws a Graph IR graph as TensorBoard's `GraphDef`,
//! a format of its own; it reads the graph, never transforms it.)

pub mod arrayprint;
pub mod json;
pub mod npy;
pub mod safetensors;
pub mod tensorboard;
pub mod whole_file;
