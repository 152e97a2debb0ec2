"""Run artifacts: files on disk with their rows, ZIP streaming, and retention."""
