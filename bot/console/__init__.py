"""Staff console and the public web chat page (aiohttp, Jinja2)."""
