"""GitHub Actions: the workflow, the runner environment, the REST client, remote runs, pull-request
comments and the inbox. No imports here: a leg loads `runner.py` without PyGithub."""
