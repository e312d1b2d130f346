"""act on this machine: local runs in host mode, the stand-in actions, progress from act's log."""
