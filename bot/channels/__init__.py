"""Channel adapters: WeChat Official Account, WeCom and web chat."""
