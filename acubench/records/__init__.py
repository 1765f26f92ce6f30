"""Result records and the evidence behind them.

The record contract, per-clip predictions, metrics, subject-bootstrap intervals and paired tests:
what the leaderboard reads, and all it reads.
"""
