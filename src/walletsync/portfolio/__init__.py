"""Portfolio views computed from the indexed facts: balances, valuation, leaderboards."""
