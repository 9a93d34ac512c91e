"""Stage 2, the image: message payloads decoded to BGR (raw encodings, JPEG/PNG headers), colour."""
