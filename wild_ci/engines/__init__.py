"""The engines that run an iteration's workflow: GitHub Actions (`github/`) and act on this machine
(`act/`). Everything that depends on how a CI service behaves lives under here."""
