"""Tracked wallets: address validation per chain and the wallet registry queries."""
