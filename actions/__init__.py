"""Custom actions of bankbot, one module per topic; rasa_sdk imports every submodule."""
