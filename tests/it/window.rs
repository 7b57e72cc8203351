//! Integration tests: window.
