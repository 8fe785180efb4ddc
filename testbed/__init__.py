"""What the tests and the benchmarks share: the program under mocks, network namespaces, the
rendered host brought up for real, and the tools they need."""
