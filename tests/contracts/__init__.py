"""Contract tests: one test body per interface, run over every implementation (engines here)."""
