"""Typed async clients for the bank's account, branch-queue, product and support services."""
