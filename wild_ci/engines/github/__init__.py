"""GitHub Actions: the REST client, remote runs, pull-request comments and the inbox."""
