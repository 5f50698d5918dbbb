"""The only modules that talk to AWS: scan, snapshot store, publishers."""
