"""dqx in orchestrators: each hook runs a checks file as ``dqx run`` does and hands
the orchestrator the execution id and the trace link.

* :mod:`dqx.integrations.airflow`: ``DQXOperator`` (the ``airflow`` extra);
* :mod:`dqx.integrations.dagster`: ``dqx_asset_check`` (the ``dagster`` extra);
* :mod:`dqx.integrations.suite_file`: the run both share, no orchestrator needed.

Importing this package imports no orchestrator.
"""
