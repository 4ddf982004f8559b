//! End-to-end test package; the suites live in `e2e/`.
