"""Generation: next-character drawing, the fast step model, and the REPL."""
