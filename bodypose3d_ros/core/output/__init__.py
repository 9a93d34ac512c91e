"""Stage 7, the output: the per-frame JSON record and its schema, pictures of the results."""
