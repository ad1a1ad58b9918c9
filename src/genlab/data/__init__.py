"""LightningDataModules. Each yields `(x, y)`: x float in [0, 1] (images C×H×W) or raw
2-D points, y an integer class or -1 where there is none; each exposes `shape` and
`num_classes`."""
