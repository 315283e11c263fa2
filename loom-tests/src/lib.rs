//! Loom model checks of shmlane protocols live in `tests/`.
