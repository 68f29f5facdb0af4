"""What an operator reads: Prometheus metrics (``metrics``) and the logs (``logs``).

Both are per application where they hold state (each ``create_app`` has its own metrics
registry), and process-wide only where Python's logging is (one ``configure_logging``).
"""
