"""Trainer workflow: NLU inbox, annotation into the YAML training data, checks, models.

``python -m bot.trainer --help`` lists the commands.
"""
