"""Bring the whole graph up from one parameter YAML: `dit4dit run --config config/g1_sim.yaml`."""
