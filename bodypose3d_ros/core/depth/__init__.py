"""Stage 6, depth: registered depth images, colour pairing, the distance anchor."""
