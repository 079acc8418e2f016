"""Scripts that measure the course (speed, memory) and write their results; run them as python -m benchmarks.<name>."""
