"""The Train page: controls, the live panel's host, charts, the join card and dataset uploads."""
