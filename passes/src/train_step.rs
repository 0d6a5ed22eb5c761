//! The training-step graph: forward pass, gradients and optimizer update in one graph.
