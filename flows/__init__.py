"""Wiring: Prefect flows, settings, deployments and the ``aied`` command line.

This is the only package that imports Prefect or reads the environment; everything below
it receives plain arguments.
"""
