-- Runs once, when the postgres volume is first created.
-- dqx itself connects as `dqx` and creates dq_metric, dq_run and dq_assertion on
-- first use. Grafana reads through a role that can only SELECT: dashboards run the
-- SQL their editors type, so they must not be able to change the record.
CREATE ROLE grafana_reader LOGIN PASSWORD 'grafana_reader';
GRANT CONNECT ON DATABASE dqx TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE dqx IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
