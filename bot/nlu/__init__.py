"""Custom Rasa NLU components for Chinese banking messages."""
