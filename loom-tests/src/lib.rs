//! loom models of gosync live in `tests/`; they build only with `RUSTFLAGS="--cfg loom"`.
