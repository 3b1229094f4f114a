"""Shared test setup. The provider_sim* fixtures come from the package's own pytest plugin (pytest11)."""
