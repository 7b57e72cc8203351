//! Integration tests: hooks.
