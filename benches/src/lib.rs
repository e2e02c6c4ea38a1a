//! Benchmarks comparing kafkit with its peers live here (see the benchmark issue); nothing yet.
