"""The engines that run an iteration's workflow: GitHub Actions (`github/`) and act on this machine
(`act/`). Everything that depends on how a CI service behaves lives under here; `base.py` is the
interface both implement. Keep this file free of imports: every leg loads `github/runner.py`."""
