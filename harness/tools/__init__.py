"""Campaigns and benchmarks: selftest, failover, flakes, benches, corpus generator, nightly."""
