"""The chapter's pseudocode: plain, runnable Python written to be read.

Each function here is shown in the book with `utils.latex` and runs as it
reads; the tests check each one against the jitted implementation in
`utils` on the same samples. One module per section of the chapter.
"""
