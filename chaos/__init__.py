"""chaoslab's experiment vocabulary (spec, manifests, system profile), runner and executors."""
