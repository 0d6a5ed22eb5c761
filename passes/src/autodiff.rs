//! Reverse-mode automatic differentiation over the Graph IR.
