//! Integration tests: sink.
