"""The reference ML prediction service: the system under test (see service/README.md).

Run it with `python -m service serve|train|load-features`; build a pod in-process with
`service.runtime.build_pod` and `service.app.create_app`.
"""
