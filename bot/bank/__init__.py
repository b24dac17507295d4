"""The sandbox bank: an aiohttp service with accounts, branch queues and products.

Start it with ``python -m bot.bank``; build it in code with :func:`bot.bank.app.create_app`.
"""
