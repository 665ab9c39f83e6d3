"""The run engine: ``runner`` (walks the plan), ``state`` (runs.sqlite); events: :mod:`gpf_flow.events`.

Use :func:`gpf_flow.run` (``gpf_flow.engine.runner.run``) to run a loaded workflow on a store.
"""
