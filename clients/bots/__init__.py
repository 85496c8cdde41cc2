"""Example bots on the SDK (``crossbook bot``): a market maker, a taker, a random-flow
stress bot, and what they share (``base.Bot``)."""
