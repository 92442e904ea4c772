"""The agent: launcher, bootstrap, configuration, exporters, metrics and the plugin registry."""
