"""Benchmarks writing JSON into bench-results/ (`make bench`)."""
