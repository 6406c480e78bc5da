"""The sandbox: scenarios and a simulated company that Revline plays through its real code path."""
