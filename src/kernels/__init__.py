"""Our C++ CPU kernels (built from source with g++ on first use) and their MindSpore custom-op wrappers, each used
only for the shapes where a benchmark showed it faster than MindSpore's own operator (docs/kernels.md)."""
