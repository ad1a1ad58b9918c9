"""Lightning callbacks that use the models' public methods (`sample`, `encode`,
`decode`, `reconstruct`); each skips models that lack the method it needs."""
