"""kuril-rag: citation-grounded question answering over articles on the Kuril Islands dispute."""
