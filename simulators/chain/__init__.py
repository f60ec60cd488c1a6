"""The real chain (broker, hub, ingest workers, simulated terminals, edge agents, mock e-Kinerja) as
processes a script or test can start, break and count: see ``harness.py``."""

from simulators.chain.harness import Chain, ChainSpec, Tally, last_week_start
from simulators.chain.proxy import TcpProxy

__all__ = ["Chain", "ChainSpec", "Tally", "TcpProxy", "last_week_start"]
