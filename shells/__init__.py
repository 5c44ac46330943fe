"""The shells around the `rag` library: the command line (this package), and beside it the chat
(`ui`) and the eval harness (`evals`). Shells call the library and never each other; what they
share lives in `shells.common`."""
