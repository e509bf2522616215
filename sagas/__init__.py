"""sagascope's engine: saga definitions, the durable orchestrator, and its service layer.

The public definition API is importable from here once Django's app registry is ready::

    from sagas.definition import Saga, Step, Retry
"""
