//! Test harness for kafkit.
