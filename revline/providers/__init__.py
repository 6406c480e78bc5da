"""Provider adapters (one folder each) and the handler registry the executor calls."""
