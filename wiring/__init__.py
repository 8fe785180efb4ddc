"""The program's graph, one step per module: the stack's config handed to the components."""
