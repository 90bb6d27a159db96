"""chaoslab's vocabulary: what an experiment is.

The experiment spec (`spec`), the system profile (`system`), the Chaos Mesh manifest models
(`manifest`, `selection`), durations, the metric vocabulary and its definitions (`metrics`,
`recovery`), the run record's vocabulary (`record`: statuses, event kinds, file names), validation
and the error root (`errors`), process records (`processes`), and in-app model chaos
(`model_chaos`). Imports nothing else of chaoslab; every other package builds on it.
"""
