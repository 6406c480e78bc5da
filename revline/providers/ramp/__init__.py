"""Ramp: cards and spend. ``client.RampAdapter`` speaks the developer API v1; ``actions``
registers the ``ramp.*`` action kinds; ``webhooks`` signs and verifies deliveries; ``sim`` is
the simulator the sandbox and the tests run against."""
