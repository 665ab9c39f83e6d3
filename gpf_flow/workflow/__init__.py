"""Workflow files: load (``load``), check (``schema``, ``dag``), model (``model``), plan (``dag``).

``load.load_workflow`` runs JSONC parsing (``jsonc``), the schema (``schema``), Jinja2 parameters
(``params``), DAG checks (``dag``) and ``iter_vals`` expansion (``expand``); ``locate`` turns JSON
paths into ``file:line:col`` places. Nothing heavy is imported here, so the CLI starts fast.
"""
