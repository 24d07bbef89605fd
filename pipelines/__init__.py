"""Building and running Winnow pipelines: config, sources, sinks, runners and the CLI."""
