"""The local runtime: embedded AWS (moto), in-process Lambdas, the local API server and a demo store."""
